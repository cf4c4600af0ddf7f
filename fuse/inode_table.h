// The kernel's view of our nodes: inode number -> node, with the lookup count the kernel holds.
// A node stays alive while the kernel remembers it (count > 0) and is dropped by forget.
// Static nodes are pinned and never dropped.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "fuse/node.h"

namespace ipfskit::fs {

class InodeTable {
 public:
  // Records one more kernel reference to `node` (a successful lookup/create/readdirplus entry).
  void Remember(const std::shared_ptr<Node>& node);
  // Drops n references; aborts on a negative count, which would be a kernel/daemon mismatch.
  void Forget(uint64_t ino, uint64_t n);
  std::shared_ptr<Node> Find(uint64_t ino);
  void Pin(const std::shared_ptr<Node>& node);
  size_t size();

 private:
  struct Entry {
    std::shared_ptr<Node> node;
    uint64_t nlookup = 0;
    bool pinned = false;
  };
  // Shards keep concurrent lookups on different inodes from contending.
  static constexpr size_t kShards = 64;
  struct Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, Entry> map;
  };
  Shard& ShardFor(uint64_t ino) { return shards_[(ino ^ (ino >> 17)) % kShards]; }
  Shard shards_[kShards];
};

}  // namespace ipfskit::fs
