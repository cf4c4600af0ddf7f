#include "accel/backends.h"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "accel/cuda/plugin_abi.h"

namespace ipfskit::accel {
namespace {

constexpr const char* kPluginFile = "ipfskit-cuda.so";

struct PluginLookup {
  const CudaPluginV1* plugin = nullptr;  // null: *why says why
  // The user named the plugin or installed it: CUDA was to be expected, a failure is worth a
  // notice. Not for the build tree's plugin, so test and dev runs without a GPU stay quiet.
  bool expected = false;
  std::string why;
};

std::string ExecutableDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

// Not cached: the environment may change between calls (tests do), and dlopen of a file that is
// already loaded only takes a reference.
PluginLookup LoadCudaPlugin() {
  PluginLookup r;
  std::string path;
  const char* env = std::getenv("IPFSKIT_CUDA_PLUGIN");
  if (env && *env) {
    path = env;
    r.expected = true;
  } else {
    std::vector<std::pair<std::string, bool>> candidates;  // path, expected
    if (std::string dir = ExecutableDir(); !dir.empty())
      candidates.emplace_back(dir + "/../lib/ipfskit/" + kPluginFile, true);
#ifdef IPFSKIT_CUDA_PLUGIN_BUILD_PATH
    candidates.emplace_back(IPFSKIT_CUDA_PLUGIN_BUILD_PATH, false);
#endif
    for (auto& [c, expected] : candidates) {
      if (::access(c.c_str(), F_OK) == 0) {
        path = c;
        r.expected = expected;
        break;
      }
    }
    if (path.empty()) {
      r.why = std::string("no CUDA plugin installed (") + kPluginFile + ", package ipfskit-cuda)";
      return r;
    }
  }
  // RTLD_LOCAL: the plugin's CUDA symbols stay out of the global namespace. No dlclose anywhere:
  // backends made by the plugin run its code, and CUDA's own teardown at dlclose is not to be
  // trusted; a refused file stays mapped, which costs only address space.
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    // dlerror names the plugin for its own faults but not for a missing dependency
    // (libcudart.so.13); say the path once either way.
    const char* e = ::dlerror();
    std::string msg = e ? e : "unknown dlopen error";
    if (msg.rfind(path + ": ", 0) == 0) msg.erase(0, path.size() + 2);
    r.why = "cannot load " + path + ": " + msg;
    return r;
  }
  auto entry = reinterpret_cast<CudaPluginEntryV1>(::dlsym(h, IPFSKIT_CUDA_PLUGIN_ENTRY));
  if (!entry) {
    r.why = path + " is not an ipfskit CUDA plugin (no " IPFSKIT_CUDA_PLUGIN_ENTRY ")";
    return r;
  }
  const CudaPluginV1* p = entry();
  if (!p || p->struct_size != sizeof(CudaPluginV1) || !p->build_tag ||
      std::strcmp(p->build_tag, IPFSKIT_CUDA_PLUGIN_BUILD_TAG) != 0) {
    r.why = path + " was built for " + (p && p->build_tag ? p->build_tag : "another ABI") +
            ", this is " IPFSKIT_CUDA_PLUGIN_BUILD_TAG;
    return r;
  }
  r.plugin = p;
  return r;
}

}  // namespace

bool CudaAvailable(std::string* why) {
  PluginLookup l = LoadCudaPlugin();
  if (!l.plugin) {
    if (why) *why = l.why;
    return false;
  }
  return l.plugin->available(why);
}

Result<std::shared_ptr<infer::Backend>> MakeCudaBackend(const CudaOptions& opts) {
  PluginLookup l = LoadCudaPlugin();
  if (!l.plugin) return MakeError(Errc::kUnsupported, l.why);
  return l.plugin->make_backend(opts);
}

std::shared_ptr<infer::Backend> MakeDefaultBackend(std::string* why_not_cuda) {
  const char* env = std::getenv("IPFSKIT_INFER_BACKEND");
  std::string want = env ? env : "";
  if (want == "cpu") {
    if (why_not_cuda) *why_not_cuda = "IPFSKIT_INFER_BACKEND=cpu";
    return MakeCpuBackend();
  }
  PluginLookup l = LoadCudaPlugin();
  std::string why = l.why;
  if (l.plugin) {
    auto cuda = l.plugin->make_backend({});  // checks for a GPU itself
    if (cuda.ok()) return *cuda;
    why = cuda.error().message;
  }
  if (why_not_cuda) *why_not_cuda = why;
  static std::atomic<bool> noticed{false};
  if ((l.expected || want == "cuda") && !noticed.exchange(true))
    std::fprintf(stderr, "ipfskit: CUDA backend not used (%s); using CPU\n", why.c_str());
  return MakeCpuBackend();
}

}  // namespace ipfskit::accel
