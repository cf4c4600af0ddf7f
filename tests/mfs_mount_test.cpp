// /mfs on a real FUSE mount, driven by system calls and by ordinary programs (tar, git, rsync,
// sqlite3, cp), with a randomised exerciser checked against a shadow directory, kill -9 after
// fsync, remounts, the CLI on the same tree, and CIDs compared with `ipfskit add -n`.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fsys = std::filesystem;

class MfsMountTest : public MountFixture {
 protected:
  void SetUp() override {
    MountFixture::SetUp();
    mfs_ = mnt_ + "/mfs";
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (!tmpfs_.empty()) {
      if (Mounted()) Sh("fusermount3 -u -z '" + mnt_ + "'");
      Sh("umount -l '" + tmpfs_ + "'");
    }
    MountFixture::TearDown();
  }
  void MountMfs(const std::string& extra = "") {
    Mount("offline" + (extra.empty() ? "" : "," + extra));
  }
  // Runs the daemon in the foreground as our child, so that the test can kill -9 exactly it.
  void MountChild() {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string bin = CliBinary();
      ::execl(bin.c_str(), bin.c_str(), "--repo", repo_.c_str(), "mount", mnt_.c_str(), "-f", "-o", "offline",
              static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      struct stat st;
      if (Mounted() && ::stat(mfs_.c_str(), &st) == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "child mount did not come up";
  }
  std::string AddCid(const std::string& path) { return ShOk(Cli("add -n -Q '" + path + "'")); }

  std::string mfs_;
  std::string tmpfs_;
  pid_t pid_ = -1;
};

// The POSIX, real-program, exerciser and kill -9 tests run on /mfs and on an own name's tree
// under /ipns (the same MfsTree code behind another root, publishing itself).
class MfsAreaTest : public MfsMountTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    MfsMountTest::SetUp();
    if (GetParam() == "ipns") {
      std::string id = ShOk(Cli("key gen site"));
      ASSERT_EQ(id.rfind("k51", 0), 0u) << id;
      mfs_ = mnt_ + "/ipns/" + id;
    }
  }
};
INSTANTIATE_TEST_SUITE_P(Areas, MfsAreaTest, ::testing::Values("mfs", "ipns"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST_P(MfsAreaTest, PosixBasics) {
  MountMfs();
  const std::string f = mfs_ + "/f";
  int fd = ::open(f.c_str(), O_CREAT | O_EXCL | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  EXPECT_EQ(::open(f.c_str(), O_CREAT | O_EXCL | O_RDWR, 0644), -1);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(::pwrite(fd, "hello", 5, 0), 5);
  // A hole, then data past it.
  ASSERT_EQ(::pwrite(fd, "end", 3, 300000), 3);
  std::string want = "hello" + std::string(300000 - 5, '\0') + "end";
  EXPECT_EQ(ReadFile(f), want);
  // A second descriptor sees the writes of the first, and the other way round.
  int fd2 = ::open(f.c_str(), O_RDWR);
  ASSERT_GE(fd2, 0);
  char buf[8] = {};
  ASSERT_EQ(::pread(fd2, buf, 5, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  ASSERT_EQ(::pwrite(fd2, "HE", 2, 0), 2);
  ASSERT_EQ(::pread(fd, buf, 5, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "HEllo");
  // ftruncate down and up: the cut bytes come back as zeros.
  ASSERT_EQ(::ftruncate(fd, 3), 0);
  ASSERT_EQ(::ftruncate(fd, 10), 0);
  EXPECT_EQ(ReadFile(f), std::string("HEl") + std::string(7, '\0'));
  ASSERT_EQ(::fsync(fd), 0);
  ASSERT_EQ(::fdatasync(fd2), 0);
  ::close(fd2);
  // Unlinked while open: the descriptor keeps working.
  ASSERT_EQ(::unlink(f.c_str()), 0);
  EXPECT_EQ(::access(f.c_str(), F_OK), -1);
  ASSERT_EQ(::pwrite(fd, "xyz", 3, 0), 3);
  ASSERT_EQ(::pread(fd, buf, 3, 0), 3);
  EXPECT_EQ(std::string(buf, 3), "xyz");
  ::close(fd);
  // O_APPEND from two descriptors, O_TRUNC.
  const std::string g = mfs_ + "/g";
  int a1 = ::open(g.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644), a2 = ::open(g.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(a1, 0);
  ASSERT_GE(a2, 0);
  ASSERT_EQ(::write(a1, "1", 1), 1);
  ASSERT_EQ(::write(a2, "2", 1), 1);
  ASSERT_EQ(::write(a1, "3", 1), 1);
  ::close(a1);
  ::close(a2);
  EXPECT_EQ(ReadFile(g), "123");
  int t = ::open(g.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(t, 0);
  ::close(t);
  EXPECT_EQ(fsys::file_size(g), 0u);
  // Directories.
  ASSERT_EQ(::mkdir((mfs_ + "/d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((mfs_ + "/d/e").c_str(), 0755), 0);
  EXPECT_EQ(::rmdir((mfs_ + "/d").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
  EXPECT_EQ(::unlink((mfs_ + "/d").c_str()), -1);
  EXPECT_EQ(errno, EISDIR);
  // Rename: replace atomically, NOREPLACE, EXCHANGE, directories.
  ShOk("printf old > " + mfs_ + "/r1 && printf new > " + mfs_ + "/r2");
  EXPECT_EQ(::renameat2(AT_FDCWD, (mfs_ + "/r2").c_str(), AT_FDCWD, (mfs_ + "/r1").c_str(), RENAME_NOREPLACE), -1);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(::renameat2(AT_FDCWD, (mfs_ + "/r2").c_str(), AT_FDCWD, (mfs_ + "/d/e").c_str(), RENAME_EXCHANGE), 0);
  EXPECT_TRUE(fsys::is_directory(mfs_ + "/r2"));
  EXPECT_EQ(ReadFile(mfs_ + "/d/e"), "new");
  ASSERT_EQ(::rename((mfs_ + "/d/e").c_str(), (mfs_ + "/r1").c_str()), 0);
  EXPECT_EQ(ReadFile(mfs_ + "/r1"), "new");
  EXPECT_EQ(::rename((mfs_ + "/d").c_str(), (mfs_ + "/d/sub").c_str()), -1);
  EXPECT_EQ(errno, EINVAL);
  ASSERT_EQ(::rename((mfs_ + "/r2").c_str(), (mfs_ + "/d/r2").c_str()), 0);
  ASSERT_EQ(::rmdir((mfs_ + "/d/r2").c_str()), 0);
  // Symlinks.
  ASSERT_EQ(::symlink("../r1", (mfs_ + "/d/ln").c_str()), 0);
  char target[64] = {};
  ASSERT_EQ(::readlink((mfs_ + "/d/ln").c_str(), target, sizeof target), 5);
  EXPECT_EQ(std::string(target), "../r1");
  EXPECT_EQ(ReadFile(mfs_ + "/d/ln"), "new");
  // chmod and utimens show (kept in memory even when not stored).
  ASSERT_EQ(::chmod((mfs_ + "/r1").c_str(), 0700), 0);
  timespec ts[2] = {{100, 0}, {12345, 678}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (mfs_ + "/r1").c_str(), ts, 0), 0);
  struct stat st;
  ASSERT_EQ(::stat((mfs_ + "/r1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_mtim.tv_sec, 12345);
  struct statvfs sv;
  ASSERT_EQ(::statvfs(mfs_.c_str(), &sv), 0);
  EXPECT_GT(sv.f_bavail, 0u);
}

TEST_F(MfsMountTest, CidsMatchAddAndXattrLink) {
  MountMfs();
  WriteRandomFile(data_ + "/big", 3 * 1048576 + 12345, 1);
  WriteRandomFile(data_ + "/small", 1000, 2);
  ShOk("cp " + data_ + "/big " + data_ + "/small " + mfs_ + "/");
  EXPECT_EQ(Xattr(mfs_ + "/big", "user.ipfs.cid"), AddCid(data_ + "/big"));
  EXPECT_EQ(Xattr(mfs_ + "/small", "user.ipfs.cid"), AddCid(data_ + "/small"));
  // dd into the middle of the file: the CID follows the bytes.
  ShOk("printf XYZ | dd of=" + mfs_ + "/big bs=1 seek=1500000 conv=notrunc status=none");
  ShOk("printf XYZ | dd of=" + data_ + "/big bs=1 seek=1500000 conv=notrunc status=none");
  EXPECT_EQ(Xattr(mfs_ + "/big", "user.ipfs.cid"), AddCid(data_ + "/big"));
  // A directory's CID equals `add -r -n` of the same tree.
  ShOk("mkdir " + mfs_ + "/tree " + data_ + "/tree && cp " + data_ + "/small " + mfs_ + "/tree/ && cp " + data_ +
       "/small " + data_ + "/tree/");
  EXPECT_EQ(Xattr(mfs_ + "/tree", "user.ipfs.cid"), ShOk(Cli("add -r -n -Q '" + data_ + "/tree'")));
  // The root CID is in the stats.
  std::string root = Xattr(mfs_, "user.ipfs.cid");
  EXPECT_NE(ReadFile(mnt_ + "/.ipfskit/stats").find(root), std::string::npos);
  // Link content in by setting user.ipfs.link on the parent directory.
  std::string cid = ShOk(Cli("add -Q '" + data_ + "/big'"));
  ShOk("setfattr -n user.ipfs.link -v 'linked=/ipfs/" + cid + "' " + mfs_ + "/tree");
  EXPECT_EQ(ShOk("cmp " + data_ + "/big " + mfs_ + "/tree/linked && echo same"), "same");
  EXPECT_EQ(Xattr(mfs_ + "/tree/linked", "user.ipfs.cid"), cid);
  std::string out;
  EXPECT_NE(Sh("setfattr -n user.ipfs.link -v 'linked=" + cid + "' " + mfs_ + "/tree", &out), 0);
  EXPECT_NE(out.find("File exists"), std::string::npos) << out;
  ShOk("setfattr -n user.ipfs.link -v 'dir=" + ShOk(Cli("add -r -Q '" + data_ + "/tree'")) + "' " + mfs_);
  EXPECT_EQ(ShOk("cmp " + data_ + "/small " + mfs_ + "/dir/small && echo same"), "same");
}

TEST_P(MfsAreaTest, RealProgramsTarRsyncCpSqliteGit) {
  MountMfs();
  // A source tree with nested dirs, symlinks, empty files and an empty dir.
  ShOk("cd " + data_ + " && mkdir -p src/a/b/c src/empty && for i in $(seq 1 200); do head -c $((i * 37)) /dev/urandom "
       "> src/a/f$i; done && head -c 2000000 /dev/urandom > src/a/b/big && : > src/a/b/c/zero && ln -s ../f1 "
       "src/a/b/link && tar cf src.tar src");
  ShOk("mkdir " + mfs_ + "/t && tar xf " + data_ + "/src.tar -C " + mfs_ + "/t");
  ShOk("diff -r --no-dereference " + data_ + "/src " + mfs_ + "/t/src");
  // rsync in and back out.
  ShOk("rsync -a " + data_ + "/src/ " + mfs_ + "/rs/");
  ShOk("rsync -a " + mfs_ + "/rs/ " + data_ + "/back/");
  ShOk("diff -r --no-dereference " + data_ + "/src " + data_ + "/back");
  // cp -r of an /ipfs tree into /mfs.
  std::string cid = ShOk(Cli("add -r -Q '" + data_ + "/src'"));
  ShOk("cp -r " + mnt_ + "/ipfs/" + cid + " " + mfs_ + "/fromipfs");
  ShOk("diff -r " + data_ + "/src/a/b/c " + mfs_ + "/fromipfs/a/b/c && cmp " + data_ + "/src/a/b/big " + mfs_ +
       "/fromipfs/a/b/big");
  // sqlite3.
  ShOk("cd " + mfs_ + " && sqlite3 db.sqlite 'create table t(a integer primary key, b text);' && "
       "for i in $(seq 1 20); do sqlite3 db.sqlite \"begin; insert into t(b) select hex(randomblob(300)) from "
       "(with recursive c(x) as (select 1 union all select x+1 from c limit 50) select x from c); commit;\"; done && "
       "sqlite3 db.sqlite 'delete from t where a % 3 = 0; vacuum;'");
  EXPECT_EQ(ShOk("sqlite3 " + mfs_ + "/db.sqlite 'pragma integrity_check; select count(*) from t;'"), "ok\n667");
  // git.
  std::string git = "cd " + mfs_ + "/repo && git -c user.name=t -c user.email=t@t -c init.defaultBranch=main ";
  ShOk("mkdir " + mfs_ + "/repo && cp -r " + data_ + "/src/a " + mfs_ + "/repo/ && " + git + "init -q && " + git +
       "add -A && " + git + "commit -qm one && " + git + "checkout -qb side && echo more >> a/f1 && " + git +
       "commit -qam two && " + git + "checkout -q main && " + git + "merge -q side");
  EXPECT_EQ(ShOk(git + "status --porcelain"), "");
  ShOk(git + "fsck --strict --no-progress");
  EXPECT_EQ(ShOk(git + "log --oneline | wc -l"), "2");
}

// Random writes, truncates, renames, reopens and unlinks on /mfs and on a shadow directory, the
// two compared after every step.
TEST_P(MfsAreaTest, RandomisedExerciserMatchesShadow) {
  MountMfs();
  const uint32_t seed = 20240611;
  SCOPED_TRACE("exerciser seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::string roots[2] = {mfs_ + "/ex", data_ + "/shadow"};
  for (const auto& r : roots) fsys::create_directories(r);
  constexpr int kFiles = 6;
  auto name = [&](int i) { return "f" + std::to_string(i); };
  int fds[2][kFiles];
  for (auto& side : fds)
    for (int& fd : side) fd = -1;
  std::vector<uint8_t> buf(600000);
  // The own-name tree is the same MfsTree code behind another root: a shorter run there.
  const int kOps = GetParam() == "ipns" ? 1000 : 3000;
  for (int op = 0; op < kOps; ++op) {
    int f = rng() % kFiles;
    int kind = rng() % 100;
    uint64_t off = rng() % 1200000;
    size_t len = rng() % 3 == 0 ? rng() % 600000 : rng() % 5000;
    for (size_t i = 0; i < len; ++i) buf[i] = static_cast<uint8_t>(rng());
    int g = (f + 1 + static_cast<int>(rng() % (kFiles - 1))) % kFiles;  // drawn before the sides split
    std::string desc;
    for (int s = 0; s < 2; ++s) {
      std::string p = roots[s] + "/" + name(f);
      int& fd = fds[s][f];
      if (kind < 55) {  // write
        if (fd < 0) fd = ::open(p.c_str(), O_RDWR | O_CREAT, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, buf.data(), len, off), static_cast<ssize_t>(len));
        desc = "pwrite " + name(f) + " off " + std::to_string(off) + " len " + std::to_string(len);
      } else if (kind < 65) {  // truncate
        if (fd < 0) fd = ::open(p.c_str(), O_RDWR | O_CREAT, 0644);
        ASSERT_EQ(::ftruncate(fd, off / 2), 0);
        desc = "ftruncate " + name(f) + " " + std::to_string(off / 2);
      } else if (kind < 75) {  // close (reopen later)
        if (fd >= 0) ::close(fd);
        fd = -1;
        desc = "close " + name(f);
      } else if (kind < 85) {  // rename over another file
        std::string q = roots[s] + "/" + name(g);
        if (::access(p.c_str(), F_OK) == 0) {
          ASSERT_EQ(::rename(p.c_str(), q.c_str()), 0);
          // The descriptors follow the files.
          if (fds[s][g] >= 0) ::close(fds[s][g]);
          fds[s][g] = fd;
          fd = -1;
        }
        desc = "rename " + name(f) + " " + name(g);
      } else if (kind < 90) {  // unlink
        ::unlink(p.c_str());
        if (fd >= 0) ::close(fd);
        fd = -1;
        desc = "unlink " + name(f);
      } else if (kind < 95) {  // fsync
        if (fd >= 0) {
          ASSERT_EQ(::fsync(fd), 0);
        }
        desc = "fsync " + name(f);
      } else {  // O_TRUNC reopen
        if (fd >= 0) ::close(fd);
        fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
        ASSERT_GE(fd, 0);
        desc = "open O_TRUNC " + name(f);
      }
    }
    // Compare every file after every step.
    for (int i = 0; i < kFiles; ++i) {
      std::string a = roots[0] + "/" + name(i), b = roots[1] + "/" + name(i);
      bool ea = ::access(a.c_str(), F_OK) == 0, eb = ::access(b.c_str(), F_OK) == 0;
      ASSERT_EQ(ea, eb) << "op " << op << " (" << desc << "): existence of " << name(i) << ", seed " << seed;
      if (ea && (i == f || op % 50 == 0)) {
        ASSERT_TRUE(ReadFile(a) == ReadFile(b)) << "op " << op << " (" << desc << "): " << name(i) << " differs, seed "
                                                << seed;
      }
    }
  }
  for (auto& side : fds)
    for (int fd : side)
      if (fd >= 0) ::close(fd);
  ShOk("diff -r " + roots[0] + " " + roots[1]);
  // And the CIDs of the survivors equal `add -n` of the shadow copies.
  for (int i = 0; i < kFiles; ++i) {
    if (::access((roots[1] + "/" + name(i)).c_str(), F_OK) == 0) {
      EXPECT_EQ(Xattr(roots[0] + "/" + name(i), "user.ipfs.cid"), AddCid(roots[1] + "/" + name(i))) << name(i);
    }
  }
}

TEST_P(MfsAreaTest, KillNineAfterFsyncThenRemount) {
  MountChild();
  WriteRandomFile(data_ + "/a", 5000000, 3);
  WriteRandomFile(data_ + "/b", 70000, 4);
  ShOk("mkdir -p " + mfs_ + "/keep && dd if=" + data_ + "/a of=" + mfs_ + "/keep/a bs=1M conv=fsync status=none");
  int fd = ::open((mfs_ + "/keep/b").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  std::string b = ReadFile(data_ + "/b");
  ASSERT_EQ(::write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
  ASSERT_EQ(::fsync(fd), 0);
  // Written after the fsync and never synced: may be lost, must not corrupt what was synced.
  ASSERT_EQ(::pwrite(fd, "later", 5, 10), 5);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  ::close(fd);
  Sh("fusermount3 -u -z '" + mnt_ + "'");
  MountChild();
  ShOk("cmp " + data_ + "/a " + mfs_ + "/keep/a");
  std::string got = ReadFile(mfs_ + "/keep/b");
  ASSERT_EQ(got.size(), b.size());
  EXPECT_TRUE(got == b || got.substr(10, 5) == "later");
  EXPECT_EQ(got.substr(0, 10), b.substr(0, 10));
  EXPECT_EQ(got.substr(15), b.substr(15));
}

TEST_F(MfsMountTest, UnmountRemountAndCliOnTheSameTree) {
  MountMfs();
  WriteRandomFile(data_ + "/x", 400000, 5);
  ShOk("mkdir -p " + mfs_ + "/p/q && cp " + data_ + "/x " + mfs_ + "/p/q/x && ln -s q/x " + mfs_ + "/p/l");
  std::string root = Xattr(mfs_, "user.ipfs.cid");
  Unmount();
  // The CLI works on the tree the mount left.
  EXPECT_EQ(ShOk(Cli("files stat --hash /")), root);
  EXPECT_EQ(ShOk(Cli("files ls /p")), "l\nq");
  EXPECT_EQ(ShOk(Cli("files read /p/q/x | cmp - " + data_ + "/x && echo same")), "same");
  ShOk("printf cli | " + Cli("files write --create /p/fromcli"));
  ShOk(Cli("files mkdir -p /m/n"));
  ShOk(Cli("files mv /p/fromcli /m/n/moved"));
  std::string cid = ShOk(Cli("add -Q '" + data_ + "/x'"));
  ShOk(Cli("files cp /ipfs/" + cid + " /m/copy"));
  ShOk(Cli("files rm -r /p/q"));
  MountMfs();
  EXPECT_EQ(ReadFile(mfs_ + "/m/n/moved"), "cli");
  ShOk("cmp " + data_ + "/x " + mfs_ + "/m/copy");
  EXPECT_FALSE(fsys::exists(mfs_ + "/p/q"));
  EXPECT_EQ(fsys::read_symlink(mfs_ + "/p/l").string(), "q/x");
  // While mounted: a change made by the CLI shows once the mount is clean (within ~2 s).
  ShOk(Cli("files mkdir /while-mounted"));
  bool seen = false;
  for (int i = 0; i < 60 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = fsys::exists(mfs_ + "/while-mounted");
  }
  EXPECT_TRUE(seen);
  // And GC keeps everything reachable from the MFS root.
  ShOk(Cli("repo gc"));
  ShOk("cmp " + data_ + "/x " + mfs_ + "/m/copy");
}

// Runs `body` in a child process as uid/gid (no supplementary groups); returns its exit status.
int AsUser(uid_t uid, gid_t gid, const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) _exit(100);
    _exit(body());
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// Ownership, hard links and FIFOs: POSIX inside the mount, kept beside the tree across a
// remount, with the kernel checking permissions for other users (allow_other turns on
// default_permissions); a chowned or hard-linked file keeps the CID `ipfskit add` gives.
TEST_F(MfsMountTest, OwnersHardLinksAndFifosSurviveRemount) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown and to act as other users";
  ASSERT_EQ(::chmod(tmp_.c_str(), 0755), 0);  // other users reach the mount point
  MountMfs("allow_other");
  const std::string f = mfs_ + "/f", g = mfs_ + "/sub/g", p = mfs_ + "/fifo";
  ShOk("mkdir " + mfs_ + "/sub && printf hello > " + f);
  ASSERT_EQ(::chown(f.c_str(), 1234, 5678), 0) << std::strerror(errno);
  ASSERT_EQ(::link(f.c_str(), g.c_str()), 0) << std::strerror(errno);
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0) << std::strerror(errno);
  ASSERT_EQ(::chmod(p.c_str(), 0620), 0) << std::strerror(errno);  // not cut by the umask
  // A file created by another user is theirs.
  ASSERT_EQ(::chmod(mfs_.c_str(), 0777), 0);
  EXPECT_EQ(AsUser(4321, 4321, [&] { return ::close(::creat((mfs_ + "/theirs").c_str(), 0600)) == 0 ? 0 : 1; }), 0);
  auto check = [&](const char* when, const std::string& content) {
    SCOPED_TRACE(when);
    struct stat a, b, c, d;
    ASSERT_EQ(::stat(f.c_str(), &a), 0);
    ASSERT_EQ(::stat(g.c_str(), &b), 0);
    EXPECT_EQ(a.st_uid, 1234u);
    EXPECT_EQ(a.st_gid, 5678u);
    EXPECT_EQ(a.st_nlink, 2u);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(b.st_uid, 1234u);
    ASSERT_EQ(::lstat(p.c_str(), &c), 0);
    EXPECT_TRUE(S_ISFIFO(c.st_mode));
    EXPECT_EQ(c.st_mode & 07777, 0620u);
    ASSERT_EQ(::stat((mfs_ + "/theirs").c_str(), &d), 0);
    EXPECT_EQ(d.st_uid, 4321u);
    EXPECT_EQ(d.st_gid, 4321u);
    // The kernel enforces the modes for other users: 0600 of 4321 is closed to 1234.
    EXPECT_EQ(AsUser(1234, 5678, [&] { return ::open((mfs_ + "/theirs").c_str(), O_RDONLY) < 0 && errno == EACCES ? 0 : 1; }), 0);
    EXPECT_EQ(AsUser(4321, 4321, [&] { return ::open((mfs_ + "/theirs").c_str(), O_RDONLY) >= 0 ? 0 : 1; }), 0);
    EXPECT_EQ(ReadFile(g), content);
    EXPECT_EQ(Xattr(f, "user.ipfs.cid"), Xattr(g, "user.ipfs.cid"));
  };
  check("mounted", "hello");
  // A FIFO works as one: a writer's bytes reach a reader.
  std::thread writer([&] {
    int fd = ::open(p.c_str(), O_WRONLY);
    if (fd >= 0) {
      (void)!::write(fd, "via fifo", 8);
      ::close(fd);
    }
  });
  EXPECT_EQ(ReadFile(p), "via fifo");
  writer.join();
  // Appending through one name shows through the other.
  ShOk("printf ' world' >> " + g);
  EXPECT_EQ(ReadFile(f), "hello world");
  ShOk("printf 'hello world' > " + data_ + "/hw");
  EXPECT_EQ(Xattr(f, "user.ipfs.cid"), AddCid(data_ + "/hw"));
  Unmount();
  MountMfs("allow_other");
  check("after remount", "hello world");
  EXPECT_EQ(Xattr(f, "user.ipfs.cid"), AddCid(data_ + "/hw"));
  // Unlinking one name leaves the other with one link.
  ASSERT_EQ(::unlink(f.c_str()), 0);
  struct stat b;
  ASSERT_EQ(::stat(g.c_str(), &b), 0);
  EXPECT_EQ(b.st_nlink, 1u);
  EXPECT_EQ(b.st_uid, 1234u);
}

// A repo on a small tmpfs: filling it gives ENOSPC, and what was fsync'd stays intact.
TEST_F(MfsMountTest, FullDiskGivesEnospcAndKeepsSyncedData) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  std::string fsdir = tmp_ + "/small-fs";
  fsys::create_directories(fsdir);
  ShOk("mount -t tmpfs -o size=40m tmpfs '" + fsdir + "'");
  tmpfs_ = fsdir;
  repo_ = fsdir + "/repo";
  ShOk(Cli("init"));
  MountMfs();
  WriteRandomFile(data_ + "/a", 3000000, 9);
  ShOk("dd if=" + data_ + "/a of=" + mfs_ + "/a bs=1M conv=fsync status=none");
  std::string out;
  int rc = Sh("dd if=/dev/urandom of=" + mfs_ + "/huge bs=1M count=100 conv=fsync status=none", &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("No space left on device"), std::string::npos) << out;
  ShOk("cmp " + data_ + "/a " + mfs_ + "/a");
  Sh("rm -f " + mfs_ + "/huge");
  Unmount();
  MountMfs();
  ShOk("cmp " + data_ + "/a " + mfs_ + "/a");
}

}  // namespace
}  // namespace ipfskit::testing
