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
  // Encoding arbitrary bytes in every base and back (inputs stay small under libFuzzer's -max_len).
  for (Multibase m : {Multibase::kBase58Btc, Multibase::kBase36, Multibase::kBase32, Multibase::kBase16,
                      Multibase::kBase64Url}) {
    auto rt = DecodeBase(m, EncodeBase(m, fuzz::Input(data, size)));
    if (!rt.ok() || *rt != Bytes(data, data + size)) abort();
  }
  return 0;
}
