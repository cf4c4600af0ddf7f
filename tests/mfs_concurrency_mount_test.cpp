// Several processes appending to and renaming in the same /mfs directory, while other processes
// run `repo gc` and read the tree with `ipfskit files` (issue 10): no line is lost or torn, every
// rename is atomic, and the result survives a remount.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fsys = std::filesystem;

constexpr int kProcs = 4, kRounds = 600;

// One child: appends "p<k> <i>" lines to the shared log (O_APPEND) and replaces final.<k> by
// renaming a fresh temporary file over it. Exit status 0 only if every call succeeded.
[[noreturn]] void Child(const std::string& dir, int k) {
  const std::string log = dir + "/shared.log";
  for (int i = 0; i < kRounds; ++i) {
    std::string line = "p" + std::to_string(k) + " " + std::to_string(i) + "\n";
    int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::close(fd) != 0)
      ::_exit(10);
    std::string tmp = dir + "/tmp." + std::to_string(k) + "." + std::to_string(i);
    std::string body = "final " + std::to_string(k) + " round " + std::to_string(i) + "\n";
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || ::write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size()) || ::close(fd) != 0)
      ::_exit(11);
    if (::rename(tmp.c_str(), (dir + "/final." + std::to_string(k)).c_str()) != 0) ::_exit(12);
  }
  ::_exit(0);
}

class MfsConcurrencyMountTest : public MountFixture {};

TEST_F(MfsConcurrencyMountTest, AppendersAndRenamersInOneDirectoryWithGcAndCli) {
  Mount("offline");
  const std::string dir = mnt_ + "/mfs/shared";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << std::strerror(errno);
  std::atomic<bool> stop{false};
  std::atomic<int> side_runs{0};
  std::string side_errors;  // written by the side thread only until join
  std::thread side([&] {
    while (!stop) {
      std::string out;
      // The root always exists; /shared may not be committed yet.
      for (const std::string& cmd : {Cli("repo gc"), Cli("files ls /")})
        if (Sh(cmd + " >/dev/null", &out) != 0) side_errors += cmd + ": " + out + "\n";
      ++side_runs;
    }
  });
  std::vector<pid_t> kids;
  for (int k = 0; k < kProcs; ++k) {
    pid_t p = ::fork();
    ASSERT_GE(p, 0);
    if (p == 0) Child(dir, k);
    kids.push_back(p);
  }
  for (pid_t p : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(p, &status, 0), p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed with status " << status;
  }
  stop = true;
  side.join();
  EXPECT_EQ(side_errors, "");
  EXPECT_GT(side_runs.load(), 0);

  auto check = [&](const std::string& when) {
    // Every line whole, each process's lines in order, none missing.
    std::istringstream in(ReadFile(dir + "/shared.log"));
    std::map<int, int> next;
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      ++lines;
      int k = -1, i = -1;
      ASSERT_EQ(std::sscanf(line.c_str(), "p%d %d", &k, &i), 2) << when << ": torn line '" << line << "'";
      EXPECT_EQ(i, next[k]++) << when << ": process " << k << " out of order";
    }
    EXPECT_EQ(lines, kProcs * kRounds) << when;
    for (int k = 0; k < kProcs; ++k)
      EXPECT_EQ(ReadFile(dir + "/final." + std::to_string(k)),
                "final " + std::to_string(k) + " round " + std::to_string(kRounds - 1) + "\n")
          << when;
    int tmp = 0;
    for (const auto& e : fsys::directory_iterator(dir))
      if (e.path().filename().string().rfind("tmp.", 0) == 0) ++tmp;
    EXPECT_EQ(tmp, 0) << when << ": a renamed file is still under its old name";
  };
  check("mounted");
  Unmount();
  Mount("offline");
  check("after remount");
}

}  // namespace
}  // namespace ipfskit::testing
