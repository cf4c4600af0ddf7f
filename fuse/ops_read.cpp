// open, create, read, write, flush, fsync, release.
#include <fcntl.h>
#include <sys/uio.h>

#include <cstring>
#include <vector>

#include "fuse/ops.h"

namespace ipfskit::fs {
namespace {

void SetFileInfo(MountState& st, fuse_file_info* fi, std::unique_ptr<OpenFile> f) {
  fi->keep_cache = f->keep_cache;
  fi->direct_io = f->direct_io;
  fi->noflush = f->no_flush;  // one round trip less per close (kernel 5.16+; older ones flush)
  fi->fh = st.files.Add(std::move(f));
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kOpen);
    auto node = NodeFor(req, ino);
    if (!node) return ReplyErrno(req, ESTALE);
    auto f = node->Open(fi->flags);
    if (!f.ok()) return ReplyError(req, f.error());
    (*f)->nonblock = fi->flags & O_NONBLOCK;
    SetFileInfo(st, fi, std::move(*f));
    if (fuse_reply_open(req, fi) != 0) (void)st.files.Take(fi->fh)->Release();
  });
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kCreate);
    auto dir = NodeFor(req, parent);
    if (!dir) return ReplyErrno(req, ESTALE);
    auto r = dir->Create(name, mode & 07777, fi->flags, CallerOf(req));
    if (!r.ok()) return ReplyError(req, r.error());
    auto& [node, file] = *r;
    fuse_entry_param e;
    if (!FillEntry(st, node, e)) return ReplyErrno(req, EIO);
    file->nonblock = fi->flags & O_NONBLOCK;
    SetFileInfo(st, fi, std::move(file));
    st.inodes.Remember(node);
    if (fuse_reply_create(req, &e, fi) != 0) {
      st.inodes.Forget(node->ino(), 1);
      (void)st.files.Take(fi->fh)->Release();
    }
  });
}

// A zero-copy read: the reply is written to /dev/fuse straight from the views (LMDB's map for
// local blocks), so the daemon copies nothing; the kernel's copy into the page cache is the only
// one. More pieces than one writev takes are gathered into a buffer instead.
void ReadZeroCopy(MountState& st, fuse_req_t req, OpenFile& f, size_t size, off_t off) {
  constexpr size_t kMaxPieces = 512;
  thread_local std::vector<Block> views;
  thread_local std::vector<iovec> iov;
  views.clear();
  auto n = f.ReadViews(off, size, views);
  if (!n.ok()) return ReplyError(req, n.error());
  st.stats.CountRead(*n);
  if (views.size() <= kMaxPieces) {
    iov.clear();
    for (const Block& v : views)
      if (v.size()) iov.push_back(iovec{const_cast<uint8_t*>(v.data().data()), v.size()});
    if (iov.empty()) fuse_reply_buf(req, nullptr, 0);
    else fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  } else {
    thread_local std::vector<uint8_t> gathered;
    gathered.resize(*n);
    size_t at = 0;
    for (const Block& v : views) {
      std::memcpy(gathered.data() + at, v.data().data(), v.size());
      at += v.size();
    }
    fuse_reply_buf(req, reinterpret_cast<const char*>(gathered.data()), at);
  }
  views.clear();  // ends the read transactions the views held
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kRead);
    auto* f = reinterpret_cast<OpenFile*>(fi->fh);
    if (f->zero_copy) return ReadZeroCopy(st, req, *f, size, off);
    thread_local std::vector<uint8_t> buf;
    if (buf.size() < size) buf.resize(size);
    auto n = f->Read(off, std::span<uint8_t>(buf.data(), size));
    if (!n.ok()) return ReplyError(req, n.error());
    st.stats.CountRead(*n);
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  });
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, [&] {
    MountState& st = State(req);
    st.stats.CountRequest(Op::kWrite);
    auto* f = reinterpret_cast<OpenFile*>(fi->fh);
    auto n = f->Write(off, ByteView(reinterpret_cast<const uint8_t*>(data), size));
    if (!n.ok()) return ReplyError(req, n.error());
    st.stats.CountWrite(*n);
    fuse_reply_write(req, *n);
  });
}

void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Guard(req, [&] {
    Status s = reinterpret_cast<OpenFile*>(fi->fh)->Flush();
    if (!s.ok()) return ReplyError(req, s.error());
    ReplyErrno(req, 0);
  });
}

void Fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  Guard(req, [&] {
    Status s = reinterpret_cast<OpenFile*>(fi->fh)->Fsync(datasync);
    if (!s.ok()) return ReplyError(req, s.error());
    ReplyErrno(req, 0);
  });
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Guard(req, [&] {
    std::unique_ptr<OpenFile> f = State(req).files.Take(fi->fh);
    if (!f) return ReplyErrno(req, EBADF);
    Status s = f->Release();
    if (!s.ok()) return ReplyError(req, s.error());
    ReplyErrno(req, 0);
  });
}

}  // namespace

void AssignReadOps(fuse_lowlevel_ops& ops) {
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.fsync = Fsync;
  ops.release = Release;
}

}  // namespace ipfskit::fs
