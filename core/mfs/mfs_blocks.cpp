#include "core/mfs/mfs_blocks.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <vector>

#include "core/store/lmdb.h"

namespace ipfskit {

namespace {
// mdb_dbi_open must not run in two transactions of one process at once.
std::mutex g_dbi_open_mu;

// LMDB reports a short write (the disk filled up mid-write) as EIO. Tell that apart from a
// failing disk by looking at the free space where the repo lives.
Error CommitError(int rc, const std::string& dir, size_t bytes, const std::string& where) {
  struct statvfs sv;
  if (rc == EIO && ::statvfs(dir.c_str(), &sv) == 0 &&
      static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize < bytes + (uint64_t{4} << 20))
    return MakeError(Errc::kNoSpace, "no space left on device during " + where);
  return lmdb::ToError(rc, where);
}
}  // namespace

Result<std::shared_ptr<MfsBlocks>> MfsBlocks::Open(std::shared_ptr<Repo> repo, std::shared_ptr<BlockGetter> fallback,
                                                   size_t pending_limit) {
  auto b = std::shared_ptr<MfsBlocks>(new MfsBlocks());
  b->repo_ = std::move(repo);
  b->fallback_ = std::move(fallback);
  b->pending_limit_ = std::max<size_t>(pending_limit, 1);
  // The repo has created these databases; opening them by name gives this environment's
  // existing handles, so our commits can hold blocks and the root together.
  std::lock_guard lock(g_dbi_open_mu);
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(b->repo_->env(), MDB_RDONLY, &txn);
  if (rc) return lmdb::ToError(rc, "mfs: begin transaction in repo " + b->repo_->path());
  if ((rc = mdb_dbi_open(txn.get(), "blocks", 0, &b->blocks_dbi_)) ||
      (rc = mdb_dbi_open(txn.get(), "meta", 0, &b->meta_dbi_)))
    return lmdb::ToError(rc, "mfs: open databases in repo " + b->repo_->path());
  if ((rc = txn.Commit())) return lmdb::ToError(rc, "mfs: open databases in repo " + b->repo_->path());
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
  return WriteLocked(nullptr, nullptr, nullptr);
}

Status MfsBlocks::CommitRoot(const std::string& key, const std::optional<Cid>& root, const MetaChanges& extra) {
  std::lock_guard lock(mu_);
  return WriteLocked(root ? &key : nullptr, root ? &*root : nullptr, &extra);
}

Status MfsBlocks::WriteLocked(const std::string* key, const Cid* root, const MetaChanges* extra) {
  if (pending_.empty() && !key && (!extra || extra->empty())) return Status::Ok();
  const std::string where = "mfs commit in repo " + repo_->path();
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(repo_->env(), 0, &txn);
  if (rc) return lmdb::ToError(rc, where);
  // Sorted keys keep LMDB's page writes together.
  std::vector<std::pair<const Cid*, const Bytes*>> order;
  order.reserve(pending_.size());
  for (const auto& [cid, data] : pending_) order.emplace_back(&cid, data.get());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
  for (const auto& [cid, data] : order) {
    MDB_val k = lmdb::Val(cid->bytes()), v = lmdb::Val(*data);
    rc = mdb_put(txn.get(), blocks_dbi_, &k, &v, MDB_NOOVERWRITE);
    if (rc && rc != MDB_KEYEXIST) return CommitError(rc, repo_->path(), pending_bytes_, where);
  }
  if (key) {
    MDB_val k = lmdb::Val(AsBytes(*key)), v = lmdb::Val(root->bytes());
    rc = mdb_put(txn.get(), meta_dbi_, &k, &v, 0);
    if (rc) return CommitError(rc, repo_->path(), pending_bytes_, where);
  }
  if (extra) {
    for (const auto& [name, value] : *extra) {
      MDB_val k = lmdb::Val(AsBytes(name));
      if (value) {
        MDB_val v = lmdb::Val(*value);
        rc = mdb_put(txn.get(), meta_dbi_, &k, &v, 0);
      } else {
        rc = mdb_del(txn.get(), meta_dbi_, &k, nullptr);
        if (rc == MDB_NOTFOUND) rc = 0;
      }
      if (rc) return CommitError(rc, repo_->path(), pending_bytes_, where);
    }
  }
  if ((rc = txn.Commit())) return CommitError(rc, repo_->path(), pending_bytes_, where);
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
