// opendir, readdir(plus), releasedir, readlink, mkdir, symlink, mknod, link, unlink, rmdir, rename.
#include <algorithm>
#include <cstring>

#include "fuse/ops.h"

namespace ipfskit::fs {
namespace {

void Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kReaddir);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    auto items = node->List();
    if (!items.ok()) return ReplyError(req, items.error());
    fi->fh = st.dirs.Add(std::make_unique<DirHandle>(DirHandle{node, std::move(*items)}));
    fi->cache_readdir = 0;
    if (fuse_reply_open(req, fi) != 0) st.dirs.Take(fi->fh);
  });
}

void DoReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  Guard(req, [&] {
    MountState& st = State(req);
    auto* h = reinterpret_cast<DirHandle*>(fi->fh);
    std::vector<char> buf(size);
    size_t used = 0;
    const off_t end = static_cast<off_t>(h->items.size()) + 2;
    if (plus && off < end) {
      // Resolve the items this reply can hold at once (the directory may do it in parallel).
      size_t room = size, first = static_cast<size_t>(std::max<off_t>(off, 2)) - 2, n = 0;
      for (off_t i = off; i < end; ++i) {
        const char* nm = i == 0 ? "." : i == 1 ? ".." : h->items[i - 2].name.c_str();
        const size_t len = fuse_add_direntry_plus(req, nullptr, 0, nm, nullptr, 0);
        if (len > room) break;
        room -= len;
        if (i >= 2) ++n;
      }
      if (n > 0) h->dir->ResolveItems(std::span<DirItem>(h->items).subspan(first, n));
    }
    // Offsets: 0 ".", 1 "..", 2+i item i; each entry carries the offset of the next one.
    for (off_t i = off; i < end; ++i) {
      const char* name;
      std::shared_ptr<Node> node;
      struct stat attr;
      std::memset(&attr, 0, sizeof attr);
      if (i < 2) {
        name = i == 0 ? "." : "..";
        attr.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
        attr.st_mode = S_IFDIR;
      } else {
        DirItem& item = h->items[i - 2];
        name = item.name.c_str();
        if (!plus && !item.node && item.ino != 0) {
          // No attributes asked for: the inode and type the directory knows are the answer.
          attr.st_ino = item.ino;
          attr.st_mode = item.type;
        } else {
          if (!item.node) {
            auto n = h->dir->Lookup(item.name);
            if (!n.ok()) continue;  // vanished or unavailable: skip rather than fail the listing
            item.node = *n;
          }
          node = item.node;
          auto a = node->Getattr();
          if (!a.ok()) continue;
          attr = *a;
        }
      }
      size_t rem = size - used;
      size_t len;
      if (plus) {
        fuse_entry_param e;
        std::memset(&e, 0, sizeof e);
        e.attr = attr;
        if (node) {
          e.ino = node->ino();
          e.generation = 1;
          e.attr_timeout = node->AttrTimeout();
          e.entry_timeout = node->EntryTimeout();
        }
        len = fuse_add_direntry_plus(req, buf.data() + used, rem, name, &e, i + 1);
        if (len > rem) break;
        if (node) st.inodes.Remember(node);  // the kernel now holds a lookup reference
      } else {
        len = fuse_add_direntry(req, buf.data() + used, rem, name, &attr, i + 1);
        if (len > rem) break;
      }
      used += len;
    }
    fuse_reply_buf(req, buf.data(), used);
  });
}

void Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, false);
}
void Readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, true);
}

void Releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  State(req).dirs.Take(fi->fh);
  fuse_reply_err(req, 0);
}

void Readlink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kReadlink);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    auto t = node->Readlink();
    if (!t.ok()) return ReplyError(req, t.error());
    fuse_reply_readlink(req, t->c_str());
  });
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kCreate);
    auto dir = NodeFor(req, parent);
    if (!dir) return ReplyErrno(req, ESTALE);
    auto n = dir->Mkdir(name, mode & 07777, CallerOf(req));
    if (!n.ok()) return ReplyError(req, n.error());
    ReplyEntry(req, *n);
  });
}

void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kCreate);
    auto dir = NodeFor(req, parent);
    if (!dir) return ReplyErrno(req, ESTALE);
    auto n = dir->Symlink(name, target, CallerOf(req));
    if (!n.ok()) return ReplyError(req, n.error());
    ReplyEntry(req, *n);
  });
}

void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kCreate);
    auto dir = NodeFor(req, parent);
    if (!dir) return ReplyErrno(req, ESTALE);
    auto n = dir->Mknod(name, mode, rdev, CallerOf(req));
    if (!n.ok()) return ReplyError(req, n.error());
    ReplyEntry(req, *n);
  });
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kCreate);
    auto node = NodeFor(req, ino);
    auto dir = NodeFor(req, newparent);
    if (!node || !dir) return ReplyErrno(req, ESTALE);
    auto n = dir->Link(*node, newname);
    if (!n.ok()) return ReplyError(req, n.error());
    ReplyEntry(req, *n);
  });
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kOther);
    auto dir = NodeFor(req, parent);
    if (!dir) return ReplyErrno(req, ESTALE);
    Status s = dir->Unlink(name);
    if (!s.ok()) return ReplyError(req, s.error());
    ReplyErrno(req, 0);
  });
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kOther);
    auto dir = NodeFor(req, parent);
    if (!dir) return ReplyErrno(req, ESTALE);
    Status s = dir->Rmdir(name);
    if (!s.ok()) return ReplyError(req, s.error());
    ReplyErrno(req, 0);
  });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
            unsigned int flags) {
  Guard(req, [&] {
    State(req).stats.CountRequest(Op::kOther);
    auto dir = NodeFor(req, parent);
    auto ndir = NodeFor(req, newparent);
    if (!dir || !ndir) return ReplyErrno(req, ESTALE);
    Status s = dir->Rename(name, *ndir, newname, flags);
    if (!s.ok()) return ReplyError(req, s.error());
    ReplyErrno(req, 0);
  });
}

}  // namespace

void AssignDirOps(fuse_lowlevel_ops& ops) {
  ops.opendir = Opendir;
  ops.readdir = Readdir;
  ops.readdirplus = Readdirplus;
  ops.releasedir = Releasedir;
  ops.readlink = Readlink;
  ops.mkdir = Mkdir;
  ops.symlink = Symlink;
  ops.mknod = Mknod;
  ops.link = Link;
  ops.unlink = Unlink;
  ops.rmdir = Rmdir;
  ops.rename = Rename;
}

}  // namespace ipfskit::fs
