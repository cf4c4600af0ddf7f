#include "core/mfs/mfs_blocks.h"

#include <algorithm>
#include <unordered_set>
#include <vector>

#include "core/store/dag_links.h"


namespace ipfskit {

Result<std::shared_ptr<MfsBlocks>> MfsBlocks::Open(std::shared_ptr<Repo> repo, std::shared_ptr<BlockGetter> fallback,
                                                   size_t pending_limit) {
  auto b = std::shared_ptr<MfsBlocks>(new MfsBlocks());
  b->repo_ = std::move(repo);
  b->fallback_ = std::move(fallback);
  b->pending_limit_ = std::max<size_t>(pending_limit, 1);
  return b;
}

Result<Block> MfsBlocks::Get(const Cid& cid) {
  if (cid.is_identity()) return IdentityBlock(cid);
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(cid);
    if (it != pending_.end()) return Block::View(ByteView(*it->second), it->second);
  }
  auto b = repo_->Get(cid);
  if (b.ok() || b.error().code != Errc::kNotFound || !fallback_) return b;
  return fallback_->Get(cid);
}

bool MfsBlocks::Has(const Cid& cid) {
  {
    std::lock_guard lock(mu_);
    if (pending_.count(cid)) return true;
  }
  return repo_->Has(cid);
}

Status MfsBlocks::Put(const Cid& cid, Bytes data) {
  if (cid.is_identity()) return Status::Ok();
  std::lock_guard lock(mu_);
  auto [it, inserted] = pending_.try_emplace(cid, nullptr);
  if (!inserted) return Status::Ok();
  pending_bytes_ += data.size();
  it->second = std::make_shared<const Bytes>(std::move(data));
  if (pending_bytes_ < pending_limit_) return Status::Ok();
  return WriteLocked(nullptr, nullptr, nullptr, false);
}

Status MfsBlocks::CommitRoot(const std::string& key, const std::optional<Cid>& root, const MetaChanges& extra,
                             bool release_staged) {
  std::lock_guard lock(mu_);
  return WriteLocked(root ? &key : nullptr, root ? &*root : nullptr, &extra, release_staged && root);
}

void MfsBlocks::PruneUnreachableLocked(const Cid& root) {
  if (pending_.empty()) return;
  // Only pending blocks are walked: a block already in the repo has its children there too
  // (blocks reach the repo in batches that hold a parent's children with it, or before it).
  std::unordered_set<Cid> reached;
  std::vector<Cid> walk{root};
  while (!walk.empty()) {
    Cid c = std::move(walk.back());
    walk.pop_back();
    auto it = pending_.find(c);
    if (it == pending_.end() || !reached.insert(c).second) continue;
    auto links = DagLinks(c, *it->second);
    if (!links.ok()) return;  // cannot tell what it keeps: keep everything
    for (Cid& l : *links) walk.push_back(std::move(l));
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (reached.count(it->first)) {
      ++it;
      continue;
    }
    pending_bytes_ -= std::min(pending_bytes_, it->second->size());
    it = pending_.erase(it);
  }
}

bool MfsBlocks::has_staged() const {
  std::lock_guard lock(mu_);
  return staged_;
}

Status MfsBlocks::WriteLocked(const std::string* key, const Cid* root, const MetaChanges* extra, bool release) {
  if (pending_.empty() && !key && (!extra || extra->empty()) && !(release && staged_)) return Status::Ok();
  // Blocks the new root does not cover yet go into the lease.
  if (!release && !pending_.empty() && !lease_) {
    IPFSKIT_ASSIGN_OR_RETURN(lease_, repo_->NewLease());
  }
  RepoLease* lease = release ? nullptr : lease_.get();
  // The root covers everything the live tree needs: pending blocks it does not reach belong to
  // files removed before they were committed. Dropping them saves the writes, and on a full
  // disk it is what lets the commit of the removals succeed at all.
  if (release && root) PruneUnreachableLocked(*root);
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  // Sorted keys keep LMDB's page writes together.
  std::vector<std::pair<const Cid*, const Bytes*>> order;
  order.reserve(pending_.size());
  for (const auto& [cid, data] : pending_) order.emplace_back(&cid, data.get());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
  for (const auto& [cid, data] : order) IPFSKIT_TRY_STATUS(txn.PutBlock(*cid, *data, lease));
  if (key) IPFSKIT_TRY_STATUS(txn.PutMeta(*key, root->bytes()));
  if (extra) {
    for (const auto& [name, value] : *extra) {
      if (value) IPFSKIT_TRY_STATUS(txn.PutMeta(name, *value));
      else IPFSKIT_TRY_STATUS(txn.DelMeta(name));
    }
  }
  if (release && lease_) IPFSKIT_TRY_STATUS(txn.ReleaseLease(*lease_));
  IPFSKIT_TRY_STATUS(txn.Commit());
  if (release) staged_ = false;
  else if (!pending_.empty()) staged_ = true;
  pending_.clear();
  pending_bytes_ = 0;
  ++commits_;
  return Status::Ok();
}

size_t MfsBlocks::pending_bytes() const {
  std::lock_guard lock(mu_);
  return pending_bytes_;
}
size_t MfsBlocks::pending_blocks() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}
uint64_t MfsBlocks::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

}  // namespace ipfskit
