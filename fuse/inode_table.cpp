#include "fuse/inode_table.h"

#include "core/util/log.h"

#include <cstdio>
#include <cstdlib>

namespace ipfskit::fs {

uint64_t AllocateDynamicIno() {
  static std::atomic<uint64_t> next{1};
  return kDynamicInoBit | next.fetch_add(1);
}

void InodeTable::Remember(const std::shared_ptr<Node>& node) {
  Shard& s = ShardFor(node->ino());
  std::lock_guard<std::mutex> lk(s.mu);
  Entry& e = s.map[node->ino()];
  if (!e.node) e.node = node;
  ++e.nlookup;
}

void InodeTable::Forget(uint64_t ino, uint64_t n) {
  Shard& s = ShardFor(ino);
  std::lock_guard<std::mutex> lk(s.mu);
  auto it = s.map.find(ino);
  if (it == s.map.end()) return;  // pinned static nodes forgotten after unmount races
  if (it->second.nlookup < n && !it->second.pinned) {
    spdlog::critical("forget of inode {} below zero ({} < {})", ino, it->second.nlookup, n);
    log::FlushLog();
    std::abort();
  }
  it->second.nlookup -= std::min(n, it->second.nlookup);
  if (it->second.nlookup == 0 && !it->second.pinned) s.map.erase(it);
}

std::shared_ptr<Node> InodeTable::Find(uint64_t ino) {
  Shard& s = ShardFor(ino);
  std::lock_guard<std::mutex> lk(s.mu);
  auto it = s.map.find(ino);
  return it == s.map.end() ? nullptr : it->second.node;
}

void InodeTable::Pin(const std::shared_ptr<Node>& node) {
  Shard& s = ShardFor(node->ino());
  std::lock_guard<std::mutex> lk(s.mu);
  Entry& e = s.map[node->ino()];
  e.node = node;
  e.pinned = true;
}

size_t InodeTable::size() {
  size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lk(s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace ipfskit::fs
