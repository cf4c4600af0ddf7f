// pjdfstest (the POSIX conformance suite, ../shared/third_party/pjdfstest) on /mfs of a real
// mount with -o mfs_store_mode,mfs_store_mtime,allow_other. Builds the suite into the build
// directory, runs every .t script from a directory in /mfs, counts the checks as prove does
// ("ok", and "not ok # TODO" which the suite marks as expected on Linux), lists the failures and
// fails below 95 %. A script that dies early counts its missing checks as failed.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fsys = std::filesystem;

constexpr double kRequired = 0.95;

std::string SuiteSource() {
  if (const char* env = getenv("IPFSKIT_PJDFSTEST")) return env;
  return SourceDir() + "/../shared/third_party/pjdfstest";
}

struct FileResult {
  std::string name;
  int planned = 0, passed = 0;
  std::vector<std::string> failures;
};

// Counts one script's TAP output.
FileResult CountTap(const std::string& name, const std::string& tap) {
  FileResult r{name, 0, 0, {}};
  static const std::regex plan(R"(^1\.\.(\d+))");
  std::istringstream in(tap);
  std::string line;
  int seen = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (r.planned == 0 && std::regex_search(line, m, plan)) r.planned = std::stoi(m[1]);
    if (line.rfind("ok ", 0) == 0) {
      ++r.passed, ++seen;
    } else if (line.rfind("not ok ", 0) == 0) {
      ++seen;
      if (line.find("# TODO") != std::string::npos) ++r.passed;
      else r.failures.push_back(line.substr(0, 300));
    }
  }
  r.planned = std::max(r.planned, seen);
  if (seen < r.planned)
    r.failures.push_back("(script stopped after " + std::to_string(seen) + " of " + std::to_string(r.planned) +
                         " checks)");
  return r;
}

class PjdfstestTest : public MountFixture {};

TEST_F(PjdfstestTest, MfsPassesNinetyFivePercent) {
  if (::geteuid() != 0) GTEST_SKIP() << "pjdfstest needs root (it changes uids and makes device nodes)";
  const std::string src = SuiteSource();
  if (!fsys::exists(src + "/pjdfstest.c")) GTEST_SKIP() << "no pjdfstest at " << src;
  if (Sh("command -v autoreconf && command -v make && command -v cc") != 0)
    GTEST_SKIP() << "needs autoconf, automake, make, cc (scripts/install-deps.sh)";

  // Built once per build directory, out of the (read-only) source tree.
  const std::string suite = fsys::absolute("pjdfstest").string();
  if (!fsys::exists(suite + "/pjdfstest")) {
    std::error_code ec;
    fsys::remove_all(suite, ec);
    ShOk("cp -r '" + src + "' '" + suite + "'");
    ShOk("cd '" + suite + "' && autoreconf -ifs >/dev/null 2>&1 && ./configure >/dev/null && make pjdfstest >/dev/null");
  }
  ASSERT_TRUE(fsys::exists(suite + "/pjdfstest"));

  ASSERT_EQ(::chmod(tmp_.c_str(), 0755), 0);  // the suite acts as other users too
  Mount("offline,mfs_store_mode,mfs_store_mtime,allow_other");
  const std::string work = mnt_ + "/mfs/pjdfstest";
  ASSERT_TRUE(fsys::create_directory(work));

  std::vector<std::string> scripts;
  for (const auto& e : fsys::recursive_directory_iterator(suite + "/tests"))
    if (e.path().extension() == ".t") scripts.push_back(e.path().string());
  std::sort(scripts.begin(), scripts.end());
  ASSERT_FALSE(scripts.empty());

  int planned = 0, passed = 0;
  std::vector<FileResult> results;
  std::ofstream log("pjdfstest-results.txt");
  for (const auto& s : scripts) {
    std::string name = fsys::relative(s, suite + "/tests").string();
    std::string tap;
    RunCommand("cd '" + work + "' && timeout 600 sh '" + s + "' 2>/dev/null", &tap);
    FileResult r = CountTap(name, tap);
    planned += r.planned;
    passed += r.passed;
    log << r.name << " " << r.passed << "/" << r.planned << "\n";
    for (const auto& f : r.failures) log << "  " << f << "\n";
    results.push_back(std::move(r));
  }

  std::ostringstream report;
  for (const auto& r : results) {
    if (r.failures.empty()) continue;
    report << r.name << ": " << r.passed << "/" << r.planned << "\n";
    for (const auto& f : r.failures) report << "    " << f << "\n";
  }
  std::printf("%s", report.str().c_str());
  std::printf("pjdfstest on /mfs: %d of %d checks passed (%.1f %%); details in %s\n", passed, planned,
              planned ? 100.0 * passed / planned : 0.0, fsys::absolute("pjdfstest-results.txt").c_str());
  EXPECT_GT(planned, 8000) << "the suite ran far fewer checks than it has";
  EXPECT_GE(passed, kRequired * planned) << "below 95 % of pjdfstest's checks";
  // What the suite left behind is removed through the mount like any other tree.
  Sh("rm -rf '" + work + "'");
}

}  // namespace
}  // namespace ipfskit::testing
