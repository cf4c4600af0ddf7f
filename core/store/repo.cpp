// LMDB-backed Repo. See repo.h for the contract.
//
// Ownership: an Env (the MDB_env and its named dbs) is shared by every Repo opened on the same
// directory in this process (LMDB forbids opening one environment twice in a process), by the
// batch writers and by every read snapshot. Blocks handed out by Get hold a snapshot, so the
// environment stays open, and the pages they point into stay unrecycled, while any Block lives.
#include "core/store/repo.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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

struct WriterState;

// A read transaction shared by concurrent Gets and kept alive by the Blocks they return.
// Concurrent mdb_get calls on one read-only txn are safe once the txn has loaded each named
// db's root (DB_STALE cleared), which NewSnapshot forces with mdb_stat.
struct ReadSnapshot {
  lmdb::Txn txn;
  std::chrono::steady_clock::time_point created;
};

// One open LMDB environment. Shared; closes when the last user is gone.
struct Env {
  std::string path;
  MDB_env* env = nullptr;
  MDB_dbi blocks = 0, pins = 0, meta = 0;
  bool read_only = false;

  // Blocks that live writers have written (or are about to write) are GC roots until the
  // writer is destroyed: an import commits blocks long before its root is pinned.
  std::mutex writers_mu;
  std::unordered_set<WriterState*> writers;

  // The cached snapshot. Dropped after each commit that changes blocks, so new Gets see the
  // change and freed pages become reusable once the Blocks still holding it are gone.
  std::mutex snap_mu;
  std::shared_ptr<ReadSnapshot> snap;

  ~Env() {
    snap.reset();
    if (env) mdb_env_close(env);
  }

  std::string Ctx(std::string_view what) const { return std::string(what) + " in repo " + path; }
  Error Err(int rc, std::string_view what) const { return lmdb::ToError(rc, Ctx(what)); }

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
};

struct WriterState {
  std::vector<Cid> protected_cids;  // guarded by Env::writers_mu
};

// What a Block returned by Get holds on to.
struct BlockKeepalive {
  std::shared_ptr<Env> env;  // declared first: destroyed after the snapshot's txn
  std::shared_ptr<ReadSnapshot> snap;
};

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<Env>>& Registry() {
  static auto* r = new std::map<std::string, std::weak_ptr<Env>>();
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

Result<std::shared_ptr<Env>> OpenEnv(const RepoOptions& o) {
  auto e = std::make_shared<Env>();
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

Status CheckWritable(const Env& env, bool read_only) {
  if (read_only) return MakeError(Errc::kReadOnly, "repo " + env.path + " is open read-only");
  return Status::Ok();
}

Result<lmdb::Txn> BeginWrite(Env& env, bool read_only, std::string_view what) {
  IPFSKIT_TRY_STATUS(CheckWritable(env, read_only));
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env.env, 0, &txn);
  if (rc) return env.Err(rc, what);
  return txn;
}

Status Commit(Env& env, lmdb::Txn& txn, std::string_view what, bool blocks_changed) {
  int rc = txn.Commit();
  if (rc) return env.Err(rc, what);
  if (blocks_changed) env.DropSnapshot();
  return Status::Ok();
}

// Buffers blocks and writes each batch in one short write transaction on the calling thread.
// LMDB write transactions belong to the thread that began them, so none is held between calls;
// this lets importer worker threads take turns on one writer.
class BatchWriter : public BlockSink {
 public:
  BatchWriter(std::shared_ptr<Env> env, bool read_only, size_t batch_bytes)
      : env_(std::move(env)), read_only_(read_only), batch_bytes_(std::max<size_t>(batch_bytes, 1)) {
    std::lock_guard lock(env_->writers_mu);
    env_->writers.insert(&state_);
  }
  ~BatchWriter() override {
    std::lock_guard lock(env_->writers_mu);
    env_->writers.erase(&state_);
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
    {
      // Protect before writing: a Gc that starts after our commit must already see these.
      std::lock_guard lock(env_->writers_mu);
      for (const Entry& e : pending_) state_.protected_cids.push_back(e.cid);
    }
    // Sorted keys keep LMDB's page writes local instead of scattered across the tree.
    std::sort(pending_.begin(), pending_.end(),
              [](const Entry& a, const Entry& b) { return a.cid < b.cid; });
    IPFSKIT_ASSIGN_OR_RETURN(lmdb::Txn txn, BeginWrite(*env_, read_only_, "begin batch"));
    for (const Entry& e : pending_) {
      MDB_val k = lmdb::Val(e.cid.bytes()), v = lmdb::Val(e.data);
      int rc = mdb_put(txn.get(), env_->blocks, &k, &v, MDB_NOOVERWRITE);
      if (rc && rc != MDB_KEYEXIST) return env_->Err(rc, "put block " + e.cid.ToString());
    }
    IPFSKIT_TRY_STATUS(ipfskit::Commit(*env_, txn, "commit batch", true));
    pending_.clear();
    in_batch_.clear();
    pending_bytes_ = 0;
    return Status::Ok();
  }

  std::shared_ptr<Env> env_;
  bool read_only_;
  size_t batch_bytes_;
  WriterState state_;
  std::vector<Entry> pending_;
  std::unordered_set<Cid> in_batch_;
  size_t pending_bytes_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Repo::Impl {
  std::shared_ptr<Env> env;
  bool read_only = false;
  size_t map_size = 0;

  // Looks a key up in the blocks db. On a miss retries once in a fresh snapshot, since another
  // process may have written the block after our snapshot began.
  Result<std::pair<std::shared_ptr<ReadSnapshot>, ByteView>> Lookup(const Cid& cid) {
    std::shared_ptr<ReadSnapshot> s;
    for (int attempt = 0; attempt < 2; ++attempt) {
      IPFSKIT_ASSIGN_OR_RETURN(s, env->Snapshot(attempt ? s.get() : nullptr));
      MDB_val k = lmdb::Val(cid.bytes()), v;
      int rc = mdb_get(s->txn.get(), env->blocks, &k, &v);
      if (rc == 0) return std::make_pair(s, lmdb::View(v));
      if (rc != MDB_NOTFOUND) return env->Err(rc, "get block " + cid.ToString());
    }
    return MakeError(Errc::kNotFound, "block " + cid.ToString() + " not found in repo");
  }

  Status CheckWritable() const { return ipfskit::CheckWritable(*env, read_only); }
  Result<lmdb::Txn> BeginWrite(std::string_view what) { return ipfskit::BeginWrite(*env, read_only, what); }
  Status Commit(lmdb::Txn& txn, std::string_view what, bool blocks_changed) {
    return ipfskit::Commit(*env, txn, what, blocks_changed);
  }
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

  std::shared_ptr<Env> env;
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
  repo->env_ = env->env;
  return repo;
}

Repo::~Repo() = default;

Result<Block> Repo::Get(const Cid& cid) {
  if (cid.is_identity()) return IdentityBlock(cid);
  IPFSKIT_ASSIGN_OR_RETURN(auto found, impl_->Lookup(cid));
  auto keep = std::make_shared<BlockKeepalive>(BlockKeepalive{impl_->env, std::move(found.first)});
  return Block::View(found.second, std::move(keep));
}

bool Repo::Has(const Cid& cid) {
  if (cid.is_identity()) return true;
  return impl_->Lookup(cid).ok();
}

Status Repo::Put(const Cid& cid, ByteView data, bool trusted) {
  IPFSKIT_TRY_STATUS(impl_->CheckWritable());
  IPFSKIT_TRY_STATUS(CheckBlock(cid, data, trusted));
  if (cid.is_identity()) return Status::Ok();
  IPFSKIT_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->BeginWrite("begin put"));
  MDB_val k = lmdb::Val(cid.bytes()), v = lmdb::Val(data);
  int rc = mdb_put(txn.get(), impl_->env->blocks, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return Status::Ok();
  if (rc) return impl_->env->Err(rc, "put block " + cid.ToString());
  return impl_->Commit(txn, "commit block " + cid.ToString(), true);
}

Status Repo::Delete(const Cid& cid) {
  IPFSKIT_TRY_STATUS(impl_->CheckWritable());
  if (cid.is_identity()) return Status::Ok();
  IPFSKIT_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->BeginWrite("begin delete"));
  MDB_val k = lmdb::Val(cid.bytes()), v;
  int rc = mdb_get(txn.get(), impl_->env->pins, &k, &v);
  if (rc == 0 && v.mv_size == 1)
    return MakeError(Errc::kInvalidArgument,
                     "block " + cid.ToString() + " is pinned (" +
                         PinName(static_cast<PinType>(*static_cast<uint8_t*>(v.mv_data))) +
                         "); unpin it first");
  if (rc && rc != MDB_NOTFOUND) return impl_->env->Err(rc, "read pin " + cid.ToString());
  rc = mdb_del(txn.get(), impl_->env->blocks, &k, nullptr);
  if (rc == MDB_NOTFOUND) return MakeError(Errc::kNotFound, "block " + cid.ToString() + " not found in repo");
  if (rc) return impl_->env->Err(rc, "delete block " + cid.ToString());
  return impl_->Commit(txn, "commit delete", true);
}

std::unique_ptr<BlockSink> Repo::NewWriter(size_t batch_bytes) {
  return std::make_unique<BatchWriter>(impl_->env, impl_->read_only, batch_bytes);
}

Status Repo::Pin(const Cid& cid, PinType type) {
  if (!cid.valid()) return MakeError(Errc::kInvalidArgument, "invalid (empty) CID");
  IPFSKIT_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->BeginWrite("begin pin"));
  MDB_val k = lmdb::Val(cid.bytes()), v;
  int rc = mdb_get(txn.get(), impl_->env->pins, &k, &v);
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
  rc = mdb_put(txn.get(), impl_->env->pins, &k, &v, 0);
  if (rc) return impl_->env->Err(rc, "pin " + cid.ToString());
  return impl_->Commit(txn, "commit pin", false);
}

Status Repo::Unpin(const Cid& cid) {
  IPFSKIT_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->BeginWrite("begin unpin"));
  MDB_val k = lmdb::Val(cid.bytes());
  int rc = mdb_del(txn.get(), impl_->env->pins, &k, nullptr);
  if (rc == MDB_NOTFOUND) return MakeError(Errc::kNotFound, cid.ToString() + " is not pinned");
  if (rc) return impl_->env->Err(rc, "unpin " + cid.ToString());
  return impl_->Commit(txn, "commit unpin", false);
}

Result<std::vector<std::pair<Cid, PinType>>> Repo::ListPins() {
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env_, MDB_RDONLY, &txn);
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
  if (lmdb::Txn::Begin(env_, MDB_RDONLY, &txn)) return std::nullopt;
  MDB_val k = lmdb::Val(cid.bytes()), v;
  int rc = mdb_get(txn.get(), impl_->env->pins, &k, &v);
  lmdb::CheckFatal(rc, "read pin in repo " + path_);
  if (rc || v.mv_size != 1) return std::nullopt;
  return static_cast<PinType>(*static_cast<uint8_t*>(v.mv_data));
}

Result<GcResult> Repo::Gc(const std::vector<Cid>& extra_roots) {
  Env& e = *impl_->env;
  // Mark and sweep in one write transaction: no block can be added or pinned in between.
  IPFSKIT_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->BeginWrite("begin gc"));

  // Roots: `recursive` ones are walked; direct pins protect only themselves.
  std::vector<Cid> walk(extra_roots.begin(), extra_roots.end());
  std::unordered_set<Cid> marked;
  {
    lmdb::Cursor cur;
    int rc = lmdb::Cursor::Open(txn, e.pins, &cur);
    if (rc) return e.Err(rc, "gc: list pins");
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
      auto cid = Cid::FromBytes(lmdb::View(k));
      if (!cid.ok() || v.mv_size != 1)
        return MakeError(Errc::kMalformed, "repo " + path_ + ": malformed pin entry; gc stopped");
      if (*static_cast<uint8_t*>(v.mv_data) == static_cast<uint8_t>(PinType::kRecursive))
        walk.push_back(std::move(*cid));
      else
        marked.insert(std::move(*cid));
    }
    if (rc != MDB_NOTFOUND) return e.Err(rc, "gc: list pins");
  }
  {
    std::lock_guard lock(e.writers_mu);
    for (WriterState* w : e.writers)
      walk.insert(walk.end(), w->protected_cids.begin(), w->protected_cids.end());
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
      int rc = mdb_get(txn.get(), e.blocks, &k, &v);
      if (rc == MDB_NOTFOUND) continue;
      if (rc) return e.Err(rc, "gc: read block " + cid.ToString());
      data = lmdb::View(v);
    }
    auto links = DagLinks(cid, data);
    // Without its links we cannot know what the block keeps alive: stop rather than lose data.
    if (!links.ok())
      return MakeError(Errc::kMalformed, "gc stopped: cannot read links of pinned block " +
                                             cid.ToString() + ": " + links.error().message);
    for (Cid& c : *links)
      if (!marked.count(c)) walk.push_back(std::move(c));
  }

  // Sweep.
  GcResult result;
  {
    lmdb::Cursor cur;
    int rc = lmdb::Cursor::Open(txn, e.blocks, &cur);
    if (rc) return e.Err(rc, "gc: scan blocks");
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
      auto cid = Cid::FromBytes(lmdb::View(k));
      if (!cid.ok()) continue;  // not ours to judge; leave unknown keys alone
      if (marked.count(*cid)) continue;
      result.removed_bytes += v.mv_size;
      result.removed_blocks++;
      result.removed.push_back(std::move(*cid));
      if ((rc = mdb_cursor_del(cur.get(), 0))) return e.Err(rc, "gc: delete block");
    }
    if (rc != MDB_NOTFOUND) return e.Err(rc, "gc: scan blocks");
  }
  IPFSKIT_TRY_STATUS(impl_->Commit(txn, "commit gc", result.removed_blocks > 0));
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
  if (key.empty()) return MakeError(Errc::kInvalidArgument, "empty meta key");
  IPFSKIT_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->BeginWrite("begin meta put"));
  MDB_val k = lmdb::Val(AsBytes(key)), v = lmdb::Val(value);
  int rc = mdb_put(txn.get(), impl_->env->meta, &k, &v, 0);
  if (rc) return impl_->env->Err(rc, "put meta '" + std::string(key) + "'");
  return impl_->Commit(txn, "commit meta", false);
}

Result<Bytes> Repo::GetMeta(std::string_view key) {
  if (key.empty()) return MakeError(Errc::kInvalidArgument, "empty meta key");
  lmdb::Txn txn;
  int rc = lmdb::Txn::Begin(env_, MDB_RDONLY, &txn);
  if (rc) return impl_->env->Err(rc, "begin read transaction");
  MDB_val k = lmdb::Val(AsBytes(key)), v;
  rc = mdb_get(txn.get(), impl_->env->meta, &k, &v);
  if (rc == MDB_NOTFOUND) return MakeError(Errc::kNotFound, "meta key '" + std::string(key) + "' not set");
  if (rc) return impl_->env->Err(rc, "get meta '" + std::string(key) + "'");
  ByteView b = lmdb::View(v);
  return Bytes(b.begin(), b.end());
}

Result<RepoStat> Repo::Stat() {
  Env& e = *impl_->env;
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
