// Multihashes: parse, and verify against the rest of the input.
#include "core/multiformats/multihash.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in = fuzz::Input(data, size);
  ByteView p = in;
  auto mh = ReadMultihash(p);
  if (mh.ok()) (void)MultihashVerify(in.first(in.size() - p.size()), p);
  return 0;
}
