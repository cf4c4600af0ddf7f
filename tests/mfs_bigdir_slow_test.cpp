// A 100,000-entry /mfs directory (issue 10): made through the mount with ordinary calls, it is
// HAMT-sharded, its CID equals `ipfskit add -r -n` of the same directory on local disk, and it
// lists whole before and after a remount, with `repo gc` from another process in between.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fsys = std::filesystem;

constexpr int kEntries = 100000;

std::string Name(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "f%06d", i);
  return b;
}

size_t CountEntries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  size_t n = 0;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) ++n;
  ::closedir(d);
  return n;
}

class MfsBigDirTest : public MountFixture {};

TEST_F(MfsBigDirTest, HundredThousandEntriesShardAndMatchAdd) {
  Mount("offline");
  const std::string big = mnt_ + "/mfs/big", local = data_ + "/big";
  ASSERT_EQ(::mkdir(big.c_str(), 0755), 0) << std::strerror(errno);
  fsys::create_directories(local);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kEntries; ++i) {
    // Small distinct contents, so the entries are not all one CID.
    std::string body = std::to_string(i) + "\n";
    for (const std::string& dir : {big, local}) {
      int fd = ::open((dir + "/" + Name(i)).c_str(), O_CREAT | O_WRONLY | O_EXCL, 0644);
      ASSERT_GE(fd, 0) << dir << "/" << Name(i) << ": " << std::strerror(errno);
      ASSERT_EQ(::write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
      ASSERT_EQ(::close(fd), 0);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("created %d files in /mfs and on local disk in %.1f s\n", kEntries, secs);
  {
    int fd = ::open(big.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fsync(fd), 0) << std::strerror(errno);
    ::close(fd);
  }
  EXPECT_EQ(CountEntries(big), static_cast<size_t>(kEntries));
  const std::string want = ShOk(Cli("add -r -n -Q '" + local + "'"));
  const std::string got = ShOk(Cli("files stat --hash /big"));
  EXPECT_EQ(got, want) << "the /mfs directory's CID differs from ipfskit add -r -n";
  // Sharded: as one basic node the directory would be a block of megabytes; a HAMT root is small.
  const std::string bstat = ShOk(Cli("block stat " + got));
  auto pos = bstat.find("Size:");
  ASSERT_NE(pos, std::string::npos) << bstat;
  EXPECT_LT(std::stoul(bstat.substr(pos + 5)), 64u * 1024) << bstat;

  std::string out;
  ASSERT_EQ(Sh(Cli("repo gc") + " >/dev/null", &out), 0) << out;
  Unmount();
  Mount("offline");
  EXPECT_EQ(CountEntries(big), static_cast<size_t>(kEntries));
  EXPECT_EQ(ReadFile(big + "/" + Name(kEntries - 1)), std::to_string(kEntries - 1) + "\n");
  EXPECT_EQ(ShOk(Cli("files stat --hash /big")), want);
}

}  // namespace
}  // namespace ipfskit::testing
