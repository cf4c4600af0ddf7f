// Reads the cache's LMDB db directly (not through ArcBlockCache), so tests check what is really
// stored: every key must be a CID whose multihash matches its value.
#pragma once

#include <lmdb.h>

#include <string>

#include "core/multiformats/cid.h"

namespace ipfskit::testing {

struct CacheContents {
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t bad = 0;  // keys that are not CIDs or values that do not match them
};

inline CacheContents InspectCache(MDB_env* env) {
  CacheContents c;
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) return c;
  MDB_dbi dbi;
  if (mdb_dbi_open(txn, "cache.blocks", 0, &dbi) == 0) {
    MDB_cursor* cur = nullptr;
    mdb_cursor_open(txn, dbi, &cur);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      ++c.blocks;
      c.bytes += v.mv_size;
      auto cid = Cid::FromBytes(ByteView(static_cast<const uint8_t*>(k.mv_data), k.mv_size));
      if (!cid.ok() || !cid->Verifies(ByteView(static_cast<const uint8_t*>(v.mv_data), v.mv_size))) ++c.bad;
    }
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  return c;
}

}  // namespace ipfskit::testing
