// DecodedNodeCache: decoded dag-pb nodes with links (a file's root and inner nodes, directories,
// HAMT shards), so that every read of a file does not decode its root and the inner node above
// the wanted leaves again (one Cid allocation per link: 174 for an inner node of a balanced file),
// and every lookup in a HAMT directory does not decode its shards again.
//
// Content is immutable, so an entry never goes stale; the cache only bounds memory. It holds
// decoded copies, never Blocks: a Block may hold an LMDB read transaction, which must not live
// for as long as an entry may.
//
// Bounded by an estimate of each entry's bytes (block size plus the links' decoded size), least
// recently used first out. Thread-safe: the keys are split over shards, each with its own mutex
// (no other lock is taken under it). Entries are shared_ptr<const>: a reader keeps using an entry
// that is evicted meanwhile.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/codec/dagpb.h"
#include "core/codec/unixfs.h"

namespace ipfskit {

struct DecodedNode {
  PbNode node;
  UnixfsData data;
  uint64_t block_size = 0;
};

class DecodedNodeCache {
 public:
  static constexpr uint64_t kDefaultMaxBytes = uint64_t{32} << 20;
  explicit DecodedNodeCache(uint64_t max_bytes = kDefaultMaxBytes);

  // nullptr when absent.
  std::shared_ptr<const DecodedNode> Find(const Cid& cid);
  // Keeps `node` unless it alone is over a shard's share of the bound.
  void Insert(const Cid& cid, std::shared_ptr<const DecodedNode> node);

  uint64_t bytes() const;    // estimated bytes held, all shards
  uint64_t entries() const;  // entries held, all shards
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

  // What an entry counts against the bound.
  static uint64_t Cost(const DecodedNode& n);

 private:
  static constexpr size_t kShards = 8;
  struct Shard {
    using Lru = std::list<std::pair<Cid, std::shared_ptr<const DecodedNode>>>;
    mutable std::mutex mu;
    Lru lru;  // most recently used first
    std::unordered_map<Cid, Lru::iterator> index;
    uint64_t bytes = 0;
  };
  Shard& ShardFor(const Cid& cid);

  uint64_t shard_max_bytes_;
  Shard shards_[kShards];
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace ipfskit
