// core/car CarReader (dag import, CARv1 and v2): read every section to the end or an error.
#include "core/car/car.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = CarReader::Open(BytesSource(fuzz::Input(data, size)));
  if (!r.ok()) return 0;
  for (int i = 0; i < 100000; ++i) {
    auto b = (*r)->Next();
    if (!b.ok() || !*b) break;
  }
  return 0;
}
