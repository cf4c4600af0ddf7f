// Repo: the on-disk ipfskit repository, and the one owner of its LMDB environment.
//
// Layout of a repo directory ($IPFSKIT_PATH, default $XDG_DATA_HOME/ipfskit, i.e.
// ~/.local/share/ipfskit):
//   version        text file with the repo format version ("1")
//   config.json    user configuration (optional)
//   data.mdb, lock.mdb   the LMDB environment
//   leases/        one lock file per live lease (see RepoLease)
// Named databases inside the environment:
//   blocks   CID bytes -> block bytes (locally added or imported blocks)
//   pins     CID bytes -> 1 byte pin type (recursive/direct)
//   meta     string keys -> bytes. A key ending in ".root" whose value is CID bytes (e.g.
//            "mfs.root") names the root of a tree kept in this repo: gc keeps its whole DAG.
//   leases   lease id (8 bytes) + CID bytes -> empty: blocks written before what references them
//            (a tree root, a pin) is committed; gc keeps them while the lease's owner lives.
// Other components (the cache, MFS side data) get databases of their own from OpenDb.
//
// Ownership (the store contract, after CernVM-FS's CacheManager): nothing but Repo touches the
// environment. Every write goes through a RepoTxn: StartTxn is BeginWrite, then Put*/Del*,
// then Commit; destroying an uncommitted RepoTxn aborts it (AbortTxn). One write transaction
// at a time per repo, across processes (LMDB's writer lock); a write transaction belongs to the
// thread that began it and must be committed or aborted there.
//
// Garbage collection (Gc) runs inside one write transaction, so it sees a consistent repo and no
// write can land between its mark and sweep, in this process or another. Its roots are all
// recorded in the database: pins, tree roots in meta, and the blocks of live leases.
//
// Thread safety: all methods may be called from any thread. Reads never block writes
// (LMDB MVCC). Writes are serialised by LMDB's single writer lock.
#pragma once

#include <lmdb.h>

#include <functional>
#include <initializer_list>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/multiformats/cid.h"
#include "core/store/block_store.h"

namespace ipfskit {

enum class PinType : uint8_t { kDirect = 1, kRecursive = 2 };

class Repo;
struct RepoEnv;  // the open environment, shared by a process's Repos, txns and Blocks

// A named database of a component other than the repo's own (OpenDb). A plain handle, valid
// while the Repo that opened it lives.
struct RepoDb {
  MDB_dbi dbi = 0;
};

// Protects blocks written before the root or pin that references them is committed (an import
// in progress, an MFS tree that spilled a large file's leaves). Recorded in the `leases`
// database, so a gc in any process keeps them. The owner holds an flock on
// leases/<id>.lock; a gc that can take that lock knows the owner is dead (kill -9 included) and
// reclaims the lease. Destroying a lease releases it (its entries are deleted). Not thread-safe
// itself; use it from one thread at a time (RepoTxn calls included).
class RepoLease;
class RepoTxn;
Result<RepoTxn> BeginRepoTxn(const std::shared_ptr<RepoEnv>& env, bool write);
Result<std::unique_ptr<RepoLease>> NewRepoLease(const std::shared_ptr<RepoEnv>& env);

class RepoLease {
 public:
  ~RepoLease();
  RepoLease(const RepoLease&) = delete;
  RepoLease& operator=(const RepoLease&) = delete;
  const std::string& id_hex() const { return id_hex_; }

 private:
  friend class Repo;
  friend class RepoTxn;
  friend Result<std::unique_ptr<RepoLease>> NewRepoLease(const std::shared_ptr<RepoEnv>& env);
  RepoLease() = default;
  std::shared_ptr<RepoEnv> env_;
  uint8_t id_[8] = {};
  std::string id_hex_;
  std::string lock_path_;
  int fd_ = -1;
  bool has_entries_ = false;  // entries may exist in the database
};

// A transaction (see the store contract above). Read transactions (BeginRead) may be used from
// several threads at once for Get; write transactions only from the thread that began them.
class RepoTxn {
 public:
  RepoTxn() = default;
  RepoTxn(RepoTxn&&) noexcept;
  RepoTxn& operator=(RepoTxn&&) noexcept;
  ~RepoTxn();  // aborts unless committed
  explicit operator bool() const { return txn_ != nullptr; }

  // A component's own database. Get: nullopt when absent; the view lives as long as the txn.
  Result<std::optional<ByteView>> Get(RepoDb db, ByteView key) const;
  Status Put(RepoDb db, ByteView key, ByteView value);
  Status Del(RepoDb db, ByteView key);  // an absent key is not an error
  Status Clear(RepoDb db);              // removes every entry
  // Calls fn for each entry in key order until it returns false.
  Status ForEach(RepoDb db, const std::function<bool(ByteView key, ByteView value)>& fn) const;

  // Blocks. PutBlock stores trusted bytes (the caller computed or verified the CID); a block
  // that is already there is fine. With a lease, the CID is recorded in it in this same txn.
  Result<std::optional<ByteView>> GetBlock(const Cid& cid) const;
  Status PutBlock(const Cid& cid, ByteView data, RepoLease* lease = nullptr);
  // Calls fn(CID bytes, block bytes) for each stored block until it returns false.
  Status ForEachBlock(const std::function<bool(ByteView key, ByteView value)>& fn) const;
  // Meta: value bytes, or delete (absent is fine).
  Status PutMeta(std::string_view key, ByteView value);
  Status DelMeta(std::string_view key);
  // Deletes the lease's entries in this txn (once the root or pin that covers them is in it).
  Status ReleaseLease(RepoLease& lease);

  // Commits. Errors: kNoSpace when the disk or the map is full; the txn is gone either way.
  Status Commit();
  void Abort();

 private:
  friend class Repo;
  friend class RepoLease;
  friend Result<RepoTxn> BeginRepoTxn(const std::shared_ptr<RepoEnv>& env, bool write);
  Error Err(int rc, std::string_view what) const;
  std::shared_ptr<RepoEnv> env_;
  MDB_txn* txn_ = nullptr;
  bool blocks_changed_ = false;
  std::vector<RepoLease*> leases_touched_;  // marked has_entries_ on commit
  std::vector<RepoLease*> released_;        // cleared on commit
};

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
  uint64_t live_leases = 0;       // leases whose blocks were kept
  uint64_t reclaimed_leases = 0;  // leases of dead owners, deleted
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

  // Removes every block not reachable from a pin, a tree root in meta, a live lease, nor from
  // `extra_roots`; reclaims the leases of dead owners. One write transaction.
  Result<GcResult> Gc(const std::vector<Cid>& extra_roots = {});

  // The store: transactions, leases and component databases (contract at the top).
  // BeginRead loads the roots of `dbs` so that Gets from several threads are safe.
  Result<RepoTxn> BeginWrite();
  Result<RepoTxn> BeginRead(std::initializer_list<RepoDb> dbs = {});
  // Opens (creating it in a writable repo) a component's database. The repo's own names
  // (blocks, pins, meta, leases) are refused. The handle is the same for every Repo on the
  // same directory in this process.
  Result<RepoDb> OpenDb(const std::string& name);
  Result<std::unique_ptr<RepoLease>> NewLease();
  // Closes the shared read snapshot if it is older than its maximum age (1 s). Call it now and
  // then from a long-lived process: an open snapshot keeps LMDB from reusing any page freed
  // since it began, by any process, so an idle one makes data.mdb grow and a full disk stay full.
  void ReleaseOldSnapshot();
  // Number of leases recorded in the database (live or not yet reclaimed).
  Result<uint64_t> CountLeases();

  // Small key/value store for repo metadata.
  Status PutMeta(std::string_view key, ByteView value);
  Result<Bytes> GetMeta(std::string_view key);  // kNotFound when absent

  Result<RepoStat> Stat();
  const std::string& path() const { return path_; }
  bool read_only() const;

 private:
  Repo() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

}  // namespace ipfskit
