// A stand-in for ipfskit-cuda.so that loads everywhere and links no CUDA: it exports the real
// entry point and reports "no GPU", so cuda_plugin_test can drive the "plugin installed but
// unusable" path on any machine. Built three times: FAKE_OLD_ABI=1 gives it another build tag,
// FAKE_MISSING_DEP=1 makes it need a library the loader cannot find (fake_cudart.cpp).
#include "accel/cuda/plugin_abi.h"

#if FAKE_MISSING_DEP
extern "C" int ipfskit_fake_cudart_version();
#endif

namespace {

using namespace ipfskit;

bool Available(std::string* why) {
#if FAKE_MISSING_DEP
  if (ipfskit_fake_cudart_version() != 13) return false;
#endif
  if (why) *why = "fake: no GPU";
  return false;
}

Result<std::shared_ptr<infer::Backend>> MakeBackend(const accel::CudaOptions&) {
  return MakeError(Errc::kUnsupported, "fake: no GPU");
}

#if FAKE_OLD_ABI
constexpr const char* kTag = "ipfskit 0.0.0-old, g++ 1.0";
#else
constexpr const char* kTag = IPFSKIT_CUDA_PLUGIN_BUILD_TAG;
#endif
constexpr accel::CudaPluginV1 kPlugin = {sizeof(accel::CudaPluginV1), kTag, &Available,
                                         &MakeBackend};

}  // namespace

extern "C" __attribute__((visibility("default"))) const ipfskit::accel::CudaPluginV1*
ipfskit_cuda_plugin_v1() {
  return &kPlugin;
}
