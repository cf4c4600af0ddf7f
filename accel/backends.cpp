#include "accel/backends.h"

#include <cstdlib>

namespace ipfskit::accel {

#ifndef IPFSKIT_HAVE_CUDA
bool CudaAvailable(std::string* why) {
  if (why) *why = "this build has no CUDA backend (IPFSKIT_CUDA=OFF or no CUDA toolkit)";
  return false;
}
Result<std::shared_ptr<infer::Backend>> MakeCudaBackend(const CudaOptions&) {
  return MakeError(Errc::kUnsupported, "this build has no CUDA backend");
}
#endif

std::shared_ptr<infer::Backend> MakeDefaultBackend() {
  const char* env = std::getenv("IPFSKIT_INFER_BACKEND");
  std::string want = env ? env : "";
  if (want != "cpu" && CudaAvailable()) {
    auto cuda = MakeCudaBackend();
    if (cuda.ok()) return *cuda;
  }
  return MakeCpuBackend();
}

}  // namespace ipfskit::accel
