// LMDB-backed Repo. See repo.h for the contract.
//
// Ownership: a RepoEnv (the MDB_env and its named dbs) is shared by every Repo opened on the
// same directory in this process (LMDB forbids opening one environment twice in a process), by
// the batch writers, leases, transactions and every read snapshot. Blocks handed out by Get hold
// a snapshot, so the environment stays open, and the pages they point into stay unrecycled,
// while any Block lives.
#include "core/store/repo.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <unordered_set>

#include "core/codec/dagpb.h"
#include "core/store/dag_links.h"
#include "core/store/lmdb.h"

namespace ipfskit {

namespace fs = std::filesystem;

namespace {

constexpr unsigned kMaxReaders = 4096;
constexpr unsigned kMaxDbs = 64;  // blocks, pins, meta and room for other components
// A cached read snapshot is replaced after this long, so a long-lived process does not pin old
// pages (the map would grow) nor miss blocks written by another process for long.
constexpr auto kSnapshotMaxAge = std::chrono::seconds(1);

}  // namespace


// A read transaction shared by concurrent Gets and kept alive by the Blocks they return.
// Concurrent mdb_get calls on one read-only txn are safe once the txn has loaded each named
// db's root (DB_STALE cleared), which NewSnapshot forces with mdb_stat.
struct ReadSnapshot {
  lmdb::Txn txn;
  std::chrono::steady_clock::time_point created;
};

// One open LMDB environment. Shared; closes when the last user is gone.
struct RepoEnv {
  std::string path;
  MDB_env* env = nullptr;
  MDB_dbi blocks = 0, pins = 0, meta = 0;
  bool read_only = false;

  MDB_dbi leases = 0;
  bool has_leases = false;  // false only in an old repo opened read-only
  // Component databases opened by OpenDb. mdb_dbi_open must not run in two transactions of
  // one process at once; dbi_mu serialises it.
  std::mutex dbi_mu;
  std::map<std::string, MDB_dbi> component_dbs;

  // The cached snapshot. Dropped after each commit that changes blocks, so new Gets see the
  // change and freed pages become reusable once the Blocks still holding it are gone.
  std::mutex snap_mu;
  std::shared_ptr<ReadSnapshot> snap;

  ~RepoEnv() {
    snap.reset();
    if (env) mdb_env_close(env);
  }

  std::string Ctx(std::string_view what) const { return std::string(what) + " in repo " + path; }
  Error Err(int rc, std::string_view what) const { return lmdb::ToError(rc, Ctx(what)); }

  // Where LMDB mapped data.mdb in this process and how much of it is used ({nullptr, 0} when
  // unknown). LMDB does not say (mdb_env_info's me_mapaddr is set only for MDB_FIXEDMAP);
  // /proc/self/maps does.
  std::pair<void*, size_t> UsedMap() const {
    MDB_envinfo info;
    MDB_stat st;
    mdb_filehandle_t fd;
    struct stat fst;
    if (mdb_env_info(env, &info) || mdb_env_stat(env, &st) || mdb_env_get_fd(env, &fd) ||
        fstat(fd, &fst))
      return {nullptr, 0};
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
      unsigned long start, end, offset, ino;
      char perms[8];
      unsigned major, minor;
      if (std::sscanf(line.c_str(), "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset,
                      &major, &minor, &ino) == 7 &&
          ino == fst.st_ino && offset == 0 && makedev(major, minor) == fst.st_dev)
        return {reinterpret_cast<void*>(start),
                std::min<size_t>((info.me_last_pgno + 1) * size_t{st.ms_psize}, end - start)};
    }
    return {nullptr, 0};
  }

  // A bulk writer's RSS: each commit reads B-tree pages scattered between the blocks written
  // before, and the kernel maps the whole (large, up to 2 MiB) folio around each, so most of
  // what was written would stay mapped and counted (a 1 GiB `add` peaked at 194 MiB RSS, 140
  // of it the map, on kernel 6.18). So a bulk writer drops this process's page-table entries
  // for the map after each commit. The pages stay in the page cache, and a reader holding a
  // view into the map faults them back in, the bytes being the file's. Advice only: a
  // failure costs RSS, not data.
  void UnmapUsedPages() const {
    auto [addr, used] = UsedMap();
    if (addr) madvise(addr, used, MADV_DONTNEED);
  }

  // The cached snapshot, or a new one when there is none, when it is old (it would keep old
  // pages from reuse and hide other processes' writes), or when it is `stale`.
  Result<std::shared_ptr<ReadSnapshot>> Snapshot(const ReadSnapshot* stale) {
    std::lock_guard lock(snap_mu);
    if (snap && snap.get() != stale &&
        std::chrono::steady_clock::now() - snap->created <= kSnapshotMaxAge)
      return snap;
    auto s = std::make_shared<ReadSnapshot>();
    s->created = std::chrono::steady_clock::now();
    int rc = lmdb::Txn::Begin(env, MDB_RDONLY, &s->txn);
    if (rc) return Err(rc, "begin read transaction");
    MDB_stat st;
    for (MDB_dbi dbi : {blocks, pins, meta}) {
      rc = mdb_stat(s->txn.get(), dbi, &st);
      if (rc) return Err(rc, "read db root");
    }
    snap = s;
    return s;
  }
  void DropSnapshot() {
    std::lock_guard lock(snap_mu);
    snap.reset();
  }
  void DropOldSnapshot() {
    std::lock_guard lock(snap_mu);
    if (snap && std::chrono::steady_clock::now() - snap->created > kSnapshotMaxAge) snap.reset();
  }
};

namespace {

// What a Block returned by Get holds on to.
struct BlockKeepalive {
  std::shared_ptr<RepoEnv> env;  // declared first: destroyed after the snapshot's txn
  std::shared_ptr<ReadSnapshot> snap;
};

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<RepoEnv>>& Registry() {
  static auto* r = new std::map<std::string, std::weak_ptr<RepoEnv>>();
  return *r;
}

Result<int> ReadVersionFile(const std::string& file) {
  std::ifstream in(file);
  if (!in) return MakeError(Errc::kIo, "cannot read " + file + ": " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t b = text.find_first_not_of(" \t\r\n");
  size_t e = text.find_last_not_of(" \t\r\n");
  std::string t = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos)
    return MakeError(Errc::kMalformed, "repo version file " + file + " holds '" + t +
                                           "', expected a number");
  return std::stoi(t);
}

Status WriteFileAtomic(const std::string& file, std::string_view content) {
  std::string tmp = file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(Errc::kIo, "cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return MakeError(Errc::kIo, "cannot write " + file + ": " + std::strerror(err));
  }
  return Status::Ok();
}

// Checks or creates the directory and its version file.
Status PrepareDir(const RepoOptions& o) {
  std::error_code ec;
  const std::string version_file = o.path + "/version";
  if (!fs::exists(o.path, ec)) {
    if (!o.create || o.read_only)
      return MakeError(Errc::kNotFound, "no ipfskit repo at " + o.path + " (run 'ipfskit init')");
    fs::create_directories(o.path, ec);
    if (ec) return MakeError(Errc::kIo, "cannot create repo directory " + o.path + ": " + ec.message());
  } else if (!fs::is_directory(o.path, ec)) {
    return MakeError(Errc::kNotDir, "repo path " + o.path + " is not a directory");
  }
  if (fs::exists(version_file, ec)) {
    IPFSKIT_ASSIGN_OR_RETURN(int v, ReadVersionFile(version_file));
    if (v > Repo::kVersion)
      return MakeError(Errc::kUnsupported,
                       "repo at " + o.path + " has version " + std::to_string(v) +
                           ", newer than this ipfskit supports (" + std::to_string(Repo::kVersion) +
                           "); upgrade ipfskit");
    if (v < 1) return MakeError(Errc::kMalformed, "repo at " + o.path + " has invalid version " + std::to_string(v));
    return Status::Ok();
  }
  // No version file: initialise only a directory that holds nothing of ours or anyone else's.
  if (fs::exists(o.path + "/data.mdb", ec))
    return MakeError(Errc::kMalformed, "repo at " + o.path + " has data.mdb but no version file");
  for (const auto& entry : fs::directory_iterator(o.path, ec)) {
    std::string name = entry.path().filename().string();
    if (name != "config.json" && name != "version.tmp")
      return MakeError(Errc::kInvalidArgument,
                       o.path + " is not an ipfskit repo (no version file) and is not empty");
  }
  if (ec) return MakeError(Errc::kIo, "cannot list " + o.path + ": " + ec.message());
  if (!o.create || o.read_only)
    return MakeError(Errc::kNotFound, "no ipfskit repo at " + o.path + " (run 'ipfskit init')");
  return WriteFileAtomic(version_file, std::to_string(Repo::kVersion) + "\n");
}

Result<std::shared_ptr<RepoEnv>> OpenEnv(const RepoOptions& o) {
  auto e = std::make_shared<RepoEnv>();
  e->path = o.path;
  e->read_only = o.read_only;
  int rc = mdb_env_create(&e->env);
  if (rc) return e->Err(rc, "create environment");
  if ((rc = mdb_env_set_maxreaders(e->env, kMaxReaders)) ||
      (rc = mdb_env_set_maxdbs(e->env, kMaxDbs)) ||
      (rc = mdb_env_set_mapsize(e->env, o.map_size)))
    return e->Err(rc, "configure environment");
  // NOTLS: read txns are owned by Blocks and move between threads. NORDAHEAD: block reads are
  // random; readahead only evicts useful pages.
  // Readahead stays on (no MDB_NORDAHEAD, which sets MADV_RANDOM on the map): blocks are read
  // whole and sequentially, and without it a cold read faults in 4 KiB at a time (~15x slower).
  unsigned flags = MDB_NOTLS | (o.read_only ? MDB_RDONLY : 0);
  rc = mdb_env_open(e->env, o.path.c_str(), flags, 0644);
  if (rc) {
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
      return MakeError(Errc::kMalformed, "repo " + o.path + ": data.mdb is not a usable LMDB file (" +
                                             mdb_strerror(rc) + ")");
    return e->Err(rc, "open environment");
  }
  lmdb::Txn txn;
  rc = lmdb::Txn::Begin(e->env, o.read_only ? MDB_RDONLY : 0, &txn);
  if (rc) return e->Err(rc, "begin transaction");
  unsigned dbflags = o.read_only ? 0 : MDB_CREATE;
  if ((rc = mdb_dbi_open(txn.get(), "blocks", dbflags, &e->blocks)) ||
      (rc = mdb_dbi_open(txn.get(), "pins", dbflags, &e->pins)) ||
      (rc = mdb_dbi_open(txn.get(), "meta", dbflags, &e->meta))) {
    if (rc == MDB_NOTFOUND)
      return MakeError(Errc::kMalformed, "repo " + o.path + " lacks its blocks/pins/meta databases");
    return e->Err(rc, "open databases");
  }
  // Repos made before leases existed lack the db; read-only, that just means no leases.
  rc = mdb_dbi_open(txn.get(), "leases", dbflags, &e->leases);
  e->has_leases = rc == 0;
  if (rc == MDB_NOTFOUND && o.read_only) rc = 0;
  if (rc) {
    return e->Err(rc, "open databases");
  }
  if ((rc = txn.Commit())) return e->Err(rc, "open databases");
  return e;
}

Bytes PinValue(PinType t) { return Bytes{static_cast<uint8_t>(t)}; }

const char* PinName(PinType t) { return t == PinType::kRecursive ? "recursive" : "direct"; }

Status CheckBlock(const Cid& cid, ByteView data, bool trusted) {
  if (!cid.valid()) return MakeError(Errc::kInvalidArgument, "invalid (empty) CID");
  if (trusted) return Status::Ok();
  if (!cid.is_identity()) {
    auto size = MultihashDigestSize(cid.mh_code());
    if (!size.ok())
      return MakeError(Errc::kUnsupported, "cannot verify block " + cid.ToString() +
                                               ": unsupported hash function " + MultihashName(cid.mh_code()));
  }
  if (!cid.Verifies(data))
    return MakeError(Errc::kHashMismatch,
                     "block data does not match CID " + cid.ToString() + " (hash mismatch)");
  return Status::Ok();
}

// LMDB reports a short write (the disk filled up mid-write) as EIO. Tell that apart from a
// failing disk by looking at the free space where the repo lives.
Error CommitError(const RepoEnv& env, int rc, std::string_view what) {
  struct statvfs sv;
  if (rc == EIO && ::statvfs(env.path.c_str(), &sv) == 0 &&
      static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize < (uint64_t{64} << 20))
    return MakeError(Errc::kNoSpace, "no space left on device during " + env.Ctx(what));
  return env.Err(rc, what);
}

Status CheckWritable(const RepoEnv& env, bool read_only) {
  if (read_only) return MakeError(Errc::kReadOnly, "repo " + env.path + " is open read-only");
  return Status::Ok();
}

constexpr size_t kLeaseIdSize = 8;

std::string LeaseDir(const RepoEnv& env) { return env.path + "/leases"; }
std::string LeaseLockPath(const RepoEnv& env, const std::string& id_hex) {
  return LeaseDir(env) + "/" + id_hex + ".lock";
}

// A lease is alive while some process holds the flock on its lock file. A lock we can take
// means the owner is gone; the file is removed while we hold it.
bool LeaseAlive(const RepoEnv& env, const std::string& id_hex) {
  const std::string path = LeaseLockPath(env, id_hex);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno != ENOENT;  // unreadable for another reason: keep, to be safe
  bool alive = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  if (!alive) ::unlink(path.c_str());
  ::close(fd);
  return alive;
}

// Deletes every entry of lease `id` in `txn`.
int DeleteLeaseEntries(MDB_txn* txn, MDB_dbi dbi, const uint8_t* id) {
  MDB_cursor* cur = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &cur);
  if (rc) return rc;
  MDB_val k{kLeaseIdSize, const_cast<uint8_t*>(id)}, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size < kLeaseIdSize || std::memcmp(k.mv_data, id, kLeaseIdSize) != 0) break;
    if ((rc = mdb_cursor_del(cur, 0))) break;
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

}  // namespace

// --- transactions ----------------------------------------------------------------------------

Result<RepoTxn> BeginRepoTxn(const std::shared_ptr<RepoEnv>& env, bool write) {
  RepoTxn t;
  int rc = mdb_txn_begin(env->env, nullptr, write ? 0 : MDB_RDONLY, &t.txn_);
  if (rc) {
    t.txn_ = nullptr;
    return env->Err(rc, write ? "begin write transaction" : "begin read transaction");
  }
  t.env_ = env;
  return t;
}

RepoTxn::RepoTxn(RepoTxn&& o) noexcept
    : env_(std::move(o.env_)),
      txn_(std::exchange(o.txn_, nullptr)),
      blocks_changed_(o.blocks_changed_),
      leases_touched_(std::move(o.leases_touched_)),
      released_(std::move(o.released_)) {}

RepoTxn& RepoTxn::operator=(RepoTxn&& o) noexcept {
  if (this != &o) {
    Abort();
    env_ = std::move(o.env_);
    txn_ = std::exchange(o.txn_, nullptr);
    blocks_changed_ = o.blocks_changed_;
    leases_touched_ = std::move(o.leases_touched_);
    released_ = std::move(o.released_);
  }
  return *this;
}

RepoTxn::~RepoTxn() { Abort(); }

void RepoTxn::Abort() {
  if (txn_) mdb_txn_abort(std::exchange(txn_, nullptr));
  leases_touched_.clear();
  released_.clear();
}

Error RepoTxn::Err(int rc, std::string_view what) const {
  if (!env_) return MakeError(Errc::kInvalidArgument, std::string(what) + ": no transaction");
  return env_->Err(rc, what);
}

#define IPFSKIT_REQUIRE_TXN()                                                          \
  do {                                                                                 \
    if (!txn_) return MakeError(Errc::kInvalidArgument, "repo transaction is closed"); \
  } while (0)

Result<std::optional<ByteView>> RepoTxn::Get(RepoDb db, ByteView key) const {
  IPFSKIT_REQUIRE_TXN();
  MDB_val k = lmdb::Val(key), v;
  int rc = mdb_get(txn_, db.dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<ByteView>();
  if (rc) return Err(rc, "get");
  return std::optional<ByteView>(lmdb::View(v));
}

Status RepoTxn::Put(RepoDb db, ByteView key, ByteView value) {
  IPFSKIT_REQUIRE_TXN();
  MDB_val k = lmdb::Val(key), v = lmdb::Val(value);
  int rc = mdb_put(txn_, db.dbi, &k, &v, 0);
  if (rc) return CommitError(*env_, rc, "put");
  return Status::Ok();
}

Status RepoTxn::Del(RepoDb db, ByteView key) {
  IPFSKIT_REQUIRE_TXN();
  MDB_val k = lmdb::Val(key);
  int rc = mdb_del(txn_, db.dbi, &k, nullptr);
  if (rc && rc != MDB_NOTFOUND) return Err(rc, "delete");
  return Status::Ok();
}

Status RepoTxn::Clear(RepoDb db) {
  IPFSKIT_REQUIRE_TXN();
  int rc = mdb_drop(txn_, db.dbi, 0);
  if (rc) return Err(rc, "clear database");
  return Status::Ok();
}

Status RepoTxn::ForEach(RepoDb db, const std::function<bool(ByteView, ByteView)>& fn) const {
  IPFSKIT_REQUIRE_TXN();
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn_, db.dbi, &c);
  if (rc) return Err(rc, "open cursor");
  MDB_val k, v;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    if (!fn(lmdb::View(k), lmdb::View(v))) break;
  mdb_cursor_close(c);
  if (rc && rc != MDB_NOTFOUND) return Err(rc, "scan database");
  return Status::Ok();
}

Result<std::optional<ByteView>> RepoTxn::GetBlock(const Cid& cid) const {
  IPFSKIT_REQUIRE_TXN();
  return Get(RepoDb{env_->blocks}, cid.bytes());
}

Status RepoTxn::PutBlock(const Cid& cid, ByteView data, RepoLease* lease) {
  IPFSKIT_REQUIRE_TXN();
  if (cid.is_identity()) return Status::Ok();  // answered from the CID, never stored
  // Record the lease first: the block is protected from the moment it is visible.
  if (lease) {
    if (lease->env_ != env_) return MakeError(Errc::kInvalidArgument, "lease of another repo");
    Bytes key(lease->id_, lease->id_ + kLeaseIdSize);
    key.insert(key.end(), cid.bytes().begin(), cid.bytes().end());
    MDB_val k = lmdb::Val(key), v{0, nullptr};
    int rc = mdb_put(txn_, env_->leases, &k, &v, 0);
    if (rc) return CommitError(*env_, rc, "record lease of block " + cid.ToString());
    leases_touched_.push_back(lease);
  }
  MDB_val k = lmdb::Val(cid.bytes()), v = lmdb::Val(data);
  int rc = mdb_put(txn_, env_->blocks, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return Status::Ok();
  if (rc) return CommitError(*env_, rc, "put block " + cid.ToString());
  blocks_changed_ = true;
  return Status::Ok();
}

Status RepoTxn::ForEachBlock(const std::function<bool(ByteView, ByteView)>& fn) const {
  IPFSKIT_REQUIRE_TXN();
  return ForEach(RepoDb{env_->blocks}, fn);
}

Status RepoTxn::PutMeta(std::string_view key, ByteView value) {
  IPFSKIT_REQUIRE_TXN();
  if (key.empty()) return MakeError(Errc::kInvalidArgument, "empty meta key");
  MDB_val k = lmdb::Val(AsBytes(key)), v = lmdb::Val(value);
  int rc = mdb_put(txn_, env_->meta, &k, &v, 0);
  if (rc) return CommitError(*env_, rc, "put meta '" + std::string(key) + "'");
  return Status::Ok();
}

Status RepoTxn::DelMeta(std::string_view key) { 
  IPFSKIT_REQUIRE_TXN();
  return Del(RepoDb{env_->meta}, AsBytes(key));
}

Status RepoTxn::ReleaseLease(RepoLease& lease) {
  IPFSKIT_REQUIRE_TXN();
  if (!lease.has_entries_ &&
      std::find(leases_touched_.begin(), leases_touched_.end(), &lease) == leases_touched_.end())
    return Status::Ok();
  int rc = DeleteLeaseEntries(txn_, env_->leases, lease.id_);
  if (rc) return Err(rc, "release lease " + lease.id_hex_);
  std::erase(leases_touched_, &lease);
  released_.push_back(&lease);
  return Status::Ok();
}

Status RepoTxn::Commit() {
  IPFSKIT_REQUIRE_TXN();
  int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  if (rc) {
    leases_touched_.clear();
    released_.clear();
    return CommitError(*env_, rc, "commit");
  }
  for (RepoLease* l : released_) l->has_entries_ = false;
  for (RepoLease* l : leases_touched_) l->has_entries_ = true;
  leases_touched_.clear();
  released_.clear();
  if (blocks_changed_) env_->DropSnapshot();
  return Status::Ok();
}

// --- leases ----------------------------------------------------------------------------------

Result<std::unique_ptr<RepoLease>> NewRepoLease(const std::shared_ptr<RepoEnv>& env) {
  if (!env->has_leases) return MakeError(Errc::kReadOnly, "repo " + env->path + " is open read-only");
  std::unique_ptr<RepoLease> l(new RepoLease());
  l->env_ = env;
  if (::getrandom(l->id_, sizeof(l->id_), 0) != static_cast<ssize_t>(sizeof(l->id_)))
    return MakeError(Errc::kIo, std::string("getrandom: ") + std::strerror(errno));
  l->id_hex_ = HexEncode(ByteView(l->id_, sizeof(l->id_)));
  const std::string dir = LeaseDir(*env);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return MakeError(Errc::kIo, "cannot create " + dir + ": " + std::strerror(errno));
  l->lock_path_ = LeaseLockPath(*env, l->id_hex_);
  int fd = ::open(l->lock_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return MakeError(Errc::kIo, "cannot create " + l->lock_path_ + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(l->lock_path_.c_str());
    return MakeError(Errc::kIo, "cannot lock " + l->lock_path_ + ": " + std::strerror(err));
  }
  // For whoever looks: which process holds it.
  std::string who = std::to_string(::getpid()) + "\n";
  (void)!::write(fd, who.data(), who.size());
  l->fd_ = fd;
  return l;
}

RepoLease::~RepoLease() {
  if (has_entries_) {
    // Failure leaves the entries; without the lock file below, the next gc reclaims them.
    auto txn = BeginRepoTxn(env_, true);
    if (txn.ok() && DeleteLeaseEntries(txn->txn_, env_->leases, id_) == 0) (void)txn->Commit();
  }
  if (fd_ >= 0) {
    ::unlink(lock_path_.c_str());
    ::close(fd_);
  }
}

namespace {

// Buffers blocks and writes each batch in one short write transaction on the calling thread.
// LMDB write transactions belong to the thread that began them, so none is held between calls;
// this lets importer worker threads take turns on one writer. Every block is in the writer's
// lease until the writer is destroyed: an import commits blocks long before its root is pinned.
class BatchWriter : public BlockSink {
 public:
  BatchWriter(std::shared_ptr<RepoEnv> env, bool read_only, size_t batch_bytes)
      : env_(std::move(env)), read_only_(read_only), batch_bytes_(std::max<size_t>(batch_bytes, 1)) {}
  ~BatchWriter() override {
    std::lock_guard lock(mu_);
    lease_.reset();
  }

  Status Put(const Cid& cid, ByteView data, bool trusted) override {
    IPFSKIT_TRY_STATUS(CheckWritable(*env_, read_only_));
    IPFSKIT_TRY_STATUS(CheckBlock(cid, data, trusted));
    if (cid.is_identity()) return Status::Ok();  // answered from the CID, never stored
    if (!in_batch_.insert(cid).second) return Status::Ok();
    pending_.push_back({cid, Bytes(data.begin(), data.end())});
    pending_bytes_ += data.size();
    if (pending_bytes_ >= batch_bytes_) return Commit();
    return Status::Ok();
  }

  Status Flush() override { return Commit(); }

 private:
  struct Entry {
    Cid cid;
    Bytes data;
  };

  // On failure (e.g. kNoSpace) the batch stays pending, so a later Flush can retry it.
  Status Commit() {
    if (pending_.empty()) return Status::Ok();
    // Sorted keys keep LMDB's page writes local instead of scattered across the tree.
    std::sort(pending_.begin(), pending_.end(),
              [](const Entry& a, const Entry& b) { return a.cid < b.cid; });
    std::lock_guard lock(mu_);  // the lease is used by one thread at a time
    if (!lease_) {
      IPFSKIT_ASSIGN_OR_RETURN(lease_, NewRepoLease(env_));
    }
    IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, BeginRepoTxn(env_, true));
    for (const Entry& e : pending_) IPFSKIT_TRY_STATUS(txn.PutBlock(e.cid, e.data, lease_.get()));
    IPFSKIT_TRY_STATUS(txn.Commit());
    env_->UnmapUsedPages();
    pending_.clear();
    in_batch_.clear();
    pending_bytes_ = 0;
    return Status::Ok();
  }

  std::shared_ptr<RepoEnv> env_;
  bool read_only_;
  size_t batch_bytes_;
  std::mutex mu_;
  std::unique_ptr<RepoLease> lease_;
  std::vector<Entry> pending_;
  std::unordered_set<Cid> in_batch_;
  size_t pending_bytes_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Repo::Impl {
  std::shared_ptr<RepoEnv> env;
  bool read_only = false;
  size_t map_size = 0;

  // Looks a key up in the blocks db: the snapshot and the bytes, nullopt on a miss. On a miss
  // retries once in a fresh snapshot, since another process may have written the block after
  // our snapshot began, but only when something was committed since (the environment's last
  // txn id, which every process's commits advance): a miss in a remote read would otherwise
  // begin a read txn each time.
  Result<std::optional<std::pair<std::shared_ptr<ReadSnapshot>, ByteView>>> Find(const Cid& cid) {
    std::shared_ptr<ReadSnapshot> s;
    for (int attempt = 0; attempt < 2; ++attempt) {
      IPFSKIT_ASSIGN_OR_RETURN(s, env->Snapshot(attempt ? s.get() : nullptr));
      MDB_val k = lmdb::Val(cid.bytes()), v;
      int rc = mdb_get(s->txn.get(), env->blocks, &k, &v);
      if (rc == 0) return std::make_optional(std::make_pair(s, lmdb::View(v)));
      if (rc != MDB_NOTFOUND) return env->Err(rc, "get block " + cid.ToString());
      MDB_envinfo info;
      if (attempt == 0 && mdb_env_info(env->env, &info) == 0 &&
          info.me_last_txnid == mdb_txn_id(s->txn.get()))
        break;
    }
    return std::optional<std::pair<std::shared_ptr<ReadSnapshot>, ByteView>>();
  }
  Result<std::pair<std::shared_ptr<ReadSnapshot>, ByteView>> Lookup(const Cid& cid) {
    IPFSKIT_ASSIGN_OR_RETURN(auto found, Find(cid));
    if (!found) return MakeError(Errc::kNotFound, "block " + cid.ToString() + " not found in repo");
    return std::move(*found);
  }

  Status CheckWritable() const { return ipfskit::CheckWritable(*env, read_only); }
  Result<RepoTxn> BeginWrite() {
    IPFSKIT_TRY_STATUS(CheckWritable());
    return BeginRepoTxn(env, true);
  }
  // For the repo's own dbs.
  MDB_txn* Raw(RepoTxn& t) { return t.txn_; }
};

// ---------------------------------------------------------------------------------------------

std::string DefaultRepoPath() {
  if (const char* p = getenv("IPFSKIT_PATH"); p && *p) return p;
  if (const char* x = getenv("XDG_DATA_HOME"); x && *x == '/') return std::string(x) + "/ipfskit";
  const char* home = getenv("HOME");
  if (!home || !*home) {
    if (const passwd* pw = getpwuid(getuid())) home = pw->pw_dir;
  }
  return std::string(home ? home : ".") + "/.local/share/ipfskit";
}

Result<std::shared_ptr<Repo>> Repo::Open(const RepoOptions& options) {
  RepoOptions o = options;
  if (o.path.empty()) o.path = DefaultRepoPath();
  if (o.map_size == 0) return MakeError(Errc::kInvalidArgument, "repo map size must be positive");
  IPFSKIT_TRY_STATUS(PrepareDir(o));
  std::error_code ec;
  std::string key = fs::canonical(o.path, ec).string();
  if (ec) return MakeError(Errc::kIo, "cannot resolve repo path " + o.path + ": " + ec.message());

  std::shared_ptr<RepoEnv> env;
  {
    std::lock_guard lock(g_registry_mu);
    std::erase_if(Registry(), [](const auto& kv) { return kv.second.expired(); });
    auto& slot = Registry()[key];
    env = slot.lock();
    if (env && env->read_only && !o.read_only)
      return MakeError(Errc::kReadOnly, "repo " + o.path + " is already open read-only in this process");
    if (!env) {
      IPFSKIT_ASSIGN_OR_RETURN(env, OpenEnv(o));
      slot = env;
    }
  }
  auto repo = std::shared_ptr<Repo>(new Repo());
  repo->impl_ = std::make_unique<Impl>();
  repo->impl_->env = env;
  repo->impl_->read_only = o.read_only;
  MDB_envinfo info;
  mdb_env_info(env->env, &info);
  repo->impl_->map_size = info.me_mapsize;
  repo->path_ = o.path;
  return repo;
}

Repo::~Repo() = default;

bool Repo::read_only() const { return impl_->read_only; }

Result<Block> Repo::Get(const Cid& cid) {
  if (cid.is_identity()) return IdentityBlock(cid);
  IPFSKIT_ASSIGN_OR_RETURN(auto found, impl_->Lookup(cid));
  auto keep = std::make_shared<BlockKeepalive>(BlockKeepalive{impl_->env, std::move(found.first)});
  return Block::View(found.second, std::move(keep));
}

bool Repo::Has(const Cid& cid) {
  if (cid.is_identity()) return true;
  auto found = impl_->Find(cid);  // a miss builds no error message
  return found.ok() && found->has_value();
}

Status Repo::Put(const Cid& cid, ByteView data, bool trusted) {
  IPFSKIT_TRY_STATUS(impl_->CheckWritable());
  IPFSKIT_TRY_STATUS(CheckBlock(cid, data, trusted));
  if (cid.is_identity()) return Status::Ok();
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, impl_->BeginWrite());
  IPFSKIT_TRY_STATUS(txn.PutBlock(cid, data));
  return txn.Commit();
}

Status Repo::Delete(const Cid& cid) {
  IPFSKIT_TRY_STATUS(impl_->CheckWritable());
  if (cid.is_identity()) return Status::Ok();
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, impl_->BeginWrite());
  MDB_txn* t = impl_->Raw(txn);
  MDB_val k = lmdb::Val(cid.bytes()), v;
  int rc = mdb_get(t, impl_->env->pins, &k, &v);
  if (rc == 0 && v.mv_size == 1)
    return MakeError(Errc::kInvalidArgument,
                     "block " + cid.ToString() + " is pinned (" +
                         PinName(static_cast<PinType>(*static_cast<uint8_t*>(v.mv_data))) +
                         "); unpin it first");
  if (rc && rc != MDB_NOTFOUND) return impl_->env->Err(rc, "read pin " + cid.ToString());
  rc = mdb_del(t, impl_->env->blocks, &k, nullptr);
  if (rc == MDB_NOTFOUND) return MakeError(Errc::kNotFound, "block " + cid.ToString() + " not found in repo");
  if (rc) return impl_->env->Err(rc, "delete block " + cid.ToString());
  txn.blocks_changed_ = true;
  return txn.Commit();
}

std::unique_ptr<BlockSink> Repo::NewWriter(size_t batch_bytes) {
  return std::make_unique<BatchWriter>(impl_->env, impl_->read_only, batch_bytes);
}

Result<RepoTxn> Repo::BeginWrite() { return impl_->BeginWrite(); }

Result<RepoTxn> Repo::BeginRead(std::initializer_list<RepoDb> dbs) {
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, BeginRepoTxn(impl_->env, false));
  MDB_stat st;
  for (RepoDb db : dbs)
    if (int rc = mdb_stat(txn.txn_, db.dbi, &st)) return impl_->env->Err(rc, "read db root");
  for (MDB_dbi dbi : {impl_->env->blocks, impl_->env->meta})
    if (int rc = mdb_stat(txn.txn_, dbi, &st)) return impl_->env->Err(rc, "read db root");
  return txn;
}

Result<RepoDb> Repo::OpenDb(const std::string& name) {
  static const char* const kOwn[] = {"blocks", "pins", "meta", "leases"};
  for (const char* n : kOwn)
    if (name == n) return MakeError(Errc::kInvalidArgument, "database name '" + name + "' belongs to the repo");
  if (name.empty()) return MakeError(Errc::kInvalidArgument, "empty database name");
  RepoEnv& e = *impl_->env;
  std::lock_guard lock(e.dbi_mu);
  if (auto it = e.component_dbs.find(name); it != e.component_dbs.end()) return RepoDb{it->second};
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(e.env, e.read_only ? MDB_RDONLY : 0, &txn);
  if (rc) return e.Err(rc, "open database " + name);
  MDB_dbi dbi = 0;
  rc = mdb_dbi_open(txn.get(), name.c_str(), e.read_only ? 0 : MDB_CREATE, &dbi);
  if (rc == MDB_NOTFOUND) return MakeError(Errc::kNotFound, e.Ctx("database " + name + " does not exist"));
  if (rc) return e.Err(rc, "open database " + name);
  if ((rc = txn.Commit())) return e.Err(rc, "open database " + name);
  e.component_dbs.emplace(name, dbi);
  return RepoDb{dbi};
}

Result<std::unique_ptr<RepoLease>> Repo::NewLease() {
  IPFSKIT_TRY_STATUS(impl_->CheckWritable());
  return NewRepoLease(impl_->env);
}

void Repo::ReleaseOldSnapshot() { impl_->env->DropOldSnapshot(); }

Result<uint64_t> Repo::CountLeases() {
  RepoEnv& e = *impl_->env;
  if (!e.has_leases) return uint64_t{0};
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, BeginRepoTxn(impl_->env, false));
  uint64_t n = 0;
  Bytes last;
  IPFSKIT_TRY_STATUS(txn.ForEach(RepoDb{e.leases}, [&](ByteView k, ByteView) {
    if (k.size() >= kLeaseIdSize && (last.empty() || !std::equal(last.begin(), last.end(), k.begin()))) {
      last.assign(k.begin(), k.begin() + kLeaseIdSize);
      ++n;
    }
    return true;
  }));
  return n;
}

Status Repo::Pin(const Cid& cid, PinType type) {
  if (!cid.valid()) return MakeError(Errc::kInvalidArgument, "invalid (empty) CID");
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn rtxn, impl_->BeginWrite());
  MDB_txn* txn = impl_->Raw(rtxn);
  MDB_val k = lmdb::Val(cid.bytes()), v;
  int rc = mdb_get(txn, impl_->env->pins, &k, &v);
  if (rc == 0 && v.mv_size == 1) {
    auto existing = static_cast<PinType>(*static_cast<uint8_t*>(v.mv_data));
    if (existing == type) return Status::Ok();
    // As Kubo: a recursive pin is not narrowed to a direct one.
    if (existing == PinType::kRecursive)
      return MakeError(Errc::kExists, cid.ToString() + " is already pinned recursively");
  } else if (rc && rc != MDB_NOTFOUND) {
    return impl_->env->Err(rc, "read pin " + cid.ToString());
  }
  Bytes val = PinValue(type);
  v = lmdb::Val(val);
  rc = mdb_put(txn, impl_->env->pins, &k, &v, 0);
  if (rc) return impl_->env->Err(rc, "pin " + cid.ToString());
  return rtxn.Commit();
}

Status Repo::Unpin(const Cid& cid) {
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn rtxn, impl_->BeginWrite());
  MDB_val k = lmdb::Val(cid.bytes());
  int rc = mdb_del(impl_->Raw(rtxn), impl_->env->pins, &k, nullptr);
  if (rc == MDB_NOTFOUND) return MakeError(Errc::kNotFound, cid.ToString() + " is not pinned");
  if (rc) return impl_->env->Err(rc, "unpin " + cid.ToString());
  return rtxn.Commit();
}

Result<std::vector<std::pair<Cid, PinType>>> Repo::ListPins() {
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(impl_->env->env, MDB_RDONLY, &txn);
  if (rc) return impl_->env->Err(rc, "begin read transaction");
  lmdb::Cursor cur;
  if ((rc = lmdb::Cursor::Open(txn, impl_->env->pins, &cur))) return impl_->env->Err(rc, "list pins");
  std::vector<std::pair<Cid, PinType>> out;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    auto cid = Cid::FromBytes(lmdb::View(k));
    if (!cid.ok() || v.mv_size != 1)
      return MakeError(Errc::kMalformed, "repo " + path_ + ": malformed pin entry");
    out.emplace_back(std::move(*cid), static_cast<PinType>(*static_cast<uint8_t*>(v.mv_data)));
  }
  if (rc != MDB_NOTFOUND) return impl_->env->Err(rc, "list pins");
  return out;
}

std::optional<PinType> Repo::PinnedAs(const Cid& cid) {
  lmdb::Txn txn;
  if (lmdb::Txn::Begin(impl_->env->env, MDB_RDONLY, &txn)) return std::nullopt;
  MDB_val k = lmdb::Val(cid.bytes()), v;
  int rc = mdb_get(txn.get(), impl_->env->pins, &k, &v);
  lmdb::CheckFatal(rc, "read pin in repo " + path_);
  if (rc || v.mv_size != 1) return std::nullopt;
  return static_cast<PinType>(*static_cast<uint8_t*>(v.mv_data));
}

Result<GcResult> Repo::Gc(const std::vector<Cid>& extra_roots) {
  RepoEnv& e = *impl_->env;
  // Mark and sweep in one write transaction: no block can be added, pinned or leased in between,
  // by this process or another.
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn rtxn, impl_->BeginWrite());
  MDB_txn* txn = impl_->Raw(rtxn);
  GcResult result;

  // Roots: recursive pins, tree roots and leased blocks are walked; direct pins protect only
  // themselves.
  std::vector<Cid> walk(extra_roots.begin(), extra_roots.end());
  std::unordered_set<Cid> marked;
  Status bad;
  IPFSKIT_TRY_STATUS(rtxn.ForEach(RepoDb{e.pins}, [&](ByteView k, ByteView v) {
    auto cid = Cid::FromBytes(k);
    if (!cid.ok() || v.size() != 1) {
      bad = MakeError(Errc::kMalformed, "repo " + path_ + ": malformed pin entry; gc stopped");
      return false;
    }
    if (v[0] == static_cast<uint8_t>(PinType::kRecursive))
      walk.push_back(std::move(*cid));
    else
      marked.insert(std::move(*cid));
    return true;
  }));
  IPFSKIT_TRY_STATUS(bad);
  IPFSKIT_TRY_STATUS(rtxn.ForEach(RepoDb{e.meta}, [&](ByteView k, ByteView v) {
    std::string_view key = AsChars(k);
    if (key.size() > 5 && key.ends_with(".root"))
      if (auto cid = Cid::FromBytes(v); cid.ok()) walk.push_back(std::move(*cid));
    return true;
  }));
  // Leases: keep the blocks of live owners, reclaim the rest.
  std::vector<Bytes> dead;
  {
    Bytes current;
    bool current_alive = false;
    IPFSKIT_TRY_STATUS(rtxn.ForEach(RepoDb{e.leases}, [&](ByteView k, ByteView) {
      if (k.size() <= kLeaseIdSize) return true;
      if (current.empty() || !std::equal(current.begin(), current.end(), k.begin())) {
        current.assign(k.begin(), k.begin() + kLeaseIdSize);
        current_alive = LeaseAlive(e, HexEncode(current));
        if (current_alive) ++result.live_leases;
        else dead.push_back(current);
      }
      if (current_alive)
        if (auto cid = Cid::FromBytes(k.subspan(kLeaseIdSize)); cid.ok()) walk.push_back(std::move(*cid));
      return true;
    }));
  }
  for (const Bytes& id : dead) {
    if (int rc = DeleteLeaseEntries(txn, e.leases, id.data())) return e.Err(rc, "gc: reclaim lease");
    ++result.reclaimed_leases;
  }

  // Mark: follow links through blocks that are stored (or inline); missing children are fine.
  while (!walk.empty()) {
    Cid cid = std::move(walk.back());
    walk.pop_back();
    if (!marked.insert(cid).second) continue;
    ByteView data;
    Block inline_block;
    if (cid.is_identity()) {
      inline_block = IdentityBlock(cid).value();
      data = inline_block.data();
    } else {
      MDB_val k = lmdb::Val(cid.bytes()), v;
      int rc = mdb_get(txn, e.blocks, &k, &v);
      if (rc == MDB_NOTFOUND) continue;
      if (rc) return e.Err(rc, "gc: read block " + cid.ToString());
      data = lmdb::View(v);
    }
    auto links = DagLinks(cid, data);
    // Without its links we cannot know what the block keeps alive: stop rather than lose data.
    if (!links.ok())
      return MakeError(Errc::kMalformed, "gc stopped: cannot read links of kept block " +
                                             cid.ToString() + ": " + links.error().message);
    for (Cid& c : *links)
      if (!marked.count(c)) walk.push_back(std::move(c));
  }

  // Sweep.
  {
    MDB_cursor* cur = nullptr;
    int rc = mdb_cursor_open(txn, e.blocks, &cur);
    if (rc) return e.Err(rc, "gc: scan blocks");
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      auto cid = Cid::FromBytes(lmdb::View(k));
      if (!cid.ok()) continue;  // not ours to judge; leave unknown keys alone
      if (marked.count(*cid)) continue;
      result.removed_bytes += v.mv_size;
      result.removed_blocks++;
      result.removed.push_back(std::move(*cid));
      if ((rc = mdb_cursor_del(cur, 0))) break;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) return e.Err(rc, "gc: scan blocks");
  }
  rtxn.blocks_changed_ = result.removed_blocks > 0;
  IPFSKIT_TRY_STATUS(rtxn.Commit());
  if (result.removed_blocks > 0) {
    // LMDB reuses pages freed by transaction N only from transaction N+2 on. Commit a tiny
    // record now, so the space GC freed is usable by the very next write even in a full map.
    // Failure here only delays the reuse.
    std::string note = std::to_string(result.removed_blocks);
    (void)PutMeta("repo.last_gc_removed", AsBytes(note));
  }
  return result;
}

Status Repo::PutMeta(std::string_view key, ByteView value) {
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, impl_->BeginWrite());
  IPFSKIT_TRY_STATUS(txn.PutMeta(key, value));
  return txn.Commit();
}

Result<Bytes> Repo::GetMeta(std::string_view key) {
  if (key.empty()) return MakeError(Errc::kInvalidArgument, "empty meta key");
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, BeginRepoTxn(impl_->env, false));
  IPFSKIT_ASSIGN_OR_RETURN(auto v, txn.Get(RepoDb{impl_->env->meta}, AsBytes(key)));
  if (!v) return MakeError(Errc::kNotFound, "meta key '" + std::string(key) + "' not set");
  return Bytes(v->begin(), v->end());
}

Result<RepoStat> Repo::Stat() {
  RepoEnv& e = *impl_->env;
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(e.env, MDB_RDONLY, &txn);
  if (rc) return e.Err(rc, "begin read transaction");
  RepoStat st;
  MDB_stat ms;
  if ((rc = mdb_stat(txn.get(), e.blocks, &ms))) return e.Err(rc, "stat blocks");
  st.num_blocks = ms.ms_entries;
  if ((rc = mdb_stat(txn.get(), e.pins, &ms))) return e.Err(rc, "stat pins");
  st.num_pins = ms.ms_entries;
  // Walking the leaves reads only node headers; overflow pages holding the data are not touched.
  lmdb::Cursor cur;
  if ((rc = lmdb::Cursor::Open(txn, e.blocks, &cur))) return e.Err(rc, "stat blocks");
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT))
    st.blocks_bytes += v.mv_size;
  if (rc != MDB_NOTFOUND) return e.Err(rc, "stat blocks");
  MDB_envinfo info;
  mdb_env_info(e.env, &info);
  st.map_size = info.me_mapsize;
  struct stat sb;
  if (::stat((e.path + "/data.mdb").c_str(), &sb) == 0) st.disk_bytes = static_cast<uint64_t>(sb.st_size);
  return st;
}

}  // namespace ipfskit
