// getxattr, listxattr, setxattr, removexattr.
#include <sys/xattr.h>

#include <cstring>

#include "fuse/ops.h"

namespace ipfskit::fs {
namespace {

// Every attribute the mount has lives in the user. namespace. Names outside it (security.selinux,
// system.posix_acl_access, trusted.*) get ENOTSUP rather than ENODATA: that is what a file system
// without those namespaces says, and `ls -l` then stops asking for them on this device (coreutils
// caches the failure per st_dev) instead of making two round trips per entry.
bool OutsideUserNamespace(const char* name) { return std::strncmp(name, "user.", 5) != 0; }

void Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kXattr);
    if (OutsideUserNamespace(name)) return ReplyErrno(req, ENOTSUP);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    auto v = node->GetXattr(name);
    if (!v.ok()) {
      if (v.error().code == Errc::kNotFound) return ReplyErrno(req, ENODATA);
      return ReplyError(req, v.error());
    }
    if (size == 0) return (void)fuse_reply_xattr(req, v->size());
    if (size < v->size()) return ReplyErrno(req, ERANGE);
    fuse_reply_buf(req, v->data(), v->size());
  });
}

void Listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kXattr);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    std::string all;
    for (const auto& n : node->ListXattr()) {
      all += n;
      all.push_back('\0');
    }
    if (size == 0) return (void)fuse_reply_xattr(req, all.size());
    if (size < all.size()) return ReplyErrno(req, ERANGE);
    fuse_reply_buf(req, all.data(), all.size());
  });
}

void Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kXattr);
    if (OutsideUserNamespace(name)) return ReplyErrno(req, ENOTSUP);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    Status s = node->SetXattr(name, ByteView(reinterpret_cast<const uint8_t*>(value), size), flags);
    if (!s.ok()) return ReplyError(req, s.error());
    ReplyErrno(req, 0);
  });
}

void Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kXattr);
    if (OutsideUserNamespace(name)) return ReplyErrno(req, ENOTSUP);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    auto v = node->GetXattr(name);
    ReplyErrno(req, v.ok() ? EROFS : ENODATA);
  });
}

}  // namespace

void AssignXattrOps(fuse_lowlevel_ops& ops) {
  ops.getxattr = Getxattr;
  ops.listxattr = Listxattr;
  ops.setxattr = Setxattr;
  ops.removexattr = Removexattr;
}

}  // namespace ipfskit::fs
