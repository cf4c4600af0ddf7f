#include "core/cache/arc_block_cache.h"

#include <algorithm>
#include <cstring>


namespace ipfskit {
namespace {

const std::string kPKey = "\xff" "p";  // CID bytes never start with 0xff
constexpr size_t kRecordSize = 1 + 8 + 8;
constexpr size_t kMaxPendingTouches = 4096;
constexpr int kIdleTicksBeforeStateWrite = 100;  // × batch_window: persist hit order when idle

void PutU64(uint8_t* out, uint64_t v) { std::memcpy(out, &v, 8); }
uint64_t GetU64(const uint8_t* in) {
  uint64_t v;
  std::memcpy(&v, in, 8);
  return v;
}
ByteView KeyView(const std::string& s) { return AsBytes(s); }

}  // namespace

// A read transaction shared by concurrent Gets (Repo::BeginRead makes that safe).
struct ArcBlockCache::Snapshot {
  RepoTxn txn;
  uint64_t generation = 0;
  std::chrono::steady_clock::time_point created;
};

namespace {
// A snapshot is replaced after this long even when the cache did not change: while it is open,
// LMDB cannot reuse any page freed since it began, by any writer (gc, /mfs), in any process,
// so a long-lived one makes data.mdb grow and a full disk stay full.
constexpr auto kSnapshotMaxAge = std::chrono::seconds(1);
}  // namespace

Result<std::shared_ptr<ArcBlockCache>> ArcBlockCache::Open(std::shared_ptr<Repo> repo, ArcCacheOptions options) {
  if (!repo) return MakeError(Errc::kInvalidArgument, "cache: no repo");
  std::shared_ptr<ArcBlockCache> c(new ArcBlockCache());
  c->repo_ = std::move(repo);
  c->options_ = options;
  IPFSKIT_ASSIGN_OR_RETURN(c->blocks_db_, c->repo_->OpenDb("cache.blocks"));
  IPFSKIT_ASSIGN_OR_RETURN(c->arc_db_, c->repo_->OpenDb("cache.arc"));
  {
    std::lock_guard<std::mutex> lock(c->mu_);
    IPFSKIT_TRY_STATUS(c->Load());
  }
  ArcBlockCache* raw = c.get();
  c->flusher_ = std::thread([raw] { raw->FlusherLoop(); });
  return c;
}

ArcBlockCache::~ArcBlockCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  flush_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  (void)CommitPending(/*force=*/true);
}

Status ArcBlockCache::Load() {
  struct Rec {
    std::string key;
    ArcList list;
    uint64_t seq, size;
  };
  std::vector<Rec> recs;
  uint64_t p = 0;
  pending_puts_.clear();
  pending_dels_.clear();
  pending_bytes_ = 0;
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  IPFSKIT_TRY_STATUS(txn.ForEach(arc_db_, [&](ByteView k, ByteView v) {
    std::string key(AsChars(k));
    if (key == kPKey) {
      if (v.size() == 8) p = GetU64(v.data());
      return true;
    }
    if (v.size() != kRecordSize || v[0] < 1 || v[0] > 4) return true;  // unreadable: dropped below
    recs.push_back({std::move(key), static_cast<ArcList>(v[0]), GetU64(v.data() + 1), GetU64(v.data() + 9)});
    return true;
  }));
  std::sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) { return a.seq < b.seq; });
  policy_ = ArcPolicy<std::string>(options_.max_bytes);
  policy_.set_track_changes(true);
  for (const Rec& r : recs) {
    if (r.list == ArcList::kT1 || r.list == ArcList::kT2) {
      IPFSKIT_ASSIGN_OR_RETURN(auto v, txn.Get(blocks_db_, KeyView(r.key)));
      if (!v || v->size() != r.size) continue;  // lost block: forget it
    }
    policy_.Restore(r.key, r.list, r.size, r.seq);
  }
  policy_.RestoreP(p);
  // A smaller max_bytes than last time: evict down to it now (deleted as orphans below).
  std::vector<std::string> evicted;
  policy_.Shrink(&evicted);
  std::vector<std::string> orphans;
  IPFSKIT_TRY_STATUS(txn.ForEach(blocks_db_, [&](ByteView k, ByteView) {
    std::string key(AsChars(k));
    if (!policy_.Resident(key)) orphans.push_back(std::move(key));
    return true;
  }));
  for (const auto& key : orphans) IPFSKIT_TRY_STATUS(txn.Del(blocks_db_, KeyView(key)));
  // Rewrite the state db from the policy.
  IPFSKIT_TRY_STATUS(txn.Clear(arc_db_));
  policy_.MarkAllChanged();
  IPFSKIT_TRY_STATUS(Persist(txn, policy_.TakeChanges(), policy_.p()));
  IPFSKIT_TRY_STATUS(txn.Commit());
  generation_.fetch_add(1);
  return Status::Ok();
}

Status ArcBlockCache::Persist(RepoTxn& txn, const Changes& changes, uint64_t p) {
  for (const auto& e : changes) {
    if (e.list == ArcList::kNone) {
      IPFSKIT_TRY_STATUS(txn.Del(arc_db_, KeyView(e.key)));
      continue;
    }
    uint8_t rec[kRecordSize];
    rec[0] = static_cast<uint8_t>(e.list);
    PutU64(rec + 1, e.seq);
    PutU64(rec + 9, e.size);
    IPFSKIT_TRY_STATUS(txn.Put(arc_db_, KeyView(e.key), ByteView(rec, sizeof(rec))));
  }
  uint8_t pbuf[8];
  PutU64(pbuf, p);
  return txn.Put(arc_db_, KeyView(kPKey), ByteView(pbuf, 8));
}

void ArcBlockCache::DrainTouchesLocked() {
  std::vector<std::string> t;
  {
    std::lock_guard<std::mutex> lock(touch_mu_);
    t.swap(touches_);
  }
  for (const auto& key : t) policy_.Touch(key);
}

Status ArcBlockCache::CommitPending(bool force) {
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  std::unordered_set<std::string> dels;
  Changes changes;
  uint64_t p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    DrainTouchesLocked();
    if (pending_puts_.empty() && pending_dels_.empty() && (!force || !policy_.HasChanges())) return Status::Ok();
    committing_.swap(pending_puts_);
    dels.swap(pending_dels_);
    pending_bytes_ = 0;
    changes = policy_.TakeChanges();
    p = policy_.p();
  }
  drained_cv_.notify_all();
  Status st = [&]() -> Status {
    IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
    for (const auto& key : dels) IPFSKIT_TRY_STATUS(txn.Del(blocks_db_, KeyView(key)));
    for (const auto& [key, data] : committing_) IPFSKIT_TRY_STATUS(txn.Put(blocks_db_, KeyView(key), data.data()));
    IPFSKIT_TRY_STATUS(Persist(txn, changes, p));
    return txn.Commit();
  }();
  if (st.ok()) {
    generation_.fetch_add(1, std::memory_order_release);
    commits_.fetch_add(1);
  } else {
    commit_errors_.fetch_add(1);
  }
  std::lock_guard<std::mutex> lock(mu_);
  committing_.clear();
  // The policy ran ahead of the store: rebuild it from what is committed.
  if (!st.ok()) (void)Load();
  return st;
}

void ArcBlockCache::FlusherLoop() {
  int idle = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    flush_cv_.wait_for(lock, options_.batch_window, [&] { return stop_ || pending_bytes_ >= options_.batch_bytes; });
    if (stop_) break;
    const bool work = !pending_puts_.empty() || !pending_dels_.empty();
    {
      // An idle cache must not pin freed pages (see kSnapshotMaxAge).
      std::lock_guard<std::mutex> sl(snap_mu_);
      if (snap_ && std::chrono::steady_clock::now() - snap_->created > kSnapshotMaxAge) snap_.reset();
    }
    if (!work && ++idle < kIdleTicksBeforeStateWrite) continue;
    idle = 0;
    lock.unlock();
    (void)CommitPending(/*force=*/!work);  // errors are counted in commit_errors_
    lock.lock();
  }
}

std::optional<Block> ArcBlockCache::FindPending(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = pending_puts_.find(key); it != pending_puts_.end()) return it->second;
  if (auto it = committing_.find(key); it != committing_.end()) return it->second;
  return std::nullopt;
}

Result<std::shared_ptr<ArcBlockCache::Snapshot>> ArcBlockCache::CurrentSnapshot() {
  std::lock_guard<std::mutex> lock(snap_mu_);
  const uint64_t gen = generation_.load(std::memory_order_acquire);
  const auto now = std::chrono::steady_clock::now();
  if (snap_ && snap_->generation == gen && now - snap_->created <= kSnapshotMaxAge) return snap_;
  snap_.reset();  // before the new one begins, so it does not count as an old reader
  auto s = std::make_shared<Snapshot>();
  s->generation = gen;
  s->created = now;
  IPFSKIT_ASSIGN_OR_RETURN(s->txn, repo_->BeginRead({blocks_db_}));
  snap_ = s;
  return s;
}

Result<ByteView> ArcBlockCache::Lookup(const Cid& cid, std::shared_ptr<Snapshot>* snap) {
  IPFSKIT_ASSIGN_OR_RETURN(*snap, CurrentSnapshot());
  IPFSKIT_ASSIGN_OR_RETURN(auto v, (*snap)->txn.Get(blocks_db_, cid.bytes()));
  if (!v) return MakeError(Errc::kNotFound, "block " + cid.ToString() + " not in cache");
  return *v;
}

Result<Block> ArcBlockCache::Get(const Cid& cid) {
  if (cid.is_identity()) return IdentityBlock(cid);
  std::string key(AsChars(cid.bytes()));
  auto found = Find(cid, key);
  if (!found.ok()) {
    if (found.error().code == Errc::kNotFound) misses_.fetch_add(1);
    return found.take_error();
  }
  Block block = std::move(*found);
  if (options_.verify_on_read && !cid.Verifies(block.data())) {
    verify_failures_.fetch_add(1);
    misses_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    // Forget it; the deletion is committed with the next batch.
    if (policy_.Resident(key)) {
      policy_.Erase(key);
      pending_puts_.erase(key);
      pending_dels_.insert(key);
    }
    return MakeError(Errc::kNotFound, "cached block " + cid.ToString() + " failed verification and was dropped");
  }
  hits_.fetch_add(1);
  bool drain = false;
  {
    std::lock_guard<std::mutex> lock(touch_mu_);
    touches_.push_back(std::move(key));
    drain = touches_.size() >= kMaxPendingTouches;
  }
  if (drain) {
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (lock.owns_lock()) DrainTouchesLocked();
  }
  return block;
}

bool ArcBlockCache::Has(const Cid& cid) {
  if (cid.is_identity()) return true;
  return Find(cid, std::string(AsChars(cid.bytes()))).ok();
}

Result<Block> ArcBlockCache::Find(const Cid& cid, const std::string& key) {
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<Snapshot> snap;
    auto view = Lookup(cid, &snap);
    if (view.ok()) return Block::View(*view, std::move(snap));
    if (view.error().code != Errc::kNotFound) return view.take_error();
    if (auto pending = FindPending(key)) return std::move(*pending);
    // A commit that ended between the two looks took the block out of the queue into a
    // generation this snapshot predates: ask the store again, once, in a new snapshot.
    if (attempt > 0 || !snap || snap->generation == generation_.load(std::memory_order_acquire))
      return view.take_error();
  }
}

Status ArcBlockCache::Put(const Cid& cid, ByteView data) {
  if (cid.is_identity()) return Status::Ok();
  if (!cid.Verifies(data)) {
    verify_failures_.fetch_add(1);
    return MakeError(Errc::kHashMismatch, "cache: refusing " + std::to_string(data.size()) +
                                              " bytes that do not match " + cid.ToString());
  }
  return PutVerified(cid, data);
}

bool ArcBlockCache::Declines(const Cid& cid, uint64_t size) {
  if (cid.is_identity()) return true;
  if (size <= options_.max_bytes) return false;
  declined_.fetch_add(1);
  return true;
}

Status ArcBlockCache::PutVerified(const Cid& cid, ByteView data) {
  if (Declines(cid, data.size())) return Status::Ok();  // before the copy
  return PutVerified(cid, Block::Owned(Bytes(data.begin(), data.end())));
}

Status ArcBlockCache::PutVerified(const Cid& cid, Block block) {
  if (Declines(cid, block.size())) return Status::Ok();
  const ByteView data = block.data();
  std::string key(AsChars(cid.bytes()));
  std::unique_lock<std::mutex> lock(mu_);
  // Back-pressure: do not queue without bound when the disk is slower than the network.
  drained_cv_.wait(lock, [&] { return stop_ || pending_bytes_ < options_.max_pending_bytes; });
  DrainTouchesLocked();
  if (policy_.Resident(key)) return Status::Ok();
  std::vector<std::string> evicted;
  policy_.Admit(key, data.size(), &evicted);
  for (auto& e : evicted) {
    auto it = pending_puts_.find(e);
    if (it != pending_puts_.end()) {
      pending_bytes_ -= std::min<uint64_t>(pending_bytes_, it->second.size());
      pending_puts_.erase(it);
    }
    pending_dels_.insert(std::move(e));  // it may also be committed, or in the batch being committed
  }
  pending_dels_.erase(key);
  pending_bytes_ += data.size();
  pending_puts_[key] = std::move(block);
  inserts_.fetch_add(1);
  evictions_.fetch_add(evicted.size());
  const bool full_batch = pending_bytes_ >= options_.batch_bytes;
  lock.unlock();
  if (full_batch) flush_cv_.notify_one();
  return Status::Ok();
}

Status ArcBlockCache::Flush() { return CommitPending(/*force=*/true); }

Status ArcBlockCache::Clear() {
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  {
    std::lock_guard<std::mutex> tl(touch_mu_);
    touches_.clear();
  }
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  IPFSKIT_TRY_STATUS(txn.Clear(blocks_db_));
  IPFSKIT_TRY_STATUS(txn.Clear(arc_db_));
  IPFSKIT_TRY_STATUS(txn.Commit());
  policy_ = ArcPolicy<std::string>(options_.max_bytes);
  policy_.set_track_changes(true);
  pending_puts_.clear();
  pending_dels_.clear();
  pending_bytes_ = 0;
  generation_.fetch_add(1);
  drained_cv_.notify_all();
  return Status::Ok();
}

CacheStats ArcBlockCache::Stats() {
  CacheStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    DrainTouchesLocked();
    s.p = policy_.p();
    s.t1_bytes = policy_.Size(ArcList::kT1);
    s.t2_bytes = policy_.Size(ArcList::kT2);
    s.b1_bytes = policy_.Size(ArcList::kB1);
    s.b2_bytes = policy_.Size(ArcList::kB2);
    s.t1_entries = policy_.Count(ArcList::kT1);
    s.t2_entries = policy_.Count(ArcList::kT2);
    s.b1_entries = policy_.Count(ArcList::kB1);
    s.b2_entries = policy_.Count(ArcList::kB2);
    s.pending_bytes = pending_bytes_;
  }
  s.bytes = s.t1_bytes + s.t2_bytes;
  s.entries = s.t1_entries + s.t2_entries;
  s.max_bytes = options_.max_bytes;
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.hit_ratio = s.hits + s.misses ? static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses) : 0;
  s.inserts = inserts_.load();
  s.evictions = evictions_.load();
  s.declined = declined_.load();
  s.verification_failures = verify_failures_.load();
  s.commits = commits_.load();
  s.commit_errors = commit_errors_.load();
  return s;
}

}  // namespace ipfskit
