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

// CUDA lives in a plugin, ipfskit-cuda.so (package ipfskit-cuda), that is dlopened on demand, so
// the ipfskit binary itself links no CUDA library and runs where there is no CUDA runtime.
// The plugin is looked for in this order, first file that exists wins:
//   1. $IPFSKIT_CUDA_PLUGIN when set and not empty: that exact file, nothing else is tried;
//   2. <directory of the executable>/../lib/ipfskit/ipfskit-cuda.so (the installed package);
//   3. the plugin in the build tree this binary was built in (builds with CUDA only; for tests
//      and benchmarks run from the build directory).
// A plugin built from another ipfskit version or by another compiler is refused (C++ types cross
// the boundary, see accel/cuda/plugin_abi.h). A loaded plugin is never unloaded.
// All of these are thread-safe.
struct CudaOptions {
  int device = 0;
  bool allow_tf32 = true;  // TF32 tensor-core GEMMs; false keeps full FP32
};
// True when the plugin loads and a usable GPU is present; otherwise *why says why not (plugin
// missing, dlopen's error such as a missing libcudart, no GPU or driver).
bool CudaAvailable(std::string* why = nullptr);
Result<std::shared_ptr<infer::Backend>> MakeCudaBackend(const CudaOptions& opts = {});

// CUDA when the plugin loads and a GPU is usable, else CPU; IPFSKIT_INFER_BACKEND=cpu skips CUDA
// (the plugin is then not even loaded). When the result is CPU, *why_not_cuda says why.
// When CUDA was wanted but could not be used, one line goes to stderr, once per process:
//   ipfskit: CUDA backend not used (<reason>); using CPU
// but only when the user has a reason to expect CUDA: the plugin is installed (place 2 above),
// $IPFSKIT_CUDA_PLUGIN names a file, or IPFSKIT_INFER_BACKEND=cuda. Without an installed plugin
// and without asking, CPU is the expected backend and nothing is printed on every command; the
// build tree's plugin (place 3) counts as not installed, so dev and test runs on a machine
// without a GPU stay quiet too (their output is often compared byte for byte).
std::shared_ptr<infer::Backend> MakeDefaultBackend(std::string* why_not_cuda = nullptr);

}  // namespace ipfskit::accel
