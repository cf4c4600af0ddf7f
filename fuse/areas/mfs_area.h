// /mfs: the writable MFS tree (core/mfs/mfs_tree.h) as POSIX nodes.
//
// Mutable content: short entry/attr timeouts (kMfsTimeout), no keep_cache, so the kernel's page
// cache is dropped at each open and every process sees what the others wrote. Writes go through
// the kernel's page cache to the tree (no writeback cache), so all descriptors of one file stay
// consistent. close() computes the file's CID; fsync() makes the whole tree durable (one LMDB
// commit); unmount commits; in between a background thread commits about once per second.
//
// Extended attributes:
//   user.ipfs.cid    (get, any entry)  the entry's current CID; commits first so it can be shared.
//   user.ipfs.link   (set, on a DIRECTORY) value "NAME=CID" or "NAME=/ipfs/CID/sub/path": links
//                    that content into the directory as NAME without copying bytes. Fails with
//                    EEXIST when NAME exists, unless XATTR_REPLACE is given (then it replaces a
//                    file or an empty directory). Example:
//                      setfattr -n user.ipfs.link -v "photos=/ipfs/bafy…" /mnt/mfs/albums
#pragma once

#include <memory>

#include "core/mfs/mfs_tree.h"
#include "fuse/areas/static_nodes.h"

namespace ipfskit::fs {

struct MfsAreaContext {
  std::shared_ptr<MfsTree> tree;
  Owner owner;
  uint64_t root_ino = ino::kMfs;  // /ipns/<own key> trees get one of their own
};

constexpr double kMfsTimeout = 1.0;

// The tree's root directory (/mfs, inode ctx->root_ino); it always shows the tree's current root.
std::shared_ptr<Node> MakeMfsRoot(std::shared_ptr<MfsAreaContext> ctx);

}  // namespace ipfskit::fs
