// Fault loop (issue 10): kill -9 the mount daemon at random moments during mixed /mfs writes,
// 50 rounds. After each round: a `repo gc` (which reclaims the dead daemon's lease), a remount,
// every byte that an fsync returned for is intact, and the whole tree reads without an error.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fsys = std::filesystem;

class MfsKillTest : public MountFixture {
 protected:
  // The daemon serving mnt_ (the mount command's parent exits once the mount is up).
  pid_t DaemonPid() {
    std::string out;
    // Anchored at the binary, so the shell running pgrep (whose command line holds the same
    // words) does not match.
    if (Sh("pgrep -f -- '^" + CliBinary() + " .*mount " + mnt_ + "'", &out) != 0) return -1;
    return static_cast<pid_t>(std::stol(out));
  }
  void Abort() {
    Sh("umount -l '" + mnt_ + "' 2>/dev/null || fusermount3 -u -z '" + mnt_ + "'");
  }
};

std::string Content(std::mt19937& rng, size_t max) {
  std::string s(rng() % max + 1, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

bool WriteFile(const std::string& path, const std::string& data, bool sync) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  if (ok && sync) ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  return ok;
}

// Reads every file under dir; returns the number of errors.
int ReadTree(const std::string& dir, int* files) {
  int errors = 0;
  std::error_code ec;
  for (auto it = fsys::recursive_directory_iterator(dir, ec); !ec && it != fsys::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    ++*files;
    int fd = ::open(it->path().c_str(), O_RDONLY);
    if (fd < 0) {
      ++errors;
      continue;
    }
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    }
    if (n < 0) ++errors;
    ::close(fd);
  }
  return errors + (ec ? 1 : 0);
}

TEST_F(MfsKillTest, KillNineDuringMixedWritesLosesNoFsyncedByte) {
  const char* env_rounds = getenv("IPFSKIT_KILL_ROUNDS");  // to try a few rounds by hand
  const int kRounds = env_rounds ? std::max(1, atoi(env_rounds)) : 50;
  std::map<std::string, std::string> durable;  // path under /mfs -> content fsync'd there
  std::mt19937 rng(1234);
  for (int round = 0; round < kRounds; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    };
    Mount("offline");
    std::printf("round %d: mounted %lld ms\n", round, static_cast<long long>(ms()));
    const std::string mfs = mnt_ + "/mfs";
    const std::string dir = "/r" + std::to_string(round);
    ASSERT_EQ(::mkdir((mfs + dir).c_str(), 0755), 0) << std::strerror(errno);
    std::mutex mu;
    std::map<std::string, std::string> synced;
    std::atomic<bool> stop{false};
    auto writer = [&](int w) {
      std::mt19937 r(round * 100 + w);
      for (int i = 0; !stop; ++i) {
        std::string name = dir + "/w" + std::to_string(w) + "_" + std::to_string(i);
        std::string data = Content(r, r() % 4 ? 2000 : 300000);
        switch (r() % 4) {
          case 0: {  // fsync'd: must survive
            if (WriteFile(mfs + name, data, true)) {
              std::lock_guard lock(mu);
              synced[name] = data;
            }
            break;
          }
          case 1:  // written, renamed, not synced
            if (WriteFile(mfs + name, data, false)) (void)::rename((mfs + name).c_str(), (mfs + name + ".mv").c_str());
            break;
          case 2:  // written and removed
            if (WriteFile(mfs + name, data, false)) (void)::unlink((mfs + name).c_str());
            break;
          default:
            (void)::mkdir((mfs + name + ".d").c_str(), 0755);
        }
      }
    };
    std::vector<std::thread> ws;
    for (int w = 0; w < 3; ++w) ws.emplace_back(writer, w);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 700));
    pid_t pid = DaemonPid();
    ASSERT_GT(pid, 0) << "no daemon found for " << mnt_;
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    stop = true;
    for (auto& t : ws) t.join();  // their calls fail with ENOTCONN once the daemon is gone
    std::printf("round %d: killed, writers stopped %lld ms\n", round, static_cast<long long>(ms()));
    for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Abort();
    ASSERT_FALSE(Mounted());
    durable.insert(synced.begin(), synced.end());

    std::string gc;
    ASSERT_EQ(Sh(Cli("repo gc"), &gc), 0) << "round " << round << ": " << gc;
    std::printf("round %d: gc %lld ms\n", round, static_cast<long long>(ms()));
    Mount("offline");
    for (const auto& [path, data] : durable) {
      ASSERT_TRUE(fsys::exists(mfs + path)) << "round " << round << ": " << path << " lost";
      std::string got = ReadFile(mfs + path);
      ASSERT_EQ(got.size(), data.size()) << "round " << round << ": " << path;
      ASSERT_TRUE(got == data) << "round " << round << ": " << path << " has other bytes";
    }
    int files = 0;
    EXPECT_EQ(ReadTree(mfs, &files), 0) << "round " << round << ": the tree does not read back whole";
    EXPECT_GE(files, static_cast<int>(durable.size()));
    Unmount();
    std::printf("round %d: checked %zu files, %lld ms\n", round, durable.size(), static_cast<long long>(ms()));
  }
  EXPECT_GT(durable.size(), static_cast<size_t>(kRounds)) << "too few fsyncs completed to prove anything";
  // No lease outlives its daemon: the last gc reclaimed them all, the clean unmounts left none.
  ShOk(Cli("repo gc"));
  EXPECT_TRUE(!fsys::exists(repo_ + "/leases") || fsys::is_empty(repo_ + "/leases"));
}

}  // namespace
}  // namespace ipfskit::testing
