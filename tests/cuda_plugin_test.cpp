// The CUDA backend as a run-time plugin: the ipfskit binary links no CUDA library, and every way
// the plugin can be missing or unusable ends in a working CPU backend with the reason said.
// Runs on every machine; with a GPU the real plugin is also expected to give a "cuda" backend.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "accel/backends.h"
#include "tests/support/paths.h"

namespace ipfskit::accel {
namespace {

// gmock's HasSubstr without linking gmock.
#define EXPECT_CONTAINS(s, sub) EXPECT_NE(std::string(s).find(sub), std::string::npos) << (s)
#define EXPECT_LACKS(s, sub) EXPECT_EQ(std::string(s).find(sub), std::string::npos) << (s)

// Unknown or CUDA-free environment for each test; a test sets what it needs.
class CudaPluginTest : public ::testing::Test {
 protected:
  void SetUp() override { Clear(); }
  void TearDown() override { Clear(); }
  static void Clear() {
    ::unsetenv("IPFSKIT_CUDA_PLUGIN");
    ::unsetenv("IPFSKIT_INFER_BACKEND");
  }
  static void UsePlugin(const std::string& path) { ::setenv("IPFSKIT_CUDA_PLUGIN", path.c_str(), 1); }
};

// y = x·Wᵀ + b on a 2×2 example, so "a CPU backend" means one that computes.
void ExpectComputes(infer::Backend& b) {
  infer::LinearWeights w{{1, 2, 3, 4}, {10, 20}, 2, 2};
  auto op = b.PrepareLinear(w);
  ASSERT_TRUE(op.ok()) << op.error().message;
  const float x[2] = {1, 1};
  auto xb = b.Alloc(sizeof x).value();
  auto yb = b.Alloc(sizeof x).value();
  b.Upload(xb->data(), x, sizeof x);
  b.Linear(**op, xb->as<float>(), 1, yb->as<float>(), infer::Activation::kNone);
  float y[2] = {0, 0};
  Status st = b.Download(y, yb->data(), sizeof y);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_FLOAT_EQ(y[0], 13.f);
  EXPECT_FLOAT_EQ(y[1], 27.f);
}

// MakeDefaultBackend must give CPU, and both it and CudaAvailable must say `reason`.
void ExpectCpuBecause(const std::string& reason) {
  std::string why;
  EXPECT_FALSE(CudaAvailable(&why));
  EXPECT_CONTAINS(why, reason);
  auto cuda = MakeCudaBackend();
  ASSERT_FALSE(cuda.ok());
  EXPECT_CONTAINS(cuda.error().message, reason);
  why.clear();
  auto b = MakeDefaultBackend(&why);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->name().rfind("cpu", 0), 0u) << b->name();
  EXPECT_CONTAINS(why, reason);
  ExpectComputes(*b);
}

std::string Ldd(const std::string& file) {
  std::string out;
  EXPECT_EQ(ipfskit::testing::RunCommand("ldd '" + file + "' 2>&1", &out), 0) << out;
  return out;
}

TEST_F(CudaPluginTest, BinaryAndTestsLinkNoCudaLibrary) {
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const std::string& exe : {ipfskit::testing::CliBinary(), self}) {
    std::string out = Ldd(exe);
    EXPECT_CONTAINS(out, "libc.so");  // ldd did list the libraries
    EXPECT_LACKS(out, "libcudart") << exe << "\n" << out;
    EXPECT_LACKS(out, "libcublas") << exe << "\n" << out;
    EXPECT_LACKS(out, "libcuda") << exe << "\n" << out;
  }
}

TEST_F(CudaPluginTest, MissingFileFallsBackToCpu) {
  UsePlugin("/nonexistent/ipfskit-cuda.so");
  ExpectCpuBecause("cannot load /nonexistent/ipfskit-cuda.so");
  std::string why;
  CudaAvailable(&why);
  EXPECT_CONTAINS(why, "No such file");
}

TEST_F(CudaPluginTest, TextFileFallsBackToCpu) {
  std::string dir = ipfskit::testing::MakeTempDir("cuda_plugin");
  std::string path = dir + "/ipfskit-cuda.so";
  std::ofstream(path) << "not a shared object\n";
  UsePlugin(path);
  ExpectCpuBecause("cannot load " + path);
  std::filesystem::remove_all(dir);
}

TEST_F(CudaPluginTest, SharedObjectWithoutEntryPointFallsBackToCpu) {
  Dl_info info{};
  ASSERT_NE(::dladdr(reinterpret_cast<void*>(&std::fopen), &info), 0);
  ASSERT_TRUE(info.dli_fname && *info.dli_fname);  // libc: a real shared object, not ours
  UsePlugin(info.dli_fname);
  ExpectCpuBecause("is not an ipfskit CUDA plugin (no ipfskit_cuda_plugin_v1)");
}

TEST_F(CudaPluginTest, PluginFromAnotherBuildIsRefused) {
  UsePlugin(FAKE_CUDA_PLUGIN_OLD_ABI);
  ExpectCpuBecause("was built for ipfskit 0.0.0-old");
}

// As on a machine with the plugin package but no CUDA runtime: dlopen's error is the reason.
TEST_F(CudaPluginTest, PluginWithMissingRuntimeFallsBackToCpu) {
  UsePlugin(FAKE_CUDA_PLUGIN_MISSING_DEP);
  ExpectCpuBecause(std::string("cannot load ") + FAKE_CUDA_PLUGIN_MISSING_DEP +
                   ": libipfskit_fake_cudart.so: cannot open shared object file");
}

TEST_F(CudaPluginTest, PluginWithoutGpuFallsBackToCpu) {
  UsePlugin(FAKE_CUDA_PLUGIN_CURRENT);
  ExpectCpuBecause("fake: no GPU");
}

// Runs MakeDefaultBackend three times in a child process (the notice is once per process) and
// writes what it printed on stderr back to stderr; exits 0 when it printed `lines` notices.
void CountNotices(int lines) {
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 3; i++) (void)MakeDefaultBackend();
  std::string err = ::testing::internal::GetCapturedStderr();
  std::fputs(err.c_str(), stderr);
  int n = 0;
  for (size_t p = 0; (p = err.find("ipfskit: CUDA backend not used", p)) != std::string::npos; p++)
    n++;
  std::exit(n == lines && (lines > 0 || err.empty()) ? 0 : 3);
}

TEST_F(CudaPluginTest, UnusablePluginPrintsOneNoticePerProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  UsePlugin(FAKE_CUDA_PLUGIN_CURRENT);
  EXPECT_EXIT(CountNotices(1), ::testing::ExitedWithCode(0),
              "^ipfskit: CUDA backend not used \\(fake: no GPU\\); using CPU\n$");
}

TEST_F(CudaPluginTest, ChoosingCpuIsSilentAndSkipsThePlugin) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  UsePlugin("/nonexistent/ipfskit-cuda.so");
  ::setenv("IPFSKIT_INFER_BACKEND", "cpu", 1);
  std::string why;
  auto b = MakeDefaultBackend(&why);
  EXPECT_EQ(b->name().rfind("cpu", 0), 0u);
  EXPECT_EQ(why, "IPFSKIT_INFER_BACKEND=cpu");
  EXPECT_EXIT(CountNotices(0), ::testing::ExitedWithCode(0), "^$");
}

TEST_F(CudaPluginTest, AskingForCudaWithoutPluginPrintsNotice) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  UsePlugin("/nonexistent/ipfskit-cuda.so");
  ::setenv("IPFSKIT_INFER_BACKEND", "cuda", 1);
  EXPECT_EXIT(CountNotices(1), ::testing::ExitedWithCode(0),
              "^ipfskit: CUDA backend not used \\(cannot load /nonexistent/ipfskit-cuda.so: .*\\); "
              "using CPU\n$");
}

// Without a plugin installed beside the executable and without asking, the default says nothing:
// CPU is what the user expects. The build tree's plugin (if built) counts as not installed; with
// a GPU it gives CUDA, also silently.
TEST_F(CudaPluginTest, NoPluginInstalledIsSilent) {
  auto beside = std::filesystem::read_symlink("/proc/self/exe").parent_path() /
                "../lib/ipfskit/ipfskit-cuda.so";
  if (std::filesystem::exists(beside)) GTEST_SKIP() << "a plugin is installed at " << beside;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::string why;
  auto b = MakeDefaultBackend(&why);
  if (b->name() != "cuda") {
    EXPECT_EQ(b->name().rfind("cpu", 0), 0u);
#ifndef IPFSKIT_CUDA_PLUGIN_FILE
    EXPECT_CONTAINS(why, "no CUDA plugin installed");
#endif
  }
  EXPECT_EXIT(CountNotices(0), ::testing::ExitedWithCode(0), "^$");
}

#ifdef IPFSKIT_CUDA_PLUGIN_FILE
// The real plugin: exports only its entry point, and either gives a "cuda" backend (GPU present)
// or is refused cleanly with the runtime's reason (no GPU, no driver, no libcudart).
TEST_F(CudaPluginTest, RealPluginExportsOnlyTheEntryPoint) {
  std::string out;
  if (ipfskit::testing::RunCommand("command -v nm >/dev/null") != 0) GTEST_SKIP() << "no nm";
  // Strong global symbols: only the entry point. (Weak typeinfo of std:: templates is exported
  // by every C++ shared object and harmless.) Nothing of ipfskit's own C++ is visible either.
  ASSERT_EQ(ipfskit::testing::RunCommand("nm -D --defined-only '" IPFSKIT_CUDA_PLUGIN_FILE
                                         "' | awk '$2 ~ /^[TDBR]$/ {print $3}'",
                                         &out),
            0);
  EXPECT_EQ(out, "ipfskit_cuda_plugin_v1\n");
  out.clear();
  ASSERT_EQ(ipfskit::testing::RunCommand(
                "nm -DC --defined-only '" IPFSKIT_CUDA_PLUGIN_FILE "' | grep -c ipfskit", &out),
            0);
  EXPECT_EQ(out, "1\n");
  std::string deps = Ldd(IPFSKIT_CUDA_PLUGIN_FILE);
  EXPECT_CONTAINS(deps, "libcudart");
  EXPECT_LACKS(deps, "ipfskit");
}

TEST_F(CudaPluginTest, RealPluginLoadsOrIsRefusedCleanly) {
  UsePlugin(IPFSKIT_CUDA_PLUGIN_FILE);
  std::string why;
  if (CudaAvailable(&why)) {
    auto b = MakeCudaBackend();
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ((*b)->name(), "cuda");
    ExpectComputes(**b);
    EXPECT_EQ(MakeDefaultBackend()->name(), "cuda");
  } else {
    std::printf("CUDA plugin loaded, no GPU: %s\n", why.c_str());
    EXPECT_FALSE(why.empty());
    ExpectCpuBecause(why);
  }
}

// Without $IPFSKIT_CUDA_PLUGIN the build tree's plugin is found (infer_cuda_test relies on it).
TEST_F(CudaPluginTest, BuildTreePluginIsFoundByDefault) {
  std::string why;
  if (CudaAvailable(&why)) return;
  EXPECT_LACKS(why, "no CUDA plugin installed");
  EXPECT_LACKS(why, "cannot load");
}
#endif

}  // namespace
}  // namespace ipfskit::accel
