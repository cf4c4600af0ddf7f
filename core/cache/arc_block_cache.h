// ArcBlockCache: network blocks in LMDB, bounded in bytes, replaced by ARC (arc_policy.h).
//
// Storage: two named dbs in the repo's environment, written in the same transaction so they
// always agree:
//   cache.blocks  CID bytes -> block bytes
//   cache.arc     CID bytes -> list (1 byte) | seq (8) | size (8), and "\xffp" -> p (8)
// The ARC lists, ghosts included, are rebuilt from cache.arc on open, so the cache keeps its
// contents and its learned balance across restarts. Hits from Get are moved in the lists at the
// next Put or Flush (a read never waits for a write transaction); a crash loses at most that
// ordering, never consistency between the two dbs.
//
// Hits are views into LMDB's memory map: the returned Block holds a shared read transaction, so
// the pages stay valid even if the block is evicted meanwhile (the env must be MDB_NOTLS).
// The byte bound counts block bytes, not LMDB's page overhead.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/cache/arc_policy.h"
#include "core/cache/block_cache.h"

namespace ipfskit {

struct ArcCacheOptions {
  uint64_t max_bytes = uint64_t{2} << 30;
  // Re-hash every hit before returning it (guards against on-disk corruption; costs a hash).
  bool verify_on_read = false;
};

class ArcBlockCache : public BlockCache {
 public:
  // env must be opened with MDB_NOTLS and room for two more named dbs; env_owner keeps it
  // open for as long as the cache or any Block from it lives (e.g. the Repo).
  static Result<std::shared_ptr<ArcBlockCache>> Open(MDB_env* env, std::shared_ptr<const void> env_owner,
                                                     ArcCacheOptions options);
  ~ArcBlockCache() override;

  Result<Block> Get(const Cid& cid) override;
  bool Has(const Cid& cid) override;
  Status Put(const Cid& cid, ByteView data) override;
  CacheStats Stats() override;
  Status Flush() override;

  // Removes every cached block (e.g. `ipfskit cache clear`).
  Status Clear();

 private:
  struct Snapshot;
  ArcBlockCache() = default;
  Status Load();                          // rebuild the policy from cache.arc; mu_ held
  Status Persist(MDB_txn* txn);           // write the policy's changes; mu_ held
  void DrainTouchesLocked();              // mu_ held
  Result<std::shared_ptr<Snapshot>> CurrentSnapshot();
  Result<ByteView> Lookup(const Cid& cid, std::shared_ptr<Snapshot>* snap);

  MDB_env* env_ = nullptr;
  std::shared_ptr<const void> env_owner_;
  ArcCacheOptions options_;
  MDB_dbi blocks_dbi_ = 0, arc_dbi_ = 0;

  std::mutex mu_;  // policy_, writes. Taken before touch_mu_.
  ArcPolicy<std::string> policy_{0};

  std::mutex touch_mu_;
  std::vector<std::string> touches_;  // hits not yet applied to policy_

  std::mutex snap_mu_;
  std::shared_ptr<Snapshot> snap_;
  std::atomic<uint64_t> generation_{1};

  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, evictions_{0}, declined_{0}, verify_failures_{0};
};

}  // namespace ipfskit
