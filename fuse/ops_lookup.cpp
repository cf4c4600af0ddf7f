// init, lookup, forget, getattr, setattr, statfs.
#include <sys/statvfs.h>

#include <cstring>

#include "fuse/ops.h"

namespace ipfskit::fs {
namespace {

void Init(void* userdata, fuse_conn_info* conn) {
  // 1 MiB requests: libfuse derives max_pages (256) from max_write.
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // Writable areas handle O_TRUNC in open themselves.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kLookup);
    auto dir = NodeFor(req, parent);
    if (!dir) return ReplyErrno(req, ESTALE);
    auto child = dir->Lookup(name);
    if (!child.ok()) {
      if (child.error().code == Errc::kNotFound && dir->NegativeTimeout() > 0) {
        // A negative entry: the kernel remembers that this name does not exist.
        fuse_entry_param e;
        std::memset(&e, 0, sizeof e);
        e.entry_timeout = dir->NegativeTimeout();
        return (void)fuse_reply_entry(req, &e);
      }
      if (child.error().code == Errc::kNotFound) return ReplyErrno(req, ENOENT);
      return ReplyError(req, child.error());
    }
    ReplyEntry(req, *child);
  });
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  State(req).inodes.Forget(ino, nlookup);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  MountState& st = State(req);
  for (size_t i = 0; i < count; ++i) st.inodes.Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kGetattr);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    auto attr = node->Getattr();
    if (!attr.ok()) return ReplyError(req, attr.error());
    fuse_reply_attr(req, &*attr, node->AttrTimeout());
  });
}

void Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kOther);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    SetattrRequest r;
    if (to_set & FUSE_SET_ATTR_MODE) r.mode = attr->st_mode & 07777;
    if (to_set & FUSE_SET_ATTR_SIZE) r.size = attr->st_size;
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (to_set & FUSE_SET_ATTR_ATIME) r.atime = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) r.atime = now;
    if (to_set & FUSE_SET_ATTR_MTIME) r.mtime = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) r.mtime = now;
    if (fi) r.handle = reinterpret_cast<OpenFile*>(fi->fh);
    if (node->HasOwner()) {
      // The kernel checked chown's rules (default_permissions) and, on chown of a non-directory,
      // sends the mode without setuid/setgid in the same request.
      if (to_set & FUSE_SET_ATTR_UID) r.uid = attr->st_uid;
      if (to_set & FUSE_SET_ATTR_GID) r.gid = attr->st_gid;
    } else if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && !r.mode && !r.size && !r.atime && !r.mtime) {
      // chown: ownership is the mounting user's; accept a no-op change, refuse others.
      auto cur = node->Getattr();
      if (!cur.ok()) return ReplyError(req, cur.error());
      bool same = (!(to_set & FUSE_SET_ATTR_UID) || attr->st_uid == cur->st_uid) &&
                  (!(to_set & FUSE_SET_ATTR_GID) || attr->st_gid == cur->st_gid);
      if (same) return (void)fuse_reply_attr(req, &*cur, node->AttrTimeout());
      return ReplyErrno(req, EPERM);
    }
    auto res = node->Setattr(r);
    if (!res.ok()) return ReplyError(req, res.error());
    fuse_reply_attr(req, &*res, node->AttrTimeout());
  });
}

void Statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs s;
  std::memset(&s, 0, sizeof s);
  s.f_bsize = 1 << 20;
  s.f_frsize = 4096;
  // Report the free space where writes land (the repo's disk) when the area can tell.
  struct statvfs disk;
  if (statvfs(State(req).statfs_path.c_str(), &disk) == 0) {
    s.f_blocks = disk.f_blocks * disk.f_frsize / s.f_frsize;
    s.f_bfree = disk.f_bfree * disk.f_frsize / s.f_frsize;
    s.f_bavail = disk.f_bavail * disk.f_frsize / s.f_frsize;
  }
  s.f_files = 1ull << 32;
  s.f_ffree = 1ull << 31;
  s.f_favail = 1ull << 31;
  s.f_namemax = 255;
  fuse_reply_statfs(req, &s);
}

}  // namespace

void AssignLookupOps(fuse_lowlevel_ops& ops) {
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = Getattr;
  ops.setattr = Setattr;
  ops.statfs = Statfs;
}

}  // namespace ipfskit::fs
