// The one entry point between the ipfskit binary and the CUDA backend plugin (ipfskit-cuda.so).
// The plugin is a separate shared object so that ipfskit itself never links libcudart/libcublas
// and runs on machines without the CUDA runtime; accel/backends.cpp dlopens it on demand.
//
// Contract: the plugin exports exactly one symbol, extern "C" ipfskit_cuda_plugin_v1, returning a
// pointer to a static CudaPluginV1 that lives until the plugin is unloaded (it never is: backends
// it made run its code). C++ types (std::string, std::shared_ptr, Result, the infer::Backend
// vtable) cross the boundary, so the host accepts the plugin only when build_tag matches its own:
// same ipfskit version, same compiler. The plugin links nothing from ipfskit_core (only header
// inline code), so it holds no copy of any core global state.
// A new layout of CudaPluginV1 gets a new symbol name (_v2), never a change in place.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "accel/backends.h"

#define IPFSKIT_CUDA_PLUGIN_ENTRY "ipfskit_cuda_plugin_v1"
#define IPFSKIT_CUDA_PLUGIN_BUILD_TAG "ipfskit " IPFSKIT_VERSION ", g++ " __VERSION__

namespace ipfskit::accel {

struct CudaPluginV1 {
  uint32_t struct_size;   // sizeof(CudaPluginV1) as the plugin saw it
  const char* build_tag;  // IPFSKIT_CUDA_PLUGIN_BUILD_TAG of the plugin's build
  // Same meaning as accel::CudaAvailable / MakeCudaBackend. Thread-safe; never throw.
  bool (*available)(std::string* why);
  Result<std::shared_ptr<infer::Backend>> (*make_backend)(const CudaOptions& opts);
};

using CudaPluginEntryV1 = const CudaPluginV1* (*)();

}  // namespace ipfskit::accel
