#include "core/cache/arc_block_cache.h"

#include <algorithm>
#include <cstring>

#include "core/store/lmdb.h"

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
MDB_val StrVal(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

}  // namespace

// A read transaction shared by concurrent Gets (safe once each db's root is loaded, which
// mdb_stat forces; the Repo uses the same scheme). `owner` is declared first so the env
// outlives the txn.
struct ArcBlockCache::Snapshot {
  std::shared_ptr<const void> owner;
  lmdb::Txn txn;
  uint64_t generation = 0;
};

Result<std::shared_ptr<ArcBlockCache>> ArcBlockCache::Open(MDB_env* env, std::shared_ptr<const void> env_owner,
                                                           ArcCacheOptions options) {
  if (!env) return MakeError(Errc::kInvalidArgument, "cache: no LMDB environment");
  unsigned env_flags = 0;
  mdb_env_get_flags(env, &env_flags);
  if (!(env_flags & MDB_NOTLS))
    return MakeError(Errc::kInvalidArgument, "cache: the LMDB environment must be opened with MDB_NOTLS");
  std::shared_ptr<ArcBlockCache> c(new ArcBlockCache());
  c->env_ = env;
  c->env_owner_ = std::move(env_owner);
  c->options_ = options;
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env, 0, &txn);
  if (rc) return lmdb::ToError(rc, "cache: begin");
  if ((rc = mdb_dbi_open(txn.get(), "cache.blocks", MDB_CREATE, &c->blocks_dbi_)) ||
      (rc = mdb_dbi_open(txn.get(), "cache.arc", MDB_CREATE, &c->arc_dbi_)))
    return lmdb::ToError(rc, "cache: open dbs");
  if ((rc = txn.Commit())) return lmdb::ToError(rc, "cache: commit db open");
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
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env_, 0, &txn);
  if (rc) return lmdb::ToError(rc, "cache: begin load");
  {
    lmdb::Cursor cur;
    if ((rc = lmdb::Cursor::Open(txn, arc_dbi_, &cur))) return lmdb::ToError(rc, "cache: cursor");
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
      std::string key(static_cast<const char*>(k.mv_data), k.mv_size);
      const auto* d = static_cast<const uint8_t*>(v.mv_data);
      if (key == kPKey) {
        if (v.mv_size == 8) p = GetU64(d);
        continue;
      }
      if (v.mv_size != kRecordSize || d[0] < 1 || d[0] > 4) continue;  // unreadable: dropped below
      recs.push_back({std::move(key), static_cast<ArcList>(d[0]), GetU64(d + 1), GetU64(d + 9)});
    }
    if (rc != MDB_NOTFOUND) return lmdb::ToError(rc, "cache: read arc state");
  }
  std::sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) { return a.seq < b.seq; });
  policy_ = ArcPolicy<std::string>(options_.max_bytes);
  policy_.set_track_changes(true);
  for (const Rec& r : recs) {
    if (r.list == ArcList::kT1 || r.list == ArcList::kT2) {
      MDB_val k = StrVal(r.key), v;
      rc = mdb_get(txn.get(), blocks_dbi_, &k, &v);
      if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != r.size)) continue;  // lost block: forget it
      if (rc) return lmdb::ToError(rc, "cache: check block");
    }
    policy_.Restore(r.key, r.list, r.size, r.seq);
  }
  policy_.RestoreP(p);
  // A smaller max_bytes than last time: evict down to it now (deleted as orphans below).
  std::vector<std::string> evicted;
  policy_.Shrink(&evicted);
  std::vector<std::string> orphans;
  {
    lmdb::Cursor cur;
    if ((rc = lmdb::Cursor::Open(txn, blocks_dbi_, &cur))) return lmdb::ToError(rc, "cache: cursor");
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
      std::string key(static_cast<const char*>(k.mv_data), k.mv_size);
      if (!policy_.Resident(key)) orphans.push_back(std::move(key));
    }
  }
  for (const auto& key : orphans) {
    MDB_val k = StrVal(key);
    rc = mdb_del(txn.get(), blocks_dbi_, &k, nullptr);
    if (rc && rc != MDB_NOTFOUND) return lmdb::ToError(rc, "cache: drop orphan block");
  }
  // Rewrite the state db from the policy.
  if ((rc = mdb_drop(txn.get(), arc_dbi_, 0))) return lmdb::ToError(rc, "cache: reset arc state");
  policy_.MarkAllChanged();
  IPFSKIT_TRY_STATUS(Persist(txn.get(), policy_.TakeChanges(), policy_.p()));
  if ((rc = txn.Commit())) return lmdb::ToError(rc, "cache: commit load");
  generation_.fetch_add(1);
  return Status::Ok();
}

Status ArcBlockCache::Persist(MDB_txn* txn, const Changes& changes, uint64_t p) {
  int rc;
  for (const auto& e : changes) {
    MDB_val k = StrVal(e.key);
    if (e.list == ArcList::kNone) {
      rc = mdb_del(txn, arc_dbi_, &k, nullptr);
      if (rc && rc != MDB_NOTFOUND) return lmdb::ToError(rc, "cache: delete arc entry");
      continue;
    }
    uint8_t rec[kRecordSize];
    rec[0] = static_cast<uint8_t>(e.list);
    PutU64(rec + 1, e.seq);
    PutU64(rec + 9, e.size);
    MDB_val v{sizeof(rec), rec};
    if ((rc = mdb_put(txn, arc_dbi_, &k, &v, 0))) return lmdb::ToError(rc, "cache: write arc entry");
  }
  uint8_t pbuf[8];
  PutU64(pbuf, p);
  MDB_val k = StrVal(kPKey), v{8, pbuf};
  if ((rc = mdb_put(txn, arc_dbi_, &k, &v, 0))) return lmdb::ToError(rc, "cache: write p");
  return Status::Ok();
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
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env_, 0, &txn);
  Status st;
  if (rc) {
    st = lmdb::ToError(rc, "cache: begin write");
  } else {
    for (const auto& key : dels) {
      MDB_val k = StrVal(key);
      rc = mdb_del(txn.get(), blocks_dbi_, &k, nullptr);
      if (rc && rc != MDB_NOTFOUND) break;
      rc = 0;
    }
    for (auto it = committing_.begin(); !rc && it != committing_.end(); ++it) {
      MDB_val k = StrVal(it->first), v = lmdb::Val(*it->second);
      rc = mdb_put(txn.get(), blocks_dbi_, &k, &v, 0);
    }
    if (rc) {
      st = lmdb::ToError(rc, "cache: write batch");
    } else {
      st = Persist(txn.get(), changes, p);
      if (st.ok() && (rc = txn.Commit())) st = lmdb::ToError(rc, "cache: commit batch");
    }
  }
  txn.Abort();
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
    if (!work && ++idle < kIdleTicksBeforeStateWrite) continue;
    idle = 0;
    lock.unlock();
    (void)CommitPending(/*force=*/!work);  // errors are counted in commit_errors_
    lock.lock();
  }
}

std::shared_ptr<const Bytes> ArcBlockCache::FindPending(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = pending_puts_.find(key); it != pending_puts_.end()) return it->second;
  if (auto it = committing_.find(key); it != committing_.end()) return it->second;
  return nullptr;
}

Result<std::shared_ptr<ArcBlockCache::Snapshot>> ArcBlockCache::CurrentSnapshot() {
  std::lock_guard<std::mutex> lock(snap_mu_);
  const uint64_t gen = generation_.load(std::memory_order_acquire);
  if (snap_ && snap_->generation == gen) return snap_;
  auto s = std::make_shared<Snapshot>();
  s->owner = env_owner_;
  s->generation = gen;
  int rc = lmdb::Txn::Begin(env_, MDB_RDONLY, &s->txn);
  if (rc) return lmdb::ToError(rc, "cache: begin read");
  MDB_stat st;
  if ((rc = mdb_stat(s->txn.get(), blocks_dbi_, &st))) return lmdb::ToError(rc, "cache: load db root");
  snap_ = s;
  return s;
}

Result<ByteView> ArcBlockCache::Lookup(const Cid& cid, std::shared_ptr<Snapshot>* snap) {
  IPFSKIT_ASSIGN_OR_RETURN(*snap, CurrentSnapshot());
  MDB_val k = lmdb::Val(cid.bytes()), v;
  int rc = mdb_get((*snap)->txn.get(), blocks_dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) return MakeError(Errc::kNotFound, "block " + cid.ToString() + " not in cache");
  if (rc) return lmdb::ToError(rc, "cache: get " + cid.ToString());
  return lmdb::View(v);
}

Result<Block> ArcBlockCache::Get(const Cid& cid) {
  if (cid.is_identity()) return IdentityBlock(cid);
  std::string key(AsChars(cid.bytes()));
  Block block;
  std::shared_ptr<Snapshot> snap;
  auto view = Lookup(cid, &snap);
  if (view.ok()) {
    block = Block::View(*view, std::move(snap));
  } else if (view.error().code != Errc::kNotFound) {
    return view.take_error();
  } else if (auto pending = FindPending(key)) {
    block = Block::View(ByteView(*pending), pending);
  } else {
    misses_.fetch_add(1);
    return view.take_error();
  }
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
  std::shared_ptr<Snapshot> snap;
  if (Lookup(cid, &snap).ok()) return true;
  return FindPending(std::string(AsChars(cid.bytes()))) != nullptr;
}

Status ArcBlockCache::Put(const Cid& cid, ByteView data) {
  if (cid.is_identity()) return Status::Ok();
  if (!cid.Verifies(data)) {
    verify_failures_.fetch_add(1);
    return MakeError(Errc::kHashMismatch, "cache: refusing " + std::to_string(data.size()) +
                                              " bytes that do not match " + cid.ToString());
  }
  if (data.size() > options_.max_bytes) {
    declined_.fetch_add(1);
    return Status::Ok();
  }
  std::string key(AsChars(cid.bytes()));
  auto copy = std::make_shared<const Bytes>(data.begin(), data.end());
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
      pending_bytes_ -= std::min<uint64_t>(pending_bytes_, it->second->size());
      pending_puts_.erase(it);
    }
    pending_dels_.insert(std::move(e));  // it may also be committed, or in the batch being committed
  }
  pending_dels_.erase(key);
  pending_puts_[key] = std::move(copy);
  pending_bytes_ += data.size();
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
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env_, 0, &txn);
  if (rc) return lmdb::ToError(rc, "cache: begin clear");
  if ((rc = mdb_drop(txn.get(), blocks_dbi_, 0)) || (rc = mdb_drop(txn.get(), arc_dbi_, 0)))
    return lmdb::ToError(rc, "cache: clear");
  if ((rc = txn.Commit())) return lmdb::ToError(rc, "cache: commit clear");
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
