// model.safetensors: parse the header and widen every tensor to float32.
#include "core/infer/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto st = infer::SafetensorsFile::Parse(Bytes(data, data + size));
  if (!st.ok()) return 0;
  for (const auto& t : st->tensors()) {
    (void)st->Find(t.name);
    (void)st->ToF32(t);
  }
  return 0;
}
