// Multibase text: decode; what decodes must encode and decode back to the same bytes.
#include <cstdlib>

#include "core/multiformats/multibase.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Multibase base;
  auto b = MultibaseDecode(fuzz::Text(data, size), &base);
  if (b.ok()) {
    auto again = MultibaseDecode(MultibaseEncode(base, *b));
    if (!again.ok() || *again != *b) abort();
  }
  // Encoding arbitrary bytes in every base and back. Radix text over kMaxRadixTextSize is
  // refused on decode by design, so the round trip holds for bytes whose text fits (8 KiB do).
  for (Multibase m : {Multibase::kBase58Btc, Multibase::kBase36, Multibase::kBase32, Multibase::kBase16,
                      Multibase::kBase64Url}) {
    if (size > 8192 && (m == Multibase::kBase58Btc || m == Multibase::kBase36)) continue;
    auto rt = DecodeBase(m, EncodeBase(m, fuzz::Input(data, size)));
    if (!rt.ok() || *rt != Bytes(data, data + size)) abort();
  }
  return 0;
}
