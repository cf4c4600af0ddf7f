// Unsigned varints: read a run of them; each must re-encode to the bytes it came from (we
// accept minimal encodings only).
#include <cstdlib>

#include "core/multiformats/varint.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in = fuzz::Input(data, size);
  while (!in.empty()) {
    ByteView before = in;
    auto v = ReadUvarint(in);
    if (!v.ok()) break;
    Bytes enc;
    PutUvarint(enc, *v);
    if (enc.size() != before.size() - in.size() || !std::equal(enc.begin(), enc.end(), before.begin()) ||
        UvarintSize(*v) != enc.size())
      abort();
  }
  return 0;
}
