// A full disk under the repo (issue 10): a real mount whose repo lives on a small tmpfs. Writing
// into /mfs until the disk is full gives ENOSPC (never EIO, never a hang), everything fsync'd
// before stays intact, and after removing files and `repo gc` writes work again.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fsys = std::filesystem;

class MfsNoSpaceMountTest : public MountFixture {
 protected:
  void SetUp() override {
    MountFixture::SetUp();
    small_ = tmp_ + "/small";
    fsys::create_directories(small_);
    ASSERT_EQ(::mount("tmpfs", small_.c_str(), "tmpfs", 0, "size=48m"), 0) << std::strerror(errno);
    // The fixture's repo, moved onto the small disk.
    fsys::remove_all(repo_);
    repo_ = small_ + "/repo";
    ShOk(Cli("init"));
  }
  void TearDown() override {
    if (Mounted()) Sh(Cli("unmount '" + mnt_ + "'"));
    MountFixture::TearDown();  // unmounts lazily if needed
    ::umount2(small_.c_str(), MNT_DETACH);
  }
  std::string small_;
};

// The bytes WriteSynced writes: no two chunks alike, so nothing deduplicates.
std::string Pattern(size_t size, uint64_t seed) {
  std::string s(size, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i + 8 <= size; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(&s[i], &x, 8);
  }
  return s;
}

// Writes Pattern(size, seed) to path and fsyncs; returns 0 or the first errno.
int WriteSynced(const std::string& path, size_t size, uint64_t seed) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) return errno;
  const std::string data = Pattern(size, seed);
  int err = 0;
  for (size_t done = 0; done < size && !err; done += 1 << 20)
    if (::write(fd, data.data() + done, std::min<size_t>(1 << 20, size - done)) < 0) err = errno;
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  return err;
}

TEST_F(MfsNoSpaceMountTest, FullDiskGivesEnospcAndKeepsWhatWasSynced) {
  Mount("offline");
  const std::string mfs = mnt_ + "/mfs";
  ASSERT_EQ(WriteSynced(mfs + "/kept", 4 << 20, 1000), 0);
  // Fill the disk: some write, fsync or close must say ENOSPC.
  int err = 0;
  int n = 0;
  for (; n < 40 && !err; ++n) err = WriteSynced(mfs + "/fill" + std::to_string(n), 4 << 20, n);
  EXPECT_EQ(err, ENOSPC) << "got " << std::strerror(err) << " after " << n << " files";
  // What was fsync'd before is intact, through the mount and from the repo.
  const std::string kept = Pattern(4 << 20, 1000);
  EXPECT_TRUE(ReadFile(mfs + "/kept") == kept) << "/kept changed after the disk filled up";
  std::string got;
  // Make room: remove the filler, commit, gc; then writing works again.
  for (int i = 0; i < n; ++i) (void)::unlink((mfs + "/fill" + std::to_string(i)).c_str());
  int fd = ::open((mfs + "/kept").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  // The commit of the removals can itself need pages; retry after gc frees space.
  for (int i = 0; i < 5 && ::fsync(fd) != 0; ++i) Sh(Cli("repo gc"));
  ::close(fd);
  ASSERT_EQ(Sh(Cli("repo gc"), &got), 0) << got;
  // The freed pages are usable once every read snapshot older than the gc is closed; the mount
  // closes idle ones within about a second.
  int after = ENOSPC;
  for (int i = 0; i < 10 && after == ENOSPC; ++i) {
    if (i) ::usleep(500 * 1000);
    after = WriteSynced(mfs + "/after", 4 << 20, 2000);
  }
  EXPECT_EQ(after, 0) << "writing after gc still fails: " << std::strerror(after);
  Unmount();
  Mount("offline");
  EXPECT_TRUE(ReadFile(mfs + "/kept") == kept) << "/kept changed after remount";
  struct stat st;
  ASSERT_EQ(::stat((mfs + "/after").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4 << 20);
}

}  // namespace
}  // namespace ipfskit::testing
