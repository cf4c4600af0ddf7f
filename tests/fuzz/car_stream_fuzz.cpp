// core/source CarStreamReader (gateway responses): fed in two chunks, split where the first
// byte says, as a network read would split it.
#include "core/source/car_stream.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteView in = fuzz::Input(data + 1, size - 1);
  size_t cut = std::min<size_t>(data[0] * 7, in.size());
  CarStreamReader r([](const Cid&, ByteView) { return Status::Ok(); });
  Status st = r.Feed(in.first(cut));
  if (st.ok()) st = r.Feed(in.subspan(cut));
  if (st.ok()) (void)r.Finish();
  return 0;
}
