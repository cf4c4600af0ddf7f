// Wiring between libfuse's low-level API and the node model. One registration table
// (AssignOperations); one file per operation family; errors become -errno in ReplyError only.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "fuse/inode_table.h"
#include "fuse/node.h"
#include "fuse/stats.h"

namespace ipfskit::fs {

// A snapshot of a directory's entries taken at opendir, so offsets stay valid while the
// directory changes underneath (POSIX allows either view for concurrent changes).
struct DirHandle {
  std::shared_ptr<Node> dir;
  std::vector<DirItem> items;
};

// The handles the kernel holds (fi->fh), owned here from open to release. The kernel sends no
// RELEASE for a handle still open when the session ends (a lazy unmount racing the last
// close's asynchronous RELEASE, a daemon stopped by a signal); the mount takes what is left
// once the loop is over (TakeAll). Thread-safe.
template <typename T>
class OpenHandles {
 public:
  uint64_t Add(std::unique_ptr<T> h) {
    std::lock_guard lock(mu_);
    T* p = h.release();
    live_.insert(p);
    return reinterpret_cast<uint64_t>(p);
  }
  // The handle for `fh`, now the caller's; null if `fh` is not one of ours.
  std::unique_ptr<T> Take(uint64_t fh) {
    std::lock_guard lock(mu_);
    T* p = reinterpret_cast<T*>(fh);
    if (live_.erase(p) == 0) return nullptr;
    return std::unique_ptr<T>(p);
  }
  std::vector<std::unique_ptr<T>> TakeAll() {
    std::lock_guard lock(mu_);
    std::vector<std::unique_ptr<T>> all;
    for (T* p : live_) all.emplace_back(p);
    live_.clear();
    return all;
  }
  ~OpenHandles() { TakeAll(); }

 private:
  std::mutex mu_;
  std::unordered_set<T*> live_;
};

struct MountState {
  InodeTable inodes;
  OpenHandles<OpenFile> files;
  OpenHandles<DirHandle> dirs;
  MountStats stats;
  std::shared_ptr<Node> root;
  bool read_only = false;
  std::string statfs_path = "/";  // where writes land: the repo directory
};

void AssignOperations(fuse_lowlevel_ops& ops);

// Helpers shared by the ops_*.cpp files.
MountState& State(fuse_req_t req);
std::shared_ptr<Node> NodeFor(fuse_req_t req, fuse_ino_t ino);
void ReplyError(fuse_req_t req, const Error& e);
void ReplyErrno(fuse_req_t req, int err);
// Fills a fuse_entry_param for `node` and records the kernel's reference on success.
bool FillEntry(MountState& st, const std::shared_ptr<Node>& node, fuse_entry_param& e);
void ReplyEntry(fuse_req_t req, const std::shared_ptr<Node>& node);
// The requesting process's fsuid/fsgid: the owner of what it creates.
Caller CallerOf(fuse_req_t req);

// Per-family registration.
void AssignLookupOps(fuse_lowlevel_ops& ops);
void AssignReadOps(fuse_lowlevel_ops& ops);
void AssignDirOps(fuse_lowlevel_ops& ops);
void AssignXattrOps(fuse_lowlevel_ops& ops);

// Runs `body`; an escaping exception becomes EIO (no exception may cross into libfuse).
template <typename F>
void Guard(fuse_req_t req, F&& body) {
  try {
    body();
  } catch (...) {
    ReplyErrno(req, EIO);
  }
}

}  // namespace ipfskit::fs
