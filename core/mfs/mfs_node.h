// Internal to core/mfs: the tree's node and the state of a file being changed.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/mfs/mfs_tree.h"

namespace ipfskit {

timespec MfsNow();

// A chunk-aligned view of a file being changed. Slot i covers bytes [i*cs, min((i+1)*cs, size)).
struct MfsTree::FileState {
  struct Slot {
    enum Kind : uint8_t { kZero, kLeaf, kDirty };
    Kind kind = kZero;
    // kLeaf: a leaf holding the slot's first leaf.filesize bytes; the rest of the slot is zeros.
    DagEntry leaf;
    // kDirty: the slot's first buf->size() bytes; the rest of the slot is zeros.
    std::unique_ptr<Bytes> buf;
  };
  std::vector<Slot> slots;
  size_t dirty_slots = 0;
};

class MfsTree::Node : public std::enable_shared_from_this<MfsTree::Node> {
 public:
  Node(MfsKind k, uint64_t i) : kind(k), id(i) {}
  const MfsKind kind;
  const uint64_t id;
  std::atomic<uint64_t> tag{0};

  // Guarded by the tree mutex.
  std::weak_ptr<Node> parent;
  std::string name;
  // Files, symlinks, special files: further names (hard links) besides parent/name.
  std::vector<std::pair<std::weak_ptr<Node>, std::string>> more_links;
  std::atomic<bool> tracked{false};  // in the tree's POSIX registry
  bool removed = false;  // unlinked, or replaced by a rename
  struct Child {
    NodeRef node;    // null until looked up
    DagEntry entry;  // the child's entry as of the last materialisation (or the DAG's)
  };
  bool loaded = false;     // directories: children read from the DAG
  std::map<std::string, Child, std::less<>> children;
  bool dir_stale = false;  // directories: entry no longer matches the children
  // Directories: `entry` is guarded by the tree mutex; files: by `mu`. Symlinks: immutable.
  DagEntry entry;

  // Guarded by mu.
  std::mutex mu;
  bool stale = false;  // files: entry no longer matches the content or metadata
  // Removed by another process (found missing when a reload re-bound the tree): changes fail
  // with kNotFound instead of going into a node no path reaches. Never set by a local unlink,
  // after which an open file keeps working as POSIX wants.
  bool gone = false;
  uint64_t size = 0;   // files
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint32_t nlink = 1;  // names (hard links); 0 once the last is removed
  uint64_t rdev = 0;   // device nodes
  timespec atime{};
  bool mode_in_dag = false, mtime_in_dag = false;
  timespec mtime{}, ctime{};
  std::unique_ptr<FileState> file;  // files: present while being changed
  std::string target;               // symlinks
};

// A BlockSink for DagWriter that buffers into MfsBlocks.
class MfsPendingSink : public BlockSink {
 public:
  explicit MfsPendingSink(MfsBlocks& b) : blocks_(b) {}
  Status Put(const Cid& cid, ByteView data, bool trusted = false) override;
  Status Flush() override { return Status::Ok(); }

 private:
  MfsBlocks& blocks_;
};

}  // namespace ipfskit
