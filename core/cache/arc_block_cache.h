// ArcBlockCache: network blocks in LMDB, bounded in bytes, replaced by ARC (arc_policy.h).
//
// Writes are batched (write-behind): Put verifies the block, updates the policy and queues the
// block; a flusher thread commits the queue in one transaction every `batch_window` (or sooner
// when `batch_bytes` are queued), so filling the cache costs one fsync per batch, not per block.
// Queued blocks are served by Get like committed ones. A crash loses at most the last batch.
//
// Storage: two named dbs in the repo's environment, written in the same transaction so they
// always agree:
//   cache.blocks  CID bytes -> block bytes
//   cache.arc     CID bytes -> list (1 byte) | seq (8) | size (8), and "\xffp" -> p (8)
// The ARC lists, ghosts included, are rebuilt from cache.arc on open, so the cache keeps its
// contents and its learned balance across restarts. Hits from Get are applied to the lists
// later, under the writer's lock (a read never waits for a write transaction); their order is
// persisted with the next batch, or every ~2 s when there is nothing else to write. A crash
// loses at most that, never consistency between the two dbs.
//
// Hits are views into LMDB's memory map: the returned Block holds a shared read transaction, so
// the pages stay valid even if the block is evicted meanwhile. All access goes through the
// repo's store (Repo::OpenDb, BeginRead, BeginWrite).
// The byte bound counts block bytes, not LMDB's page overhead.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/cache/arc_policy.h"
#include "core/cache/block_cache.h"
#include "core/store/repo.h"

namespace ipfskit {

struct ArcCacheOptions {
  uint64_t max_bytes = uint64_t{2} << 30;
  // Re-hash every hit before returning it (guards against on-disk corruption; costs a hash).
  bool verify_on_read = false;
  std::chrono::milliseconds batch_window{20};
  uint64_t batch_bytes = uint64_t{16} << 20;
  // Put waits for the flusher when this much is queued (back-pressure).
  uint64_t max_pending_bytes = uint64_t{128} << 20;
};

class ArcBlockCache : public BlockCache {
 public:
  // The cache's dbs live in `repo` (created there when missing); a writable repo is needed.
  static Result<std::shared_ptr<ArcBlockCache>> Open(std::shared_ptr<Repo> repo, ArcCacheOptions options);
  ~ArcBlockCache() override;

  Result<Block> Get(const Cid& cid) override;
  bool Has(const Cid& cid) override;
  Status Put(const Cid& cid, ByteView data) override;
  // Put without hashing the bytes again: for a caller that has just checked them against the
  // CID (SourceChain: every source verifies what it returns).
  Status PutVerified(const Cid& cid, ByteView data);
  // The same, keeping `block` itself until it is committed instead of a copy of its bytes. The
  // block must own its bytes (a remote source's block), not view a read transaction: a pending
  // block can live a whole batch window, and a transaction held that long pins freed pages.
  Status PutVerified(const Cid& cid, Block block);
  CacheStats Stats() override;
  Status Flush() override;

  // Removes every cached block (e.g. `ipfskit cache clear`).
  Status Clear();

 private:
  struct Snapshot;
  ArcBlockCache() = default;
  using Changes = std::vector<ArcPolicy<std::string>::EntryState>;
  Status Load();                                   // rebuild the policy from the dbs; mu_ held
  Status Persist(RepoTxn& txn, const Changes& changes, uint64_t p);
  void DrainTouchesLocked();                       // mu_ held
  Status CommitPending(bool force);                // one batch; takes commit_mu_ then mu_
  void FlusherLoop();
  std::optional<Block> FindPending(const std::string& key);
  bool Declines(const Cid& cid, uint64_t size);  // identity, or over max_bytes (counted)
  Result<std::shared_ptr<Snapshot>> CurrentSnapshot();
  Result<ByteView> Lookup(const Cid& cid, std::shared_ptr<Snapshot>* snap);
  Result<Block> Find(const Cid& cid, const std::string& key);  // store, then queue (no stats)

  std::shared_ptr<Repo> repo_;
  ArcCacheOptions options_;
  RepoDb blocks_db_, arc_db_;

  std::mutex commit_mu_;  // one commit at a time. Taken before mu_.
  std::mutex mu_;         // policy_ and the queues. Taken before touch_mu_.
  ArcPolicy<std::string> policy_{0};
  // Blocks admitted but not committed, and evicted blocks whose deletion is not committed.
  std::unordered_map<std::string, Block> pending_puts_;
  std::unordered_set<std::string> pending_dels_;
  // The batch being committed now: still served by Get until the commit is visible.
  std::unordered_map<std::string, Block> committing_;
  uint64_t pending_bytes_ = 0;
  std::condition_variable flush_cv_;    // wakes the flusher
  std::condition_variable drained_cv_;  // wakes Puts held back by max_pending_bytes
  bool stop_ = false;
  std::thread flusher_;

  std::mutex touch_mu_;
  std::vector<std::string> touches_;  // hits not yet applied to policy_

  std::mutex snap_mu_;
  std::shared_ptr<Snapshot> snap_;
  std::atomic<uint64_t> generation_{1};

  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, evictions_{0}, declined_{0}, verify_failures_{0},
      commits_{0}, commit_errors_{0};
};

}  // namespace ipfskit
