#include "fuse/areas/static_nodes.h"

#include <fcntl.h>

#include <cstring>

namespace ipfskit::fs {

struct stat MakeStat(uint64_t ino, mode_t mode, uint64_t size, Owner owner, time_t mtime, uint32_t mtime_nsec) {
  struct stat st;
  std::memset(&st, 0, sizeof st);
  st.st_ino = ino;
  st.st_mode = mode & ~(owner.umask & 0777);
  // Directories report 1 link: tools then make no assumption about subdirectory counts.
  st.st_nlink = 1;
  st.st_uid = owner.uid;
  st.st_gid = owner.gid;
  st.st_size = size;
  st.st_blksize = 1 << 20;
  st.st_blocks = (size + 511) / 512;
  st.st_mtim.tv_sec = st.st_ctim.tv_sec = st.st_atim.tv_sec = mtime;
  st.st_mtim.tv_nsec = st.st_ctim.tv_nsec = st.st_atim.tv_nsec = mtime_nsec;
  return st;
}

Result<struct stat> StaticDir::Getattr() { return MakeStat(ino_, S_IFDIR | perm_, 0, owner_); }

Result<std::shared_ptr<Node>> StaticDir::Lookup(std::string_view name) {
  for (const auto& c : children_)
    if (c.name == name) return c.node;
  return MakeError(Errc::kNotFound, "no such entry");
}

Result<std::vector<DirItem>> StaticDir::List() { return children_; }

namespace {
class StringFile : public OpenFile {
 public:
  explicit StringFile(std::string s) : s_(std::move(s)) { direct_io = true; }
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) override {
    if (offset >= s_.size()) return size_t{0};
    size_t n = std::min<uint64_t>(out.size(), s_.size() - offset);
    std::memcpy(out.data(), s_.data() + offset, n);
    return n;
  }

 private:
  std::string s_;
};
}  // namespace

Result<struct stat> GeneratedFile::Getattr() { return MakeStat(ino_, S_IFREG | 0444, gen_().size(), owner_); }

Result<std::unique_ptr<OpenFile>> GeneratedFile::Open(int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY) return MakeError(Errc::kReadOnly, "read-only file");
  return std::unique_ptr<OpenFile>(new StringFile(gen_()));
}

}  // namespace ipfskit::fs
