// The mount's life as a daemon: startup errors reach the caller before it exits, the caller
// returns only once the mount answers, logging, systemd readiness, and the sshfs-style
// ownership options. Real FUSE mounts, driven through the CLI binary.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/support/mount_fixture.h"

extern char** environ;

namespace ipfskit::testing {
namespace {

namespace fs = std::filesystem;
constexpr long kFuseSuperMagic = 0x65735546;

// Single-quotes `s` for sh, whatever it contains (a ' becomes '\'').
std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The options field of `path`'s line in /proc/mounts, or nullopt when it is not mounted.
// /proc/mounts escapes space, tab, newline and backslash as octal; ' is kept as is.
std::optional<std::string> MountOptionsOf(const std::string& path) {
  std::ifstream f("/proc/mounts");
  std::string dev, mp, type, opts, rest;
  while (f >> dev >> mp >> type >> opts && std::getline(f, rest)) {
    std::string un;
    for (size_t i = 0; i < mp.size(); ++i) {
      if (mp[i] == '\\' && i + 3 < mp.size()) {
        un += static_cast<char>(std::stoi(mp.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        un += mp[i];
      }
    }
    if (un == path) return opts;
  }
  return std::nullopt;
}

class DaemonMount : public MountFixture {
 protected:
  void TearDown() override {
    for (const auto& mp : extra_mounts_)
      if (MountOptionsOf(mp)) ::umount2(mp.c_str(), MNT_DETACH);
    MountFixture::TearDown();
  }

  // `ipfskit mount` at `mp` with -o `options`: exit status, output in *out.
  int MountAt(const std::string& mp, const std::string& options, std::string* out) {
    extra_mounts_.push_back(mp);
    out->clear();  // Sh appends
    return Sh(Cli("mount " + Quote(mp) + (options.empty() ? "" : " -o " + Quote(options))), out);
  }

  std::vector<std::string> extra_mounts_;
};

// The output is exactly one line, an `Error: ...` one.
void ExpectOneErrorLine(const std::string& out) {
  EXPECT_EQ(out.rfind("Error: ", 0), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST_F(DaemonMount, BrokenConfigFailsBeforeTheCallerReturns) {
  std::ofstream(repo_ + "/config.json") << "{ \"net\": [ not json";
  std::string out;
  int rc = MountAt(mnt_, "", &out);
  EXPECT_NE(rc, 0) << out;
  ExpectOneErrorLine(out);
  EXPECT_NE(out.find("config"), std::string::npos) << out;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(MountOptionsOf(mnt_)) << "a failed start left a mount";
}

TEST_F(DaemonMount, BadMountpointOrOptionFails) {
  std::string out;
  EXPECT_NE(MountAt(tmp_ + "/missing", "", &out), 0);
  ExpectOneErrorLine(out);
  EXPECT_NE(out.find(tmp_ + "/missing"), std::string::npos) << out;
  std::ofstream(tmp_ + "/file") << "x";
  EXPECT_NE(MountAt(tmp_ + "/file", "", &out), 0);
  ExpectOneErrorLine(out);
  EXPECT_NE(MountAt(mnt_, "umask=999", &out), 0);
  ExpectOneErrorLine(out);
  EXPECT_NE(MountAt(mnt_, "log_level=loud", &out), 0);
  ExpectOneErrorLine(out);
  EXPECT_FALSE(MountOptionsOf(mnt_));
}

TEST_F(DaemonMount, CallerReturnsOnlyOnceTheMountAnswers) {
  struct stat before;
  ASSERT_EQ(::stat(mnt_.c_str(), &before), 0);
  std::string out;
  ASSERT_EQ(MountAt(mnt_, "", &out), 0) << out;
  EXPECT_EQ(out, "");
  // No polling: the caller has returned, so the mount must already be there and answer.
  ASSERT_TRUE(MountOptionsOf(mnt_));
  auto t0 = std::chrono::steady_clock::now();
  struct stat st;
  ASSERT_EQ(::stat(mnt_.c_str(), &st), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << "the root did not answer at once";
  EXPECT_NE(st.st_dev, before.st_dev);
  EXPECT_EQ(st.st_ino, 1u);
  struct statfs sf;
  ASSERT_EQ(::statfs(mnt_.c_str(), &sf), 0);
  EXPECT_EQ(sf.f_type, kFuseSuperMagic);
  Unmount();
  EXPECT_FALSE(MountOptionsOf(mnt_));
}

TEST_F(DaemonMount, LogFileGetsStartupLinesAndDebugOnlyWhenAsked) {
  std::string log = tmp_ + "/ipfskit.log", out, mp = fs::canonical(mnt_).string();
  ASSERT_EQ(MountAt(mnt_, "log=" + log, &out), 0) << out;
  std::string text = ReadFile(log);
  EXPECT_NE(text.find("starting"), std::string::npos) << text;
  EXPECT_NE(text.find("mounted " + mp), std::string::npos) << text;
  EXPECT_EQ(text.find(" debug: "), std::string::npos) << text;
  Unmount();
  fs::remove(log);
  // -o debug is the log level (not libfuse's -d trace), and a failing fetch is logged.
  ASSERT_EQ(MountAt(mnt_, "log=" + log + ",debug,gateway=http://127.0.0.1:1,timeout=2", &out), 0) << out;
  text = ReadFile(log);
  EXPECT_NE(text.find(" debug: options:"), std::string::npos) << text;
  std::string cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";  // not in this repo
  EXPECT_NE(Sh("cat " + Quote(mnt_ + "/ipfs/" + cid)), 0);
  text = ReadFile(log);
  EXPECT_NE(text.find("sources: "), std::string::npos) << text;
  Unmount();
  // The daemon logs as it goes; give it a moment after the unmount.
  for (int i = 0; i < 50 && ReadFile(log).find("unmounting " + mp) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(ReadFile(log).find("unmounting " + mp), std::string::npos) << ReadFile(log);
}

TEST_F(DaemonMount, UidGidUmaskShowInStat) {
  std::ofstream(data_ + "/f.txt") << "hello\n";
  std::string cid = ShOk(Cli("add -Q '" + data_ + "/f.txt'"));
  std::string out;
  ASSERT_EQ(MountAt(mnt_, "uid=1234,gid=4321,umask=027", &out), 0) << out;
  struct stat st;
  ASSERT_EQ(::stat((mnt_ + "/ipfs").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 4321u);
  EXPECT_EQ(st.st_mode & 07777, 0550u);
  ASSERT_EQ(::stat((mnt_ + "/ipfs/" + cid).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_mode & 07777, 0440u);
  ShOk("echo x > " + Quote(mnt_ + "/mfs/new.txt"));
  ASSERT_EQ(::stat((mnt_ + "/mfs/new.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 4321u);
  EXPECT_EQ(st.st_mode & 027, 0u);
  EXPECT_EQ(ShOk("stat -c %u:%g " + Quote(mnt_ + "/.ipfskit/stats")), "1234:4321");
  Unmount();
  // Without the options: the mounting user, modes as stored.
  ASSERT_EQ(MountAt(mnt_, "", &out), 0) << out;
  ASSERT_EQ(::stat((mnt_ + "/ipfs/" + cid).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::getuid());
  EXPECT_EQ(st.st_mode & 07777, 0444u);
}

TEST_F(DaemonMount, DefaultPermissionsOnlyWhenAsked) {
  std::string out;
  ASSERT_EQ(MountAt(mnt_, "", &out), 0) << out;
  auto opts = MountOptionsOf(mnt_);
  ASSERT_TRUE(opts);
  EXPECT_EQ(opts->find("default_permissions"), std::string::npos) << *opts;
  Unmount();
  ASSERT_EQ(MountAt(mnt_, "default_permissions", &out), 0) << out;
  opts = MountOptionsOf(mnt_);
  ASSERT_TRUE(opts);
  EXPECT_NE(opts->find("default_permissions"), std::string::npos) << *opts;
  Unmount();
}

TEST_F(DaemonMount, MountAndUnmountAPathWithAQuote) {
  std::string mp = tmp_ + "/it's a \"mount\" $(touch pwned)";
  fs::create_directories(mp);
  std::string out;
  ASSERT_EQ(MountAt(mp, "", &out), 0) << out;
  ASSERT_TRUE(MountOptionsOf(mp));
  struct stat st;
  EXPECT_EQ(::stat((mp + "/ipfs").c_str(), &st), 0);
  out.clear();
  EXPECT_EQ(Sh(Cli("unmount " + Quote(mp)), &out), 0) << out;
  EXPECT_FALSE(MountOptionsOf(mp));
  // Lazy unmount and a remount at the same path.
  ASSERT_EQ(MountAt(mp, "", &out), 0) << out;
  out.clear();
  EXPECT_EQ(Sh(Cli("unmount -z " + Quote(mp)), &out), 0) << out;
  EXPECT_FALSE(MountOptionsOf(mp));
  // A killed daemon leaves a dead endpoint there; the next mount detaches it first, and after
  // an unmount nothing is left (not a mount stacked on the dead one).
  std::string log = tmp_ + "/log";
  ASSERT_EQ(MountAt(mp, "log=" + log, &out), 0) << out;
  std::string text = ReadFile(log);
  size_t lb = text.find('['), rb = text.find(']');
  ASSERT_NE(rb, std::string::npos) << text;
  pid_t pid = std::stoi(text.substr(lb + 1, rb - lb - 1));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int i = 0; i < 50 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(MountAt(mp, "", &out), 0) << out;
  EXPECT_EQ(::stat((mp + "/ipfs").c_str(), &st), 0);
  out.clear();
  EXPECT_EQ(Sh(Cli("unmount " + Quote(mp)), &out), 0) << out;
  EXPECT_FALSE(MountOptionsOf(mp)) << "a dead mount was left under the new one";
  EXPECT_FALSE(fs::exists(tmp_ + "/pwned"));
  EXPECT_FALSE(fs::exists("pwned"));
}

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ok_ = fd_ >= 0 && path.size() < sizeof a.sun_path &&
          ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // The next datagram, or "" after `timeout`.
  std::string Receive(std::chrono::seconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST_F(DaemonMount, NotifySocketGetsReadyThenStopping) {
  NotifySocket sock(tmp_ + "/notify");
  ASSERT_TRUE(sock.ok());
  std::string bin = CliBinary(), env = "NOTIFY_SOCKET=" + tmp_ + "/notify";
  std::vector<std::string> args = {bin, "--repo", repo_, "mount", "-f", mnt_};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(env.data());
  envp.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, bin.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);
  extra_mounts_.push_back(mnt_);
  std::string msg = sock.Receive(std::chrono::seconds(30));
  EXPECT_NE(msg.find("READY=1"), std::string::npos) << "got '" << msg << "'";
  // READY means served: the root answers now.
  struct stat st;
  EXPECT_EQ(::stat((mnt_ + "/ipfs").c_str(), &st), 0);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  msg = sock.Receive(std::chrono::seconds(30));
  EXPECT_NE(msg.find("STOPPING=1"), std::string::npos) << "got '" << msg << "'";
  int status = -1;
  for (int i = 0; i < 300 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(MountOptionsOf(mnt_));
}

}  // namespace
}  // namespace ipfskit::testing
