// MfsBlocks: where the MFS tree reads and writes blocks.
//
// Writes are buffered in memory (the "pending" set) and are readable from there at once, so a
// file closed a moment ago reads back without an LMDB commit. Pending blocks reach the repo
//   - in one repo transaction together with the new root CID (CommitRoot): after it returns the
//     blocks and the root that references them are durable at the same instant, with one fsync;
//   - or, when more than `pending_limit` bytes are pending (a large file being written), in a
//     transaction of their own (blocks only; the root moves at the next CommitRoot).
// Blocks written before a root covers them are in this object's repo lease, so a `repo gc` in
// any process keeps them. CommitRoot with release_staged (the caller knows that the root covers
// every block the live tree needs) releases the lease in the same transaction.
// Reads: pending, then the repo, then the optional fallback (network sources).
//
// Thread-safe. Errors: kNoSpace when the repo's disk or LMDB map is full; pending blocks are then
// kept (nothing is lost) and the next flush retries.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/store/repo.h"

namespace ipfskit {

class MfsBlocks : public BlockGetter {
 public:
  static Result<std::shared_ptr<MfsBlocks>> Open(std::shared_ptr<Repo> repo, std::shared_ptr<BlockGetter> fallback,
                                                 size_t pending_limit);

  Result<Block> Get(const Cid& cid) override;
  bool Has(const Cid& cid) override;
  void Prefetch(std::span<const Cid> cids) override {
    if (fallback_) fallback_->Prefetch(cids);
  }

  // Buffers a block whose CID the caller just computed. May flush (see above).
  Status Put(const Cid& cid, Bytes data);
  // Meta entries written with a root: a value sets the key, nullopt deletes it.
  using MetaChanges = std::vector<std::pair<std::string, std::optional<Bytes>>>;
  // Writes every pending block and, when given, meta[key] = root and `extra` (data kept beside
  // the tree, e.g. POSIX attributes UnixFS cannot hold), in one transaction.
  Status CommitRoot(const std::string& key, const std::optional<Cid>& root, const MetaChanges& extra = {},
                    bool release_staged = false);
  // True when blocks are in the lease (written without a root that covers them).
  bool has_staged() const;

  size_t pending_bytes() const;
  size_t pending_blocks() const;
  uint64_t commits() const;
  Repo& repo() { return *repo_; }

 private:
  MfsBlocks() = default;
  void PruneUnreachableLocked(const Cid& root);  // mu_ held
  Status WriteLocked(const std::string* key, const Cid* root, const MetaChanges* extra, bool release);  // mu_ held

  std::shared_ptr<Repo> repo_;
  std::shared_ptr<BlockGetter> fallback_;
  size_t pending_limit_ = 0;

  mutable std::mutex mu_;
  std::unordered_map<Cid, std::shared_ptr<const Bytes>> pending_;
  size_t pending_bytes_ = 0;
  uint64_t commits_ = 0;
  std::unique_ptr<RepoLease> lease_;
  bool staged_ = false;  // the lease holds blocks  // made at the first write that needs it
};

}  // namespace ipfskit
