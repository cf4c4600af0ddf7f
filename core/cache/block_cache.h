// BlockCache: where blocks fetched from the network are kept. Only network blocks go here;
// pinned and locally added blocks live in the Repo's blocks db and are never evicted by a cache.
#pragma once

#include <cstdint>

#include "core/store/block_store.h"

namespace ipfskit {

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  double hit_ratio = 0;  // hits / (hits + misses), 0 when nothing was asked
  uint64_t bytes = 0;    // block bytes resident (T1 + T2)
  uint64_t max_bytes = 0;
  uint64_t entries = 0;
  uint64_t inserts = 0;
  uint64_t evictions = 0;
  uint64_t declined = 0;               // blocks larger than the cache
  uint64_t verification_failures = 0;  // blocks offered or read whose bytes did not match
  uint64_t p = 0;                      // ARC's adaptive T1 target, bytes
  uint64_t t1_bytes = 0, t2_bytes = 0, b1_bytes = 0, b2_bytes = 0;
  uint64_t t1_entries = 0, t2_entries = 0, b1_entries = 0, b2_entries = 0;
  uint64_t pending_bytes = 0;  // admitted, not yet committed to disk
  uint64_t commits = 0;
  uint64_t commit_errors = 0;
};

// Thread-safe. Get: kNotFound on a miss. Put verifies the bytes against the CID and refuses a
// mismatch with kHashMismatch (counted) before anything is stored.
class BlockCache : public BlockGetter {
 public:
  virtual Status Put(const Cid& cid, ByteView data) = 0;
  virtual CacheStats Stats() = 0;
  // Makes everything put so far, and the replacement state, durable.
  virtual Status Flush() = 0;
};

}  // namespace ipfskit
