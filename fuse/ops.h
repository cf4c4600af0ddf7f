// Wiring between libfuse's low-level API and the node model. One registration table
// (AssignOperations); one file per operation family; errors become -errno in ReplyError only.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <memory>
#include <string>

#include "fuse/inode_table.h"
#include "fuse/node.h"
#include "fuse/stats.h"

namespace ipfskit::fs {

struct MountState {
  InodeTable inodes;
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
