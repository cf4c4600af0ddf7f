#include "core/cache/arc_block_cache.h"

#include <algorithm>
#include <cstring>

#include "core/store/lmdb.h"

namespace ipfskit {
namespace {

const std::string kPKey = "\xff" "p";  // CID bytes never start with 0xff
constexpr size_t kRecordSize = 1 + 8 + 8;
constexpr size_t kMaxPendingTouches = 4096;

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
  c->policy_ = ArcPolicy<std::string>(options.max_bytes);
  c->policy_.set_track_changes(true);
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env, 0, &txn);
  if (rc) return lmdb::ToError(rc, "cache: begin");
  if ((rc = mdb_dbi_open(txn.get(), "cache.blocks", MDB_CREATE, &c->blocks_dbi_)) ||
      (rc = mdb_dbi_open(txn.get(), "cache.arc", MDB_CREATE, &c->arc_dbi_)))
    return lmdb::ToError(rc, "cache: open dbs");
  if ((rc = txn.Commit())) return lmdb::ToError(rc, "cache: commit db open");
  std::lock_guard<std::mutex> lock(c->mu_);
  IPFSKIT_TRY_STATUS(c->Load());
  return c;
}

ArcBlockCache::~ArcBlockCache() {
  (void)Flush();
}

Status ArcBlockCache::Load() {
  struct Rec {
    std::string key;
    ArcList list;
    uint64_t seq, size;
  };
  std::vector<Rec> recs;
  uint64_t p = 0;
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
      if (v.mv_size != kRecordSize || d[0] < 1 || d[0] > 4) continue;  // dropped below
      recs.push_back({std::move(key), static_cast<ArcList>(d[0]), GetU64(d + 1), GetU64(d + 9)});
    }
    if (rc != MDB_NOTFOUND) return lmdb::ToError(rc, "cache: read arc state");
  }
  std::sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) { return a.seq < b.seq; });
  policy_ = ArcPolicy<std::string>(options_.max_bytes);
  policy_.set_track_changes(true);
  for (const Rec& r : recs) {
    ArcList l = r.list;
    if (l == ArcList::kT1 || l == ArcList::kT2) {
      MDB_val k = StrVal(r.key), v;
      rc = mdb_get(txn.get(), blocks_dbi_, &k, &v);
      if (rc == MDB_NOTFOUND || v.mv_size != r.size) continue;  // lost block: forget the entry
      if (rc) return lmdb::ToError(rc, "cache: check block");
    }
    policy_.Restore(r.key, l, r.size, r.seq);
  }
  policy_.RestoreP(p);
  // A smaller max_bytes than last time: evict down to it now.
  std::vector<std::string> evicted;
  policy_.Shrink(&evicted);
  // Rewrite the state db from the policy and drop blocks the policy does not hold.
  if ((rc = mdb_drop(txn.get(), arc_dbi_, 0))) return lmdb::ToError(rc, "cache: reset arc state");
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
  policy_.MarkAllChanged();  // the state db was dropped: write every entry again
  IPFSKIT_TRY_STATUS(Persist(txn.get()));
  if ((rc = txn.Commit())) return lmdb::ToError(rc, "cache: commit load");
  generation_.fetch_add(1);
  return Status::Ok();
}

Status ArcBlockCache::Persist(MDB_txn* txn) {
  int rc;
  for (const auto& e : policy_.TakeChanges()) {
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
  PutU64(pbuf, policy_.p());
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
  std::shared_ptr<Snapshot> snap;
  auto view = Lookup(cid, &snap);
  if (!view.ok()) {
    if (view.error().code == Errc::kNotFound) misses_.fetch_add(1);
    return view.take_error();
  }
  if (options_.verify_on_read && !cid.Verifies(*view)) {
    verify_failures_.fetch_add(1);
    misses_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    lmdb::Txn txn;
    if (lmdb::Txn::Begin(env_, 0, &txn) == 0) {
      MDB_val k = lmdb::Val(cid.bytes());
      mdb_del(txn.get(), blocks_dbi_, &k, nullptr);
      policy_.Erase(std::string(AsChars(cid.bytes())));
      if (Persist(txn.get()).ok() && txn.Commit() == 0) generation_.fetch_add(1);
    }
    return MakeError(Errc::kNotFound, "cached block " + cid.ToString() + " failed verification and was dropped");
  }
  hits_.fetch_add(1);
  bool drain = false;
  {
    std::lock_guard<std::mutex> lock(touch_mu_);
    touches_.emplace_back(AsChars(cid.bytes()));
    drain = touches_.size() >= kMaxPendingTouches;
  }
  if (drain) {
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (lock.owns_lock()) DrainTouchesLocked();
  }
  return Block::View(*view, std::move(snap));
}

bool ArcBlockCache::Has(const Cid& cid) {
  if (cid.is_identity()) return true;
  std::shared_ptr<Snapshot> snap;
  return Lookup(cid, &snap).ok();
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
  std::lock_guard<std::mutex> lock(mu_);
  DrainTouchesLocked();
  if (policy_.Resident(key)) return Status::Ok();
  std::vector<std::string> evicted;
  policy_.Admit(key, data.size(), &evicted);
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env_, 0, &txn);
  Status st;
  if (rc) {
    st = lmdb::ToError(rc, "cache: begin write");
  } else {
    MDB_val k = lmdb::Val(cid.bytes()), v = lmdb::Val(data);
    for (const auto& e : evicted) {
      MDB_val ek = StrVal(e);
      rc = mdb_del(txn.get(), blocks_dbi_, &ek, nullptr);
      if (rc && rc != MDB_NOTFOUND) break;
      rc = 0;
    }
    if (!rc) rc = mdb_put(txn.get(), blocks_dbi_, &k, &v, 0);
    if (rc) {
      st = lmdb::ToError(rc, "cache: put " + cid.ToString());
    } else {
      st = Persist(txn.get());
      if (st.ok() && (rc = txn.Commit())) st = lmdb::ToError(rc, "cache: commit " + cid.ToString());
    }
  }
  if (!st.ok()) {
    // The policy ran ahead of the store: rebuild it from what is committed.
    txn.Abort();
    (void)Load();
    return st;
  }
  generation_.fetch_add(1, std::memory_order_release);
  inserts_.fetch_add(1);
  evictions_.fetch_add(evicted.size());
  return Status::Ok();
}

Status ArcBlockCache::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  DrainTouchesLocked();
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env_, 0, &txn);
  if (rc) return lmdb::ToError(rc, "cache: begin flush");
  IPFSKIT_TRY_STATUS(Persist(txn.get()));
  if ((rc = txn.Commit())) return lmdb::ToError(rc, "cache: commit flush");
  return Status::Ok();
}

Status ArcBlockCache::Clear() {
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
  generation_.fetch_add(1);
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
  return s;
}

}  // namespace ipfskit
