// The mount's node model. Every area (/ipfs, /ipns, /mfs, /infer, /.ipfskit) plugs in as Node
// subclasses; the FUSE operations (ops_*.cpp) only talk to this interface, so no operation
// needs an "if path starts with" test. Errors are core Result/Status values; the ops convert
// them to -errno in one place (ReplyError).
//
// Thread safety: every method may be called concurrently from the FUSE worker threads.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/multiformats/cid.h"
#include "core/store/block.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit::fs {

class Node;

// An open file handle (fi->fh points at one). Owned by the ops layer until release.
class OpenFile {
 public:
  virtual ~OpenFile() = default;
  // Returns bytes read; 0 at EOF.
  virtual Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) = 0;
  // Read without a copy, called instead of Read when zero_copy is set: up to `size` bytes at
  // `offset` as views appended to `views` in order, together exactly the returned count. The
  // caller drops them as soon as the reply is sent (a view may hold an LMDB read transaction).
  virtual Result<size_t> ReadViews(uint64_t offset, size_t size, std::vector<Block>& views) {
    return MakeError(Errc::kUnsupported, "no zero-copy reads");
  }
  virtual Result<size_t> Write(uint64_t offset, ByteView data) {
    return MakeError(Errc::kReadOnly, "read-only file");
  }
  virtual Status Flush() { return Status::Ok(); }
  virtual Status Fsync(bool datasync) { return Flush(); }
  virtual Status Release() { return Status::Ok(); }
  bool keep_cache = false;  // content never changes: let the kernel keep its pages
  bool direct_io = false;   // content generated per open: bypass the page cache
  bool zero_copy = false;   // reads go through ReadViews
  bool no_flush = false;    // Flush has nothing to do: the kernel sends no FLUSH on close
  bool nonblock = false;    // opened with O_NONBLOCK
};

struct DirItem {
  DirItem() = default;
  DirItem(std::string n, std::shared_ptr<Node> nd) : name(std::move(n)), node(std::move(nd)) {}
  std::string name;
  std::shared_ptr<Node> node;  // may be null: resolved when attributes are needed
  // For a null node, what is known without resolving it. A plain readdir (the kernel asked for
  // no attributes) answers from these: `ino` (0: unknown, the node is resolved), `type` (S_IFMT
  // bits; 0 sends DT_UNKNOWN). `cid` lets the directory resolve the item without a lookup by
  // name (which is linear in a basic directory).
  uint64_t ino = 0;
  uint32_t type = 0;
  std::optional<Cid> cid;
};

// Who asks (fuse_req_ctx): the owner of what the request creates.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct SetattrRequest {
  std::optional<uint32_t> mode;
  std::optional<uid_t> uid;  // chown; the kernel checked the permission (default_permissions)
  std::optional<gid_t> gid;
  std::optional<uint64_t> size;
  std::optional<struct timespec> atime, mtime;
  OpenFile* handle = nullptr;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;

  // Inode number; must be stable for the node's lifetime and unique in the mount.
  virtual uint64_t ino() const = 0;
  virtual Result<struct stat> Getattr() = 0;
  // Kernel cache lifetimes in seconds: long for immutable content.
  virtual double EntryTimeout() const { return 1.0; }
  virtual double AttrTimeout() const { return 1.0; }
  // How long the kernel may remember that a name does not exist here (0: not at all).
  virtual double NegativeTimeout() const { return 0.0; }

  // Directories.
  virtual Result<std::shared_ptr<Node>> Lookup(std::string_view name) {
    return MakeError(Errc::kNotDir, "not a directory");
  }
  // The entries of a directory, in a stable order. Nodes may be filled in lazily.
  virtual Result<std::vector<DirItem>> List() { return MakeError(Errc::kNotDir, "not a directory"); }
  // Fills in the null nodes of `items` (a slice of this directory's List()) at once, e.g. in
  // parallel, before readdirplus answers them; an item left null is looked up by name, one at a
  // time. Default: nothing.
  virtual void ResolveItems(std::span<DirItem> items) {}

  // Files.
  virtual Result<std::unique_ptr<OpenFile>> Open(int flags) { return MakeError(Errc::kIsDir, "is a directory"); }
  virtual Result<std::string> Readlink() { return MakeError(Errc::kInvalidArgument, "not a symlink"); }

  // Extended attributes (user.ipfs.cid and friends). kNotFound -> ENODATA.
  virtual Result<std::string> GetXattr(std::string_view name) { return MakeError(Errc::kNotFound, "no such attribute"); }
  virtual std::vector<std::string> ListXattr() { return {}; }
  virtual Status SetXattr(std::string_view name, ByteView value, int flags) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }

  // Mutation; read-only areas keep the defaults (EROFS).
  virtual Result<std::pair<std::shared_ptr<Node>, std::unique_ptr<OpenFile>>> Create(std::string_view name,
                                                                                     uint32_t mode, int flags,
                                                                                     const Caller& caller) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }
  virtual Result<std::shared_ptr<Node>> Mkdir(std::string_view name, uint32_t mode, const Caller& caller) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }
  virtual Result<std::shared_ptr<Node>> Symlink(std::string_view name, std::string_view target,
                                                const Caller& caller) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }
  // mknod(2): `mode` includes the file type (S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK, S_IFREG).
  virtual Result<std::shared_ptr<Node>> Mknod(std::string_view name, uint32_t mode, dev_t rdev,
                                              const Caller& caller) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }
  // link(2): `target` gets the name `name` in this directory; returns the node under its new name.
  virtual Result<std::shared_ptr<Node>> Link(Node& target, std::string_view name) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }
  virtual Status Unlink(std::string_view name) { return MakeError(Errc::kReadOnly, "read-only file system"); }
  virtual Status Rmdir(std::string_view name) { return MakeError(Errc::kReadOnly, "read-only file system"); }
  // Moves `name` from this directory to `new_parent`/`new_name`. flags: RENAME_NOREPLACE etc.
  virtual Status Rename(std::string_view name, Node& new_parent, std::string_view new_name, unsigned flags) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }
  // Whether chown changes this node (else ownership is the mount's: only a no-op chown passes).
  virtual bool HasOwner() const { return false; }
  virtual Result<struct stat> Setattr(const SetattrRequest& req) {
    return MakeError(Errc::kReadOnly, "read-only file system");
  }
};

// Inode numbers: static nodes use small numbers; content nodes hash their CID into the upper
// half (bit 63 set) so the same CID has the same inode across mounts; writable areas allocate
// from a counter in the range with bit 62 set.
constexpr uint64_t kContentInoBit = uint64_t{1} << 63;
constexpr uint64_t kDynamicInoBit = uint64_t{1} << 62;
uint64_t AllocateDynamicIno();

// A fixed time for nodes without an mtime, so attributes are stable across mounts.
constexpr time_t kEpochTime = 0;

}  // namespace ipfskit::fs
