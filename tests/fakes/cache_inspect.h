// Reads the cache's db directly (not through ArcBlockCache), so tests check what is really
// stored: every key must be a CID whose multihash matches its value.
#pragma once

#include <string>

#include "core/multiformats/cid.h"
#include "core/store/repo.h"

namespace ipfskit::testing {

struct CacheContents {
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t bad = 0;  // keys that are not CIDs or values that do not match them
};

inline CacheContents InspectCache(Repo& repo) {
  CacheContents c;
  auto db = repo.OpenDb("cache.blocks");
  auto txn = repo.BeginRead();
  if (!db.ok() || !txn.ok()) return c;
  (void)txn->ForEach(*db, [&](ByteView k, ByteView v) {
    ++c.blocks;
    c.bytes += v.size();
    auto cid = Cid::FromBytes(k);
    if (!cid.ok() || !cid->Verifies(v)) ++c.bad;
    return true;
  });
  return c;
}

}  // namespace ipfskit::testing
