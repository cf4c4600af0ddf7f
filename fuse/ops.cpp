#include "fuse/ops.h"

#include <cstring>

namespace ipfskit::fs {

MountState& State(fuse_req_t req) { return *static_cast<MountState*>(fuse_req_userdata(req)); }

std::shared_ptr<Node> NodeFor(fuse_req_t req, fuse_ino_t ino) {
  MountState& st = State(req);
  if (ino == FUSE_ROOT_ID) return st.root;
  return st.inodes.Find(ino);
}

void ReplyErrno(fuse_req_t req, int err) { fuse_reply_err(req, err); }

void ReplyError(fuse_req_t req, const Error& e) {
  State(req).stats.CountError(e.code);
  fuse_reply_err(req, ErrcToErrno(e.code));
}

bool FillEntry(MountState& st, const std::shared_ptr<Node>& node, fuse_entry_param& e) {
  auto attr = node->Getattr();
  if (!attr.ok()) return false;
  std::memset(&e, 0, sizeof e);
  e.ino = node->ino();
  e.generation = 1;
  e.attr = *attr;
  e.attr_timeout = node->AttrTimeout();
  e.entry_timeout = node->EntryTimeout();
  return true;
}

void ReplyEntry(fuse_req_t req, const std::shared_ptr<Node>& node) {
  MountState& st = State(req);
  fuse_entry_param e;
  if (!FillEntry(st, node, e)) return ReplyErrno(req, EIO);
  st.inodes.Remember(node);
  if (fuse_reply_entry(req, &e) != 0) st.inodes.Forget(node->ino(), 1);  // request was interrupted
}

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return Caller{c->uid, c->gid};
}

void AssignOperations(fuse_lowlevel_ops& ops) {
  std::memset(&ops, 0, sizeof ops);
  AssignLookupOps(ops);
  AssignReadOps(ops);
  AssignDirOps(ops);
  AssignXattrOps(ops);
}

}  // namespace ipfskit::fs
