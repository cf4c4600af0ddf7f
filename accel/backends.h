// Backends for core/infer (see core/infer/backend.h for the vtable and its contract).
#pragma once

#include <memory>
#include <string>

#include "core/infer/backend.h"

namespace ipfskit::accel {

enum class CpuGemm { kAuto, kOpenBlas, kOneDnn };

struct CpuOptions {
  int threads = 0;  // 0: all cores the process may use
  CpuGemm gemm = CpuGemm::kAuto;  // kAuto: IPFSKIT_CPU_GEMM=openblas|onednn, else oneDNN
};

// Always available. Runs every operation inside its own tbb::task_arena of `threads` threads,
// so inference never takes the threads of the caller's (FUSE) pool.
std::shared_ptr<infer::Backend> MakeCpuBackend(const CpuOptions& opts = {});

// True when this build has the CUDA backend and a usable GPU is present; *why says why not.
bool CudaAvailable(std::string* why = nullptr);
struct CudaOptions {
  int device = 0;
  bool allow_tf32 = true;  // TF32 tensor-core GEMMs; false keeps full FP32
};
Result<std::shared_ptr<infer::Backend>> MakeCudaBackend(const CudaOptions& opts = {});

// CUDA when available (unless IPFSKIT_INFER_BACKEND=cpu), else CPU.
std::shared_ptr<infer::Backend> MakeDefaultBackend();

}  // namespace ipfskit::accel
