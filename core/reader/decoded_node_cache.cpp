#include "core/reader/decoded_node_cache.h"

namespace ipfskit {

DecodedNodeCache::DecodedNodeCache(uint64_t max_bytes) : shard_max_bytes_(max_bytes / kShards) {}

DecodedNodeCache::Shard& DecodedNodeCache::ShardFor(const Cid& cid) {
  // The low bits of std::hash feed the shard's own map: take high ones for the shard.
  return shards_[(std::hash<Cid>{}(cid) >> 29) % kShards];
}

uint64_t DecodedNodeCache::Cost(const DecodedNode& n) {
  uint64_t c = sizeof(DecodedNode) + n.block_size + n.node.links.size() * (sizeof(PbLink) + 48) +
               n.data.blocksizes.size() * sizeof(uint64_t);
  if (n.data.data) c += n.data.data->size();
  if (n.node.data) c += n.node.data->size();
  return c;
}

std::shared_ptr<const DecodedNode> DecodedNodeCache::Find(const Cid& cid) {
  Shard& s = ShardFor(cid);
  std::lock_guard lock(s.mu);
  auto it = s.index.find(cid);
  if (it == s.index.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->second;
}

void DecodedNodeCache::Insert(const Cid& cid, std::shared_ptr<const DecodedNode> node) {
  const uint64_t cost = Cost(*node);
  if (cost > shard_max_bytes_) return;
  Shard& s = ShardFor(cid);
  std::lock_guard lock(s.mu);
  if (s.index.count(cid)) return;  // another reader decoded it too
  s.lru.emplace_front(cid, std::move(node));
  s.index.emplace(cid, s.lru.begin());
  s.bytes += cost;
  while (s.bytes > shard_max_bytes_) {
    auto& [old_cid, old] = s.lru.back();
    s.bytes -= Cost(*old);
    s.index.erase(old_cid);
    s.lru.pop_back();
  }
}

uint64_t DecodedNodeCache::bytes() const {
  uint64_t total = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    total += s.bytes;
  }
  return total;
}

uint64_t DecodedNodeCache::entries() const {
  uint64_t total = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    total += s.index.size();
  }
  return total;
}

}  // namespace ipfskit
