// Repo: the on-disk ipfskit repository, one LMDB environment per process.
//
// Layout of a repo directory ($IPFSKIT_PATH, default $XDG_DATA_HOME/ipfskit, i.e.
// ~/.local/share/ipfskit):
//   version        text file with the repo format version ("1")
//   config.json    user configuration (optional)
//   data.mdb, lock.mdb   the LMDB environment
// Named databases inside the environment:
//   blocks   CID bytes -> block bytes (locally added or imported blocks)
//   pins     CID bytes -> 1 byte pin type (recursive/direct)
//   meta     string keys -> bytes (e.g. "mfs.root")
// Other components (cache, MFS) open further named databases through env().
//
// Thread safety: all methods may be called from any thread. Reads never block writes
// (LMDB MVCC). Writes are serialised by LMDB's single writer lock.
#pragma once

#include <lmdb.h>

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/multiformats/cid.h"
#include "core/store/block_store.h"

namespace ipfskit {

enum class PinType : uint8_t { kDirect = 1, kRecursive = 2 };

struct RepoOptions {
  std::string path;                       // repo directory
  size_t map_size = size_t{1} << 40;      // LMDB map size (virtual; sparse file)
  bool create = true;                     // initialise when missing
  bool read_only = false;
};

struct RepoStat {
  uint64_t num_blocks = 0;
  uint64_t blocks_bytes = 0;  // sum of block sizes
  uint64_t disk_bytes = 0;    // size of data.mdb
  uint64_t map_size = 0;
  uint64_t num_pins = 0;
};

struct GcResult {
  uint64_t removed_blocks = 0;
  uint64_t removed_bytes = 0;
  std::vector<Cid> removed;
};

// Returns the default repo path: $IPFSKIT_PATH, else $XDG_DATA_HOME/ipfskit, else
// ~/.local/share/ipfskit.
std::string DefaultRepoPath();

// The local blockstore. Get returns views into the LMDB memory map that stay valid while the
// Block is alive (it holds the read transaction). Hold such Blocks briefly: each pins a read
// snapshot (one of 4096 LMDB reader slots) and keeps pages freed since from reuse; copy bytes
// that must be kept long.
class Repo : public BlockGetter {
 public:
  static constexpr int kVersion = 1;

  // Opens (and with create, initialises) the repo. Errors: kNotFound when missing and
  // !create, kUnsupported for a newer repo version, kIo for LMDB failures.
  static Result<std::shared_ptr<Repo>> Open(const RepoOptions& options);
  ~Repo() override;

  // BlockGetter: kNotFound when the block is not stored locally.
  Result<Block> Get(const Cid& cid) override;
  bool Has(const Cid& cid) override;

  // Stores one block in its own transaction. Verifies the hash unless trusted.
  // kHashMismatch for wrong bytes, kNoSpace when the LMDB map is full.
  Status Put(const Cid& cid, ByteView data, bool trusted = false);
  Status Delete(const Cid& cid);

  // A batched writer for imports: blocks accumulate in one write transaction that commits
  // every `batch_bytes` and on Flush(). Not thread-safe itself; one per importing thread is
  // fine (they take turns on LMDB's writer lock). Destroying it without Flush aborts the
  // uncommitted batch.
  std::unique_ptr<BlockSink> NewWriter(size_t batch_bytes = 64 << 20);

  // Pins. A recursive pin protects the whole DAG under it (dag-pb links, dag-cbor links).
  Status Pin(const Cid& cid, PinType type);
  // Removes a pin of either type; kNotFound when not pinned.
  Status Unpin(const Cid& cid);
  Result<std::vector<std::pair<Cid, PinType>>> ListPins();
  std::optional<PinType> PinnedAs(const Cid& cid);

  // Removes every block not reachable from a pin, nor from `extra_roots` (e.g. the MFS root).
  Result<GcResult> Gc(const std::vector<Cid>& extra_roots = {});

  // Small key/value store for repo metadata.
  Status PutMeta(std::string_view key, ByteView value);
  Result<Bytes> GetMeta(std::string_view key);  // kNotFound when absent

  Result<RepoStat> Stat();
  const std::string& path() const { return path_; }
  MDB_env* env() const { return env_; }

 private:
  Repo() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  MDB_env* env_ = nullptr;
};

}  // namespace ipfskit
