// MfsTree: directories, names, commit and reload. File contents are in mfs_file.cpp.
#include "core/mfs/mfs_tree.h"
#include "core/util/log.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/mfs/mfs_node.h"

namespace ipfskit {

using Node = MfsTree::Node;
using NodeRef = MfsTree::NodeRef;

timespec MfsNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

Status ApplyMfsProfile(std::string_view profile, MfsOptions& o) { return ApplyProfile(profile, o.import); }

namespace {

Status CheckName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    return MakeError(Errc::kInvalidArgument, "invalid name '" + std::string(name) + "'");
  if (name.size() > 255) return MakeError(Errc::kNameTooLong, "name too long");
  return Status::Ok();
}

uint32_t DefaultMode(MfsKind k) {
  return k == MfsKind::kDirectory ? 0755 : k == MfsKind::kSymlink ? 0777 : 0644;
}

// Kinds in the side record: one letter each, as ls -l shows them.
const char* KindLetter(MfsKind k) {
  switch (k) {
    case MfsKind::kFile: return "-";
    case MfsKind::kDirectory: return "d";
    case MfsKind::kSymlink: return "l";
    case MfsKind::kFifo: return "p";
    case MfsKind::kSocket: return "s";
    case MfsKind::kCharDevice: return "c";
    case MfsKind::kBlockDevice: return "b";
  }
  return "-";
}

std::optional<MfsKind> KindFromLetter(std::string_view l) {
  for (MfsKind k : {MfsKind::kFile, MfsKind::kDirectory, MfsKind::kSymlink, MfsKind::kFifo, MfsKind::kSocket,
                    MfsKind::kCharDevice, MfsKind::kBlockDevice})
    if (l == KindLetter(k)) return k;
  return std::nullopt;
}

// "/a/b/c" -> ("/a/b", "c").
std::pair<std::string_view, std::string_view> SplitPath(std::string_view p) {
  size_t s = p.rfind('/');
  if (s == std::string_view::npos) return {std::string_view(), p};
  return {p.substr(0, s), p.substr(s + 1)};
}

// Cumulative size of a DAG from its root block: block size plus the links' Tsize.
Result<uint64_t> TsizeOf(BlockGetter& blocks, const Cid& cid) {
  IPFSKIT_ASSIGN_OR_RETURN(Block b, blocks.Get(cid));
  uint64_t t = b.size();
  if (cid.codec() != codec::kDagPb) return t;
  IPFSKIT_ASSIGN_OR_RETURN(PbNode n, DecodePbNode(b.data()));
  for (const auto& l : n.links) t += l.tsize.value_or(0);
  return t;
}

}  // namespace

Status MfsPendingSink::Put(const Cid& cid, ByteView data, bool) { return blocks_.Put(cid, Bytes(data.begin(), data.end())); }

// ---- opening ----

Result<std::shared_ptr<MfsTree>> MfsTree::Open(std::shared_ptr<Repo> repo, MfsOptions options,
                                               std::shared_ptr<BlockGetter> fallback) {
  auto t = std::shared_ptr<MfsTree>(new MfsTree());
  t->opts_ = std::move(options);
  // Metadata goes into the DAG by the tree's own rules, never by the importer's.
  t->opts_.import.preserve_mode = t->opts_.import.preserve_mtime = false;
  t->repo_ = repo;
  IPFSKIT_ASSIGN_OR_RETURN(t->blocks_, MfsBlocks::Open(repo, std::move(fallback), t->opts_.pending_limit));
  t->reader_ = std::make_shared<UnixfsReader>(t->blocks_);
  auto stored = repo->GetMeta(t->opts_.root_key);
  if (stored.ok()) {
    auto cid = Cid::FromBytes(*stored);
    if (!cid.ok())
      return MakeError(Errc::kMalformed, "repo meta '" + t->opts_.root_key + "' does not hold a CID: " +
                                             cid.error().message);
    auto root = t->MakeNode(*cid, 0);
    if (!root.ok())
      return MakeError(root.error().code, "MFS root " + cid->ToString() + ": " + root.error().message);
    if ((*root)->kind != MfsKind::kDirectory)
      return MakeError(Errc::kMalformed, "MFS root " + cid->ToString() + " is not a directory");
    t->root_ = *root;
    t->committed_root_ = *cid;
    auto posix = repo->GetMeta(t->PosixKey());
    if (posix.ok()) {
      std::lock_guard lock(t->mu_);
      t->ApplyPosixRecordLocked(*posix);
      t->committed_posix_ = std::move(*posix);
    }
  } else if (stored.error().code == Errc::kNotFound) {
    t->root_ = t->NewNode(MfsKind::kDirectory);
    t->root_->loaded = true;
    t->root_->dir_stale = true;
    t->root_->mode = 0755;
    t->root_->uid = t->opts_.uid;
    t->root_->gid = t->opts_.gid;
    if (!t->opts_.read_only) IPFSKIT_TRY_STATUS(t->Commit());
  } else {
    return stored.error();
  }
  return t;
}

MfsTree::~MfsTree() {
  {
    std::lock_guard lock(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_.joinable()) bg_.join();
}

NodeRef MfsTree::NewNode(MfsKind kind) {
  auto n = std::make_shared<Node>(kind, next_id_.fetch_add(1));
  n->atime = n->mtime = n->ctime = MfsNow();
  return n;
}

Result<NodeRef> MfsTree::MakeNode(const Cid& cid, uint64_t tsize) {
  IPFSKIT_ASSIGN_OR_RETURN(NodeInfo info, reader_->Stat(cid));
  if (tsize == 0) {
    IPFSKIT_ASSIGN_OR_RETURN(tsize, TsizeOf(*blocks_, cid));
  }
  MfsKind kind = info.is_dir() ? MfsKind::kDirectory
                 : info.kind == NodeKind::kSymlink ? MfsKind::kSymlink
                                                   : MfsKind::kFile;
  auto n = std::make_shared<Node>(kind, next_id_.fetch_add(1));
  n->entry = DagEntry{cid, tsize, kind == MfsKind::kFile ? info.size : 0};
  n->mode_in_dag = info.mode.has_value();
  n->mode = info.mode ? (*info.mode & 07777) : DefaultMode(kind);
  n->mtime_in_dag = info.mtime.has_value();
  if (info.mtime) n->mtime = timespec{static_cast<time_t>(info.mtime->seconds), static_cast<long>(info.mtime->nanos)};
  n->atime = n->ctime = n->mtime;
  n->uid = opts_.uid;
  n->gid = opts_.gid;
  if (kind == MfsKind::kFile) n->size = info.size;
  if (kind == MfsKind::kSymlink) n->target = info.symlink_target;
  return n;
}

NodeRef MfsTree::Root() {
  std::lock_guard lock(mu_);
  return root_;
}

uint64_t MfsTree::NodeTag(const NodeRef& n, const std::function<uint64_t()>& alloc) {
  uint64_t t = n->tag.load(std::memory_order_acquire);
  if (t) return t;
  uint64_t fresh = alloc();
  if (n->tag.compare_exchange_strong(t, fresh, std::memory_order_acq_rel)) return fresh;
  return t;
}

MfsKind MfsTree::KindOf(const NodeRef& n) { return n->kind; }

// ---- directories (mu_ held) ----

Status MfsTree::EnsureLoaded(Node& dir) {
  if (dir.loaded) return Status::Ok();
  if (dir.entry.cid.valid()) {
    IPFSKIT_ASSIGN_OR_RETURN(auto entries, reader_->ListDir(dir.entry.cid));
    InstallListingLocked(dir, std::move(entries));
  }
  dir.loaded = true;
  return Status::Ok();
}

void MfsTree::InstallListingLocked(Node& dir, std::vector<DirEntry> entries) {
  for (auto& e : entries) dir.children.emplace(std::move(e.name), Node::Child{nullptr, DagEntry{e.cid, e.tsize, 0}});
  dir.loaded = true;
}

void MfsTree::FetchUnlocked(const NodeRef& dir, const std::string* name) {
  Cid dir_cid, child_cid;
  auto child_of = [&] {
    if (!name) return;
    auto it = dir->children.find(*name);
    if (it != dir->children.end() && !it->second.node) child_cid = it->second.entry.cid;
  };
  {
    std::lock_guard lock(mu_);
    if (dir->kind != MfsKind::kDirectory) return;
    if (!dir->loaded) dir_cid = dir->entry.cid;
    else child_of();
  }
  if (dir_cid.valid()) {
    auto entries = reader_->ListDir(dir_cid);
    if (!entries.ok()) return;  // the locked path reads again and reports the error
    std::lock_guard lock(mu_);
    // Re-check: a commit, reload or another caller may have changed the directory meanwhile.
    if (!dir->loaded && dir->entry.cid == dir_cid) InstallListingLocked(*dir, std::move(*entries));
    child_of();
  }
  if (child_cid.valid()) (void)reader_->Stat(child_cid);  // its root block, now in the cache
}

Result<NodeRef> MfsTree::ChildLocked(Node& dir, const std::string& name) {
  if (dir.kind != MfsKind::kDirectory) return MakeError(Errc::kNotDir, "not a directory");
  IPFSKIT_TRY_STATUS(EnsureLoaded(dir));
  auto it = dir.children.find(name);
  if (it == dir.children.end()) return MakeError(Errc::kNotFound, "no entry '" + name + "'");
  if (!it->second.node) {
    IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, MakeNode(it->second.entry.cid, it->second.entry.tsize));
    n->parent = dir.shared_from_this();
    n->name = name;
    it->second.node = std::move(n);
  }
  return it->second.node;
}

Status MfsTree::CheckDir(const NodeRef& dir, bool for_create) {
  if (!dir || dir->kind != MfsKind::kDirectory) return MakeError(Errc::kNotDir, "not a directory");
  if (for_create && dir->removed) return MakeError(Errc::kNotFound, "directory was removed");
  if (for_create && opts_.read_only) return MakeError(Errc::kReadOnly, "MFS is read-only");
  return Status::Ok();
}

void MfsTree::MarkDirtyLocked(Node* n) {
  if (n->kind == MfsKind::kDirectory) n->dir_stale = true;
  // A stale directory's ancestors are all stale, so the walk stops at the first stale one.
  auto up = [](NodeRef p) {
    while (p && !p->dir_stale) {
      p->dir_stale = true;
      p = p->parent.lock();
    }
  };
  up(n->parent.lock());
  for (auto& l : n->more_links) up(l.first.lock());  // every directory that names a hard link
}

void MfsTree::MarkDirty(Node* n) {
  std::lock_guard lock(mu_);
  MarkDirtyLocked(n);
}

void MfsTree::Touch(Node& dir) {
  std::lock_guard lock(dir.mu);
  dir.mtime = dir.ctime = MfsNow();
  if (dir.mtime_in_dag || opts_.store_mtime) dir.mtime_in_dag = true;
}

void MfsTree::Detach(Node& child) {
  child.parent.reset();
  child.removed = true;
}

void MfsTree::DropLinkLocked(Node& n, const Node& dir, const std::string& name) {
  auto is = [&](const std::weak_ptr<Node>& p, const std::string& nm) { return nm == name && p.lock().get() == &dir; };
  bool had_more = !n.more_links.empty();
  if (is(n.parent, n.name)) {
    if (had_more) {
      n.parent = n.more_links.front().first;
      n.name = n.more_links.front().second;
      n.more_links.erase(n.more_links.begin());
    } else {
      Detach(n);
    }
  } else {
    auto it = std::find_if(n.more_links.begin(), n.more_links.end(), [&](auto& l) { return is(l.first, l.second); });
    if (it != n.more_links.end()) n.more_links.erase(it);
  }
  if (had_more) posix_dirty_ = true;
  std::lock_guard lock(n.mu);
  n.nlink = n.removed ? 0 : 1 + static_cast<uint32_t>(n.more_links.size());
  n.ctime = MfsNow();
}

// Renames one of n's names (dir/name) to new_dir/new_name.
static void MoveLink(Node& n, const Node& dir, const std::string& name, const NodeRef& new_dir,
                     const std::string& new_name) {
  auto is = [&](const std::weak_ptr<Node>& p, const std::string& nm) { return nm == name && p.lock().get() == &dir; };
  if (is(n.parent, n.name)) {
    n.parent = new_dir;
    n.name = new_name;
    return;
  }
  for (auto& l : n.more_links)
    if (is(l.first, l.second)) {
      l.first = new_dir;
      l.second = new_name;
      return;
    }
}

void MfsTree::InitOwner(Node& n, Node& dir, const std::optional<MfsCaller>& caller) {
  n.uid = caller ? caller->uid : opts_.uid;
  n.gid = caller ? caller->gid : opts_.gid;
  {
    std::lock_guard lock(dir.mu);
    // A setgid directory gives its group to new entries, and its setgid bit to new directories.
    if (dir.mode & S_ISGID) {
      n.gid = dir.gid;
      if (n.kind == MfsKind::kDirectory) n.mode |= S_ISGID;
    }
  }
  if (n.uid != opts_.uid || n.gid != opts_.gid || IsSpecial(n.kind)) Track(n.shared_from_this());
}

void MfsTree::Track(const NodeRef& n) {
  posix_dirty_ = true;
  if (n->tracked.exchange(true)) return;
  std::lock_guard lock(posix_mu_);
  posix_nodes_.push_back(n);
}

void MfsTree::DetachGone(Node& n) {
  Detach(n);
  {
    std::lock_guard lock(n.mu);
    n.gone = true;
  }
  if (n.kind != MfsKind::kDirectory) return;
  for (auto& [name, c] : n.children)
    if (c.node) DetachGone(*c.node);
}

bool MfsTree::IsAncestor(const Node* a, const Node* b) const {
  NodeRef keep;
  for (const Node* p = b; p;) {
    if (p == a) return true;
    keep = p->parent.lock();
    p = keep.get();
  }
  return false;
}

Result<MfsAttr> MfsTree::Getattr(const NodeRef& n) {
  MfsAttr a;
  a.kind = n->kind;
  // A directory's links are 2 + its subdirectories when all of its children are known (loaded,
  // and not too many to count); else 1, which tools read as "unknown" (find -noleaf).
  uint32_t dir_links = 1;
  if (n->kind == MfsKind::kDirectory) {
    std::lock_guard lock(mu_);
    if (n->loaded && n->children.size() <= 4096) {
      uint32_t sub = 0;
      bool known = true;
      for (const auto& [name, c] : n->children) {
        if (!c.node) {
          known = false;
          break;
        }
        sub += c.node->kind == MfsKind::kDirectory;
      }
      if (known) dir_links = 2 + sub;
    }
  }
  std::lock_guard lock(n->mu);
  a.mode = n->mode;
  a.uid = n->uid;
  a.gid = n->gid;
  a.nlink = n->kind == MfsKind::kDirectory ? dir_links : n->nlink;
  a.rdev = n->rdev;
  a.atime = n->atime;
  a.mtime = n->mtime;
  a.ctime = n->ctime;
  if (n->kind == MfsKind::kFile) a.size = n->size;
  if (n->kind == MfsKind::kSymlink) a.size = n->target.size();
  return a;
}

Result<NodeRef> MfsTree::Lookup(const NodeRef& dir, std::string_view name) {
  if (name.size() > 255) return MakeError(Errc::kNameTooLong, "name too long");
  const std::string key(name);
  FetchUnlocked(dir, &key);
  std::lock_guard lock(mu_);
  if (dir->kind != MfsKind::kDirectory) return MakeError(Errc::kNotDir, "not a directory");
  return ChildLocked(*dir, key);
}

NodeRef MfsTree::LoadedChild(const NodeRef& dir, std::string_view name) {
  std::lock_guard lock(mu_);
  if (!dir->loaded) return nullptr;
  auto it = dir->children.find(name);
  return it == dir->children.end() ? nullptr : it->second.node;
}

Result<std::vector<MfsListItem>> MfsTree::List(const NodeRef& dir) {
  FetchUnlocked(dir, nullptr);
  std::lock_guard lock(mu_);
  if (dir->kind != MfsKind::kDirectory) return MakeError(Errc::kNotDir, "not a directory");
  IPFSKIT_TRY_STATUS(EnsureLoaded(*dir));
  std::vector<MfsListItem> out;
  out.reserve(dir->children.size());
  for (const auto& [name, c] : dir->children) {
    if (!CheckName(name).ok()) continue;  // e.g. "a/b" from a foreign DAG: kept, never shown
    Cid cid;
    if (!c.node) {
      cid = c.entry.cid;
    } else if (c.node->kind == MfsKind::kDirectory) {
      if (!c.node->dir_stale) cid = c.node->entry.cid;
    } else {
      std::lock_guard nl(c.node->mu);
      if (!c.node->stale) cid = c.node->entry.cid;
    }
    out.push_back(MfsListItem{name, std::move(cid)});
  }
  return out;
}

// Puts a new node under dir as `key` and marks the path dirty (from the node itself when it is
// a new directory, whose own DAG must be made).
void MfsTree::AttachLocked(const NodeRef& dir, const std::string& key, const NodeRef& n, DagEntry entry,
                           bool dirty_self) {
  n->parent = dir;
  n->name = key;
  dir->children.emplace(key, Node::Child{n, std::move(entry)});
  Touch(*dir);
  MarkDirtyLocked(dirty_self ? n.get() : dir.get());
}

Result<NodeRef> MfsTree::Create(const NodeRef& dir, std::string_view name, uint32_t mode, bool exclusive,
                                std::optional<MfsCaller> caller) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  IPFSKIT_TRY_STATUS(EnsureLoaded(*dir));
  std::string key(name);
  if (dir->children.count(key)) {
    if (exclusive) return MakeError(Errc::kExists, "'" + key + "' exists");
    IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, ChildLocked(*dir, key));
    if (n->kind == MfsKind::kDirectory) return MakeError(Errc::kIsDir, "'" + key + "' is a directory");
    return n;
  }
  NodeRef n = NewNode(MfsKind::kFile);
  n->mode = mode & 07777;
  n->mode_in_dag = opts_.store_mode;
  n->mtime_in_dag = opts_.store_mtime;
  n->stale = true;
  InitOwner(*n, *dir, caller);
  AttachLocked(dir, key, n, DagEntry{}, /*dirty_self=*/false);
  return n;
}

Result<NodeRef> MfsTree::Mkdir(const NodeRef& dir, std::string_view name, uint32_t mode,
                               std::optional<MfsCaller> caller) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  IPFSKIT_TRY_STATUS(EnsureLoaded(*dir));
  std::string key(name);
  if (dir->children.count(key)) return MakeError(Errc::kExists, "'" + key + "' exists");
  NodeRef n = NewNode(MfsKind::kDirectory);
  n->mode = mode & 07777;
  n->mode_in_dag = opts_.store_mode;
  n->mtime_in_dag = opts_.store_mtime;
  n->loaded = true;
  InitOwner(*n, *dir, caller);
  AttachLocked(dir, key, n, DagEntry{}, /*dirty_self=*/true);
  return n;
}

Result<NodeRef> MfsTree::Symlink(const NodeRef& dir, std::string_view name, std::string_view target,
                                 std::optional<MfsCaller> caller) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  if (target.empty()) return MakeError(Errc::kInvalidArgument, "empty symlink target");
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  IPFSKIT_TRY_STATUS(EnsureLoaded(*dir));
  std::string key(name);
  if (dir->children.count(key)) return MakeError(Errc::kExists, "'" + key + "' exists");
  NodeRef n = NewNode(MfsKind::kSymlink);
  n->mode = 0777;
  InitOwner(*n, *dir, caller);
  n->target = std::string(target);
  MfsPendingSink sink(*blocks_);
  DagWriter w(opts_.import, &sink);
  IPFSKIT_ASSIGN_OR_RETURN(n->entry, BuildSymlink(target, w));
  AttachLocked(dir, key, n, n->entry, /*dirty_self=*/false);
  return n;
}

Result<NodeRef> MfsTree::Mknod(const NodeRef& dir, std::string_view name, MfsKind kind, uint32_t mode, uint64_t rdev,
                               std::optional<MfsCaller> caller) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  if (!IsSpecial(kind)) return MakeError(Errc::kInvalidArgument, "mknod makes FIFOs, sockets and devices");
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  IPFSKIT_TRY_STATUS(EnsureLoaded(*dir));
  std::string key(name);
  if (dir->children.count(key)) return MakeError(Errc::kExists, "'" + key + "' exists");
  NodeRef n = NewNode(kind);
  n->mode = mode & 07777;
  if (kind == MfsKind::kCharDevice || kind == MfsKind::kBlockDevice) n->rdev = rdev;
  InitOwner(*n, *dir, caller);  // tracks it: a special file lives only in the side record
  AttachLocked(dir, key, n, DagEntry{}, /*dirty_self=*/false);
  return n;
}

Status MfsTree::HardLink(const NodeRef& node, const NodeRef& dir, std::string_view name) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  if (node->kind == MfsKind::kDirectory) return MakeError(Errc::kIsDir, "cannot hard-link a directory");
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  if (node->removed) return MakeError(Errc::kNotFound, "the file has no name left");
  IPFSKIT_TRY_STATUS(EnsureLoaded(*dir));
  std::string key(name);
  if (dir->children.count(key)) return MakeError(Errc::kExists, "'" + key + "' exists");
  // Both names hold the same node; each directory's entry gets its CID at materialisation.
  dir->children.emplace(key, Node::Child{node, {}});
  node->more_links.emplace_back(dir, key);
  {
    std::lock_guard nl(node->mu);
    if (node->gone) {
      node->more_links.pop_back();
      dir->children.erase(key);
      return MakeError(Errc::kNotFound, "removed by another process");
    }
    node->nlink = 1 + static_cast<uint32_t>(node->more_links.size());
    node->ctime = MfsNow();
  }
  Track(node);
  Touch(*dir);
  MarkDirtyLocked(dir.get());
  return Status::Ok();
}

Result<NodeRef> MfsTree::Link(const NodeRef& dir, std::string_view name, const Cid& cid, bool replace) {
  IPFSKIT_TRY_STATUS(CheckName(name));
  // Stat the content before taking the tree lock: it may come from the network.
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, MakeNode(cid, 0));
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  IPFSKIT_TRY_STATUS(EnsureLoaded(*dir));
  std::string key(name);
  if (dir->children.count(key)) {
    if (!replace) return MakeError(Errc::kExists, "'" + key + "' exists");
    IPFSKIT_ASSIGN_OR_RETURN(NodeRef old, ChildLocked(*dir, key));
    if (old->kind == MfsKind::kDirectory) {
      IPFSKIT_TRY_STATUS(EnsureLoaded(*old));
      if (!old->children.empty()) return MakeError(Errc::kNotEmpty, "'" + key + "' is a non-empty directory");
    }
    DropLinkLocked(*old, *dir, key);
    dir->children.erase(key);
  }
  AttachLocked(dir, key, n, n->entry, /*dirty_self=*/false);
  return n;
}

Status MfsTree::Unlink(const NodeRef& dir, std::string_view name) {
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  std::string key(name);
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, ChildLocked(*dir, key));
  if (n->kind == MfsKind::kDirectory) return MakeError(Errc::kIsDir, "'" + key + "' is a directory");
  DropLinkLocked(*n, *dir, key);
  dir->children.erase(key);
  Touch(*dir);
  MarkDirtyLocked(dir.get());
  return Status::Ok();
}

Status MfsTree::Rmdir(const NodeRef& dir, std::string_view name) {
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  std::string key(name);
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, ChildLocked(*dir, key));
  if (n->kind != MfsKind::kDirectory) return MakeError(Errc::kNotDir, "'" + key + "' is not a directory");
  IPFSKIT_TRY_STATUS(EnsureLoaded(*n));
  if (!n->children.empty()) return MakeError(Errc::kNotEmpty, "'" + key + "' is not empty");
  Detach(*n);
  dir->children.erase(key);
  Touch(*dir);
  MarkDirtyLocked(dir.get());
  return Status::Ok();
}

Status MfsTree::Rename(const NodeRef& dir, std::string_view name, const NodeRef& new_dir, std::string_view new_name,
                       unsigned flags) {
  IPFSKIT_TRY_STATUS(CheckName(new_name));
  if ((flags & kMfsRenameNoReplace) && (flags & kMfsRenameExchange))
    return MakeError(Errc::kInvalidArgument, "RENAME_NOREPLACE with RENAME_EXCHANGE");
  if (flags & ~(kMfsRenameNoReplace | kMfsRenameExchange))
    return MakeError(Errc::kInvalidArgument, "unsupported rename flags");
  std::lock_guard lock(mu_);
  IPFSKIT_TRY_STATUS(CheckDir(dir, true));
  IPFSKIT_TRY_STATUS(CheckDir(new_dir, true));
  std::string from(name), to(new_name);
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef src, ChildLocked(*dir, from));
  IPFSKIT_TRY_STATUS(EnsureLoaded(*new_dir));
  NodeRef dst;
  if (new_dir->children.count(to)) {
    IPFSKIT_ASSIGN_OR_RETURN(dst, ChildLocked(*new_dir, to));
  }
  if (flags & kMfsRenameExchange) {
    if (!dst) return MakeError(Errc::kNotFound, "'" + to + "' does not exist");
    if (src == dst) return Status::Ok();
    // Neither may end up inside itself.
    if ((src->kind == MfsKind::kDirectory && IsAncestor(src.get(), new_dir.get())) ||
        (dst->kind == MfsKind::kDirectory && IsAncestor(dst.get(), dir.get())))
      return MakeError(Errc::kInvalidArgument, "cannot move a directory into itself");
    dir->children[from] = Node::Child{dst, {}};
    new_dir->children[to] = Node::Child{src, {}};
    MoveLink(*dst, *new_dir, to, dir, from);
    MoveLink(*src, *dir, from, new_dir, to);
  } else {
    if (src == dst) return Status::Ok();  // rename(2): both names are the same file
    if (src->kind == MfsKind::kDirectory && IsAncestor(src.get(), new_dir.get()))
      return MakeError(Errc::kInvalidArgument, "cannot move a directory into itself");
    if (dst) {
      if (flags & kMfsRenameNoReplace) return MakeError(Errc::kExists, "'" + to + "' exists");
      if (src->kind == MfsKind::kDirectory) {
        if (dst->kind != MfsKind::kDirectory) return MakeError(Errc::kNotDir, "'" + to + "' is not a directory");
        IPFSKIT_TRY_STATUS(EnsureLoaded(*dst));
        if (!dst->children.empty()) return MakeError(Errc::kNotEmpty, "'" + to + "' is not empty");
      } else if (dst->kind == MfsKind::kDirectory) {
        return MakeError(Errc::kIsDir, "'" + to + "' is a directory");
      }
      DropLinkLocked(*dst, *new_dir, to);
      new_dir->children.erase(to);
    }
    Node::Child c = std::move(dir->children[from]);
    dir->children.erase(from);
    new_dir->children[to] = std::move(c);
    MoveLink(*src, *dir, from, new_dir, to);
  }
  {
    std::lock_guard nl(src->mu);
    src->ctime = MfsNow();
  }
  if (src->tracked || (dst && dst->tracked)) posix_dirty_ = true;  // the record is keyed by path
  Touch(*dir);
  if (new_dir != dir) Touch(*new_dir);
  MarkDirtyLocked(dir.get());
  MarkDirtyLocked(new_dir.get());
  return Status::Ok();
}

Status MfsTree::SetMode(const NodeRef& n, uint32_t mode) {
  bool dirty = false;
  {
    std::lock_guard lock(n->mu);
    if (n->gone) return MakeError(Errc::kNotFound, "removed by another process");
    n->mode = mode & 07777;
    n->ctime = MfsNow();
    if (n->kind != MfsKind::kSymlink && !IsSpecial(n->kind) && (opts_.store_mode || n->mode_in_dag)) {
      n->mode_in_dag = true;
      if (n->kind == MfsKind::kFile) n->stale = true;
      dirty = true;
    }
  }
  if (dirty) MarkDirty(n.get());
  else Track(n);  // the mode is kept beside the DAG
  return Status::Ok();
}

Status MfsTree::SetOwner(const NodeRef& n, std::optional<uint32_t> uid, std::optional<uint32_t> gid) {
  {
    std::lock_guard lock(n->mu);
    if (n->gone) return MakeError(Errc::kNotFound, "removed by another process");
    if (uid) n->uid = *uid;
    if (gid) n->gid = *gid;
    n->ctime = MfsNow();
  }
  Track(n);
  return Status::Ok();
}

Status MfsTree::SetAtime(const NodeRef& n, timespec atime) {
  std::lock_guard lock(n->mu);
  if (n->gone) return MakeError(Errc::kNotFound, "removed by another process");
  n->atime = atime;
  n->ctime = MfsNow();
  return Status::Ok();
}

Status MfsTree::SetMtime(const NodeRef& n, timespec mtime) {
  bool dirty = false;
  {
    std::lock_guard lock(n->mu);
    if (n->gone) return MakeError(Errc::kNotFound, "removed by another process");
    n->mtime = mtime;
    n->ctime = MfsNow();
    if (IsSpecial(n->kind)) posix_dirty_ = true;  // its mtime is in the side record
    if (n->kind != MfsKind::kSymlink && !IsSpecial(n->kind) && (opts_.store_mtime || n->mtime_in_dag)) {
      n->mtime_in_dag = true;
      if (n->kind == MfsKind::kFile) n->stale = true;
      dirty = true;
    }
  }
  if (dirty) MarkDirty(n.get());
  return Status::Ok();
}

Result<std::string> MfsTree::Readlink(const NodeRef& n) {
  if (n->kind != MfsKind::kSymlink) return MakeError(Errc::kInvalidArgument, "not a symlink");
  return n->target;
}

std::optional<uint32_t> MfsTree::DagMode(const Node& n) const {
  if (!n.mode_in_dag) return std::nullopt;
  return n.mode;
}

std::optional<UnixfsMtime> MfsTree::DagMtime(const Node& n) const {
  if (!n.mtime_in_dag) return std::nullopt;
  return UnixfsMtime{static_cast<int64_t>(n.mtime.tv_sec), static_cast<uint32_t>(n.mtime.tv_nsec)};
}

// ---- materialising and committing ----

Result<DagEntry> MfsTree::MaterializeLocked(Node& n) {
  if (IsSpecial(n.kind)) return MakeError(Errc::kUnsupported, "a special file has no CID (it is kept beside the DAG)");
  if (n.kind == MfsKind::kSymlink) return n.entry;
  if (n.kind == MfsKind::kFile) {
    std::lock_guard lock(n.mu);
    return MaterializeFile(n);
  }
  if (!n.dir_stale) return n.entry;
  IPFSKIT_TRY_STATUS(EnsureLoaded(n));
  std::vector<DirEntryIn> entries;
  entries.reserve(n.children.size());
  for (auto& [name, c] : n.children) {
    if (c.node && IsSpecial(c.node->kind)) continue;  // kept in the side record only
    if (c.node) {
      IPFSKIT_ASSIGN_OR_RETURN(c.entry, MaterializeLocked(*c.node));
    }
    entries.push_back(DirEntryIn{name, c.entry});
  }
  std::optional<uint32_t> mode;
  std::optional<UnixfsMtime> mtime;
  {
    std::lock_guard lock(n.mu);
    mode = DagMode(n);
    mtime = DagMtime(n);
  }
  MfsPendingSink sink(*blocks_);
  DagWriter w(opts_.import, &sink);
  IPFSKIT_ASSIGN_OR_RETURN(n.entry, BuildDirectory(std::move(entries), w, mode, mtime));
  n.dir_stale = false;
  return n.entry;
}

Status MfsTree::FlushFile(const NodeRef& file) {
  if (file->kind != MfsKind::kFile) return Status::Ok();
  std::lock_guard lock(file->mu);
  auto e = MaterializeFile(*file);
  if (!e.ok()) return e.error();
  return Status::Ok();
}

Result<Cid> MfsTree::CidOf(const NodeRef& n) {
  DagEntry e;
  {
    std::lock_guard lock(mu_);
    IPFSKIT_ASSIGN_OR_RETURN(e, MaterializeLocked(*n));
  }
  // Make it durable: a CID handed out must be fetchable after a crash.
  IPFSKIT_TRY_STATUS(Commit());
  return e.cid;
}

Status MfsTree::Commit() {
  std::lock_guard commit(commit_mu_);
  return CommitLocked();
}

Status MfsTree::CommitLocked() {
  if (opts_.read_only) return Status::Ok();
  Cid root;
  // With no writer open, the new root covers every block the live tree holds, so the blocks
  // leased since the last commit can be released with it. Blocks come only from writes through
  // open handles and from materialising; a writer that opens meanwhile may write blocks the
  // root does not cover: then keep them.
  const uint64_t opens = writer_opens_.load();
  bool release = writers_.load() == 0;
  std::optional<Bytes> posix;
  // Cleared before the record is made: a change racing with this commit sets it again.
  bool posix_was_dirty = posix_dirty_.exchange(false);
  {
    std::lock_guard lock(mu_);
    auto e = MaterializeLocked(*root_);
    if (!e.ok()) {
      if (posix_was_dirty) posix_dirty_ = true;
      last_error_ = e.error().message;
      return e.error();
    }
    root = e->cid;
    posix = PosixRecordLocked();
  }
  if (writer_opens_.load() != opens) release = false;
  bool posix_changed = posix != committed_posix_;
  if (root == committed_root_ && blocks_->pending_blocks() == 0 && !posix_changed &&
      !(release && blocks_->has_staged()))
    return Status::Ok();
  MfsBlocks::MetaChanges extra;
  if (posix_changed) extra.emplace_back(PosixKey(), posix);
  Status st = blocks_->CommitRoot(opts_.root_key, root, extra, release);
  if (!st.ok()) {
    if (posix_was_dirty) posix_dirty_ = true;
    last_error_ = st.error().message;
    return st;
  }
  const bool root_changed = root != committed_root_;
  committed_root_ = root;
  committed_posix_ = std::move(posix);
  if (root_changed && opts_.on_commit) opts_.on_commit(root);
  return Status::Ok();
}

// ---- POSIX side data ----

std::string MfsTree::PathOfLocked(const Node& dir, const std::string& name) const {
  std::vector<const std::string*> parts{&name};
  NodeRef keep;
  for (const Node* p = &dir; p != root_.get();) {
    if (p->removed) return "";
    parts.push_back(&p->name);
    keep = p->parent.lock();
    if (!keep) return "";  // detached: no path reaches it
    p = keep.get();
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += "/" + **it;
  return path;
}

std::optional<Bytes> MfsTree::PosixRecordLocked() {
  std::vector<NodeRef> nodes;
  {
    std::lock_guard lock(posix_mu_);
    std::erase_if(posix_nodes_, [&](const std::weak_ptr<Node>& w) {
      NodeRef n = w.lock();
      if (!n) return true;
      nodes.push_back(std::move(n));
      return false;
    });
  }
  std::vector<std::pair<std::string, nlohmann::json>> entries;
  std::vector<const Node*> defaults;  // nothing left to keep: dropped from the registry
  for (const NodeRef& n : nodes) {
    nlohmann::json paths = nlohmann::json::array();
    if (n == root_) {
      paths.push_back("/");  // e.g. chown of the mount's /mfs, handing the tree to a user
    } else if (!n->removed) {
      if (NodeRef p = n->parent.lock()) {
        if (std::string path = PathOfLocked(*p, n->name); !path.empty()) paths.push_back(path);
      }
      for (auto& [wp, name] : n->more_links)
        if (NodeRef p = wp.lock())
          if (std::string path = PathOfLocked(*p, name); !path.empty()) paths.push_back(path);
    }
    if (paths.empty()) {
      if (n->removed) defaults.push_back(n.get());  // unlinked: it never comes back
      continue;
    }
    nlohmann::json e;
    std::lock_guard lock(n->mu);
    bool owner = n->uid != opts_.uid || n->gid != opts_.gid;
    bool mode = IsSpecial(n->kind) || (!n->mode_in_dag && n->kind != MfsKind::kSymlink && n->mode != DefaultMode(n->kind));
    if (!owner && !mode && !IsSpecial(n->kind) && paths.size() < 2) {
      defaults.push_back(n.get());
      continue;
    }
    e["p"] = paths;
    if (IsSpecial(n->kind)) {
      e["k"] = KindLetter(n->kind);
      if (n->rdev) e["r"] = n->rdev;
      e["t"] = {static_cast<int64_t>(n->mtime.tv_sec), static_cast<int64_t>(n->mtime.tv_nsec)};
    }
    if (owner) {
      e["u"] = n->uid;
      e["g"] = n->gid;
    }
    if (mode) e["m"] = n->mode;
    entries.emplace_back(paths[0].get<std::string>(), std::move(e));
  }
  if (!defaults.empty()) {
    std::lock_guard lock(posix_mu_);
    std::erase_if(posix_nodes_, [&](const std::weak_ptr<Node>& w) {
      NodeRef n = w.lock();
      if (!n || std::find(defaults.begin(), defaults.end(), n.get()) == defaults.end()) return false;
      n->tracked = false;
      return true;
    });
  }
  if (entries.empty()) return std::nullopt;
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.first < b.first; });
  nlohmann::json rec;
  rec["v"] = 1;
  rec["nodes"] = nlohmann::json::array();
  for (auto& [path, e] : entries) rec["nodes"].push_back(std::move(e));
  std::string text = rec.dump();
  return Bytes(text.begin(), text.end());
}

Result<NodeRef> MfsTree::ResolveLocked(std::string_view path) {
  NodeRef n = root_;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string part(path.substr(pos, end - pos));
    pos = end + 1;
    if (part.empty()) continue;
    IPFSKIT_ASSIGN_OR_RETURN(n, ChildLocked(*n, part));
  }
  return n;
}

void MfsTree::ApplyPosixRecordLocked(ByteView record) {
  auto rec = nlohmann::json::parse(AsChars(record), nullptr, false);
  if (rec.is_discarded() || !rec.is_object() || !rec.contains("nodes") || !rec["nodes"].is_array()) {
    spdlog::warn("/mfs: repo meta '{}' is not a POSIX record; ignored", PosixKey());
    return;
  }
  size_t skipped = 0;
  for (const auto& e : rec["nodes"]) {
    try {
      const auto& paths = e.at("p");
      if (!paths.is_array() || paths.empty()) continue;
      std::optional<MfsKind> kind;
      if (e.contains("k")) kind = KindFromLetter(e["k"].get<std::string>());
      bool special = kind && IsSpecial(*kind);
      NodeRef n;
      for (size_t i = 0; i < paths.size(); ++i) {
        if (i == 0 && paths[0].get<std::string>() == "/" && !special) {
          n = root_;
          std::lock_guard lock(n->mu);
          n->uid = e.value("u", opts_.uid);
          n->gid = e.value("g", opts_.gid);
          if (e.contains("m") && !n->mode_in_dag) n->mode = e["m"].get<uint32_t>() & 07777;
          break;
        }
        const std::string path = paths[i].get<std::string>();  // SplitPath's views point into it
        auto [dir_path, base] = SplitPath(path);
        std::string name(base);
        if (!CheckName(name).ok()) break;
        auto dir = ResolveLocked(dir_path);
        if (!dir.ok() || (*dir)->kind != MfsKind::kDirectory || !EnsureLoaded(**dir).ok()) break;
        auto it = (*dir)->children.find(name);
        if (i == 0) {
          if (special) {
            if (it != (*dir)->children.end()) {
              // Already live (a reload), or the name now holds DAG content: that wins.
              if (!it->second.node || it->second.node->kind != *kind) break;
              n = it->second.node;
            } else {
              n = NewNode(*kind);
              n->parent = *dir;
              n->name = name;
              (*dir)->children.emplace(name, Node::Child{n, {}});
            }
            std::lock_guard lock(n->mu);
            n->rdev = e.value("r", uint64_t{0});
            if (e.contains("t")) {
              n->mtime.tv_sec = e["t"].at(0).get<int64_t>();
              n->mtime.tv_nsec = e["t"].at(1).get<int64_t>();
              n->atime = n->ctime = n->mtime;
            }
          } else {
            if (it == (*dir)->children.end()) break;
            auto c = ChildLocked(**dir, name);
            if (!c.ok()) break;
            n = *c;
          }
          std::lock_guard lock(n->mu);
          n->uid = e.value("u", opts_.uid);
          n->gid = e.value("g", opts_.gid);
          if (e.contains("m") && (special || !n->mode_in_dag)) n->mode = e["m"].get<uint32_t>() & 07777;
          continue;
        }
        // A further name of a hard link: it must still hold the same content.
        if (n->kind == MfsKind::kDirectory) break;
        if (it != (*dir)->children.end()) {
          if (it->second.node == n) continue;
          if (special || it->second.node) continue;  // a live node of its own stays a copy
          Cid mine;
          {
            std::lock_guard lock(n->mu);
            if (n->kind == MfsKind::kFile && n->stale) continue;
            mine = n->entry.cid;
          }
          if (it->second.entry.cid != mine) continue;
          it->second.node = n;
        } else {
          if (!special) continue;  // the name is gone from the DAG
          (*dir)->children.emplace(name, Node::Child{n, {}});
        }
        n->more_links.emplace_back(*dir, name);
        std::lock_guard lock(n->mu);
        n->nlink = 1 + static_cast<uint32_t>(n->more_links.size());
      }
      if (n) {
        if (!n->tracked.exchange(true)) {
          std::lock_guard lock(posix_mu_);
          posix_nodes_.push_back(n);
        }
      } else {
        ++skipped;
      }
    } catch (const std::exception&) {  // a field of the wrong type
      ++skipped;
    }
  }
  if (skipped) spdlog::warn("/mfs: {} entries of the POSIX record no longer match the tree; skipped", skipped);
}

Status MfsTree::Close() {
  {
    std::lock_guard lock(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_.joinable()) bg_.join();
  return Commit();
}

void MfsTree::WriterOpened() {
  writer_opens_.fetch_add(1);
  writers_.fetch_add(1);
}
void MfsTree::WriterClosed() { writers_.fetch_sub(1); }

// ---- reload: re-binding the live tree to another process's root ----

struct MfsTree::RebindPlan {
  NodeRef live;
  NodeRef fresh;  // the node as the new DAG has it: entry, size, metadata
  // Loaded directories: their new children, with the live nodes that are kept.
  bool relist = false;
  std::map<std::string, Node::Child, std::less<>> children;
  std::vector<NodeRef> gone;     // live children removed, or replaced by another kind
  std::vector<RebindPlan> subs;  // live children whose entry changed
};

Result<MfsTree::RebindPlan> MfsTree::PlanRebindLocked(const NodeRef& live, NodeRef fresh) {
  RebindPlan plan;
  plan.live = live;
  plan.fresh = std::move(fresh);
  if (live->kind != MfsKind::kDirectory || !live->loaded) return plan;
  plan.relist = true;
  IPFSKIT_ASSIGN_OR_RETURN(auto entries, reader_->ListDir(plan.fresh->entry.cid));
  for (auto& e : entries)
    plan.children.emplace(std::move(e.name), Node::Child{nullptr, DagEntry{e.cid, e.tsize, 0}});
  for (auto& [name, c] : live->children) {
    if (!c.node) continue;
    if (IsSpecial(c.node->kind)) {
      plan.children.emplace(name, c);  // not in any DAG: stays unless the name now has content
      continue;
    }
    auto it = plan.children.find(name);
    if (it == plan.children.end()) {
      plan.gone.push_back(c.node);
      continue;
    }
    if (it->second.entry.cid == c.entry.cid) {
      it->second = c;  // the same content: the clean live subtree already matches it
      continue;
    }
    IPFSKIT_ASSIGN_OR_RETURN(NodeRef f, MakeNode(it->second.entry.cid, it->second.entry.tsize));
    // A symlink is immutable (read without a lock): a changed one is a new node.
    if (f->kind != c.node->kind || f->kind == MfsKind::kSymlink) {
      plan.gone.push_back(c.node);
      continue;
    }
    it->second.node = c.node;
    IPFSKIT_ASSIGN_OR_RETURN(RebindPlan sub, PlanRebindLocked(c.node, std::move(f)));
    plan.subs.push_back(std::move(sub));
  }
  return plan;
}

void MfsTree::ApplyRebindLocked(RebindPlan& plan) {
  Node& live = *plan.live;
  const Node& fresh = *plan.fresh;
  auto adopt_meta = [&] {
    // Metadata the new DAG does not carry stays as this process knew it (e.g. chmod in memory).
    live.mode_in_dag = fresh.mode_in_dag;
    if (fresh.mode_in_dag) live.mode = fresh.mode;
    live.mtime_in_dag = fresh.mtime_in_dag;
    live.mtime = fresh.mtime_in_dag ? fresh.mtime : MfsNow();
    live.ctime = MfsNow();
  };
  if (live.kind == MfsKind::kFile) {
    std::lock_guard lock(live.mu);
    if (live.stale) {
      // Written while this reload ran: the local content wins and is committed over the new root.
      MarkDirtyLocked(&live);
      return;
    }
    live.file.reset();  // a clean file's slots only mirror the old entry (no dirty bytes)
    live.entry = fresh.entry;
    live.size = fresh.size;
    adopt_meta();
    return;
  }
  for (auto& g : plan.gone) DetachGone(*g);
  for (auto& sub : plan.subs) ApplyRebindLocked(sub);
  if (plan.relist) live.children = std::move(plan.children);
  live.entry = fresh.entry;
  live.dir_stale = false;
  std::lock_guard lock(live.mu);
  adopt_meta();
}

Result<bool> MfsTree::ReloadIfChanged() {
  std::lock_guard commit(commit_mu_);
  auto stored = repo_->GetMeta(opts_.root_key);
  if (!stored.ok()) return stored.error().code == Errc::kNotFound ? Result<bool>(false) : stored.error();
  IPFSKIT_ASSIGN_OR_RETURN(Cid cid, Cid::FromBytes(*stored));
  if (cid == committed_root_ || writers_.load() > 0 || posix_dirty_) return false;
  {
    std::lock_guard lock(mu_);
    if (root_->dir_stale) return false;
  }
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef root, MakeNode(cid, 0));
  if (root->kind != MfsKind::kDirectory) return MakeError(Errc::kMalformed, "MFS root is not a directory");
  std::lock_guard lock(mu_);
  if (root_->dir_stale || writers_.load() > 0) return false;
  // The root stays the same object; so does every live node whose path still holds its kind.
  IPFSKIT_ASSIGN_OR_RETURN(RebindPlan plan, PlanRebindLocked(root_, std::move(root)));
  ApplyRebindLocked(plan);
  committed_root_ = cid;
  committed_posix_.reset();
  if (auto posix = repo_->GetMeta(PosixKey()); posix.ok()) {
    ApplyPosixRecordLocked(*posix);
    committed_posix_ = std::move(*posix);
  }
  ++reloads_;
  return true;
}

void MfsTree::StartBackground(std::chrono::milliseconds interval) {
  if (bg_.joinable() || opts_.read_only) return;
  bg_ = std::thread([this, interval] { BackgroundLoop(interval); });
}

void MfsTree::BackgroundLoop(std::chrono::milliseconds interval) {
  std::string last_reported;
  for (;;) {
    {
      std::unique_lock lock(bg_mu_);
      if (bg_cv_.wait_for(lock, interval, [this] { return bg_stop_; })) return;
    }
    bool dirty;
    {
      std::lock_guard lock(mu_);
      dirty = root_->dir_stale;
    }
    dirty = dirty || blocks_->pending_blocks() > 0 || posix_dirty_;
    repo_->ReleaseOldSnapshot();  // an idle mount must not pin freed pages
    Status st = dirty ? Commit() : Status::Ok();
    if (!dirty) {
      auto r = ReloadIfChanged();
      if (!r.ok()) st = r.error();
    }
    if (!st.ok() && st.error().message != last_reported) {
      spdlog::error("/mfs: background commit failed: {}", st.error().message);
      last_reported = st.error().message;
    }
  }
}

// ---- paths ----

Result<NodeRef> MfsTree::Resolve(std::string_view path) {
  NodeRef n = Root();
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return MakeError(Errc::kInvalidArgument, "'..' is not allowed in MFS paths");
    auto c = Lookup(n, part);
    if (!c.ok()) return MakeError(c.error().code, std::string(path) + ": " + c.error().message);
    n = *c;
  }
  return n;
}

Result<std::pair<NodeRef, std::string>> MfsTree::ResolveParent(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::string_view dir = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
  if (base.empty() || base == "." || base == "..")
    return MakeError(Errc::kInvalidArgument, "'" + std::string(path) + "' names no entry");
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef parent, Resolve(dir));
  if (parent->kind != MfsKind::kDirectory)
    return MakeError(Errc::kNotDir, std::string(dir) + ": not a directory");
  return std::make_pair(parent, std::string(base));
}

Result<NodeRef> MfsTree::MkdirAll(std::string_view path, uint32_t mode) {
  NodeRef n = Root();
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    auto c = Lookup(n, part);
    if (c.ok()) {
      if ((*c)->kind != MfsKind::kDirectory) return MakeError(Errc::kNotDir, std::string(part) + ": not a directory");
      n = *c;
      continue;
    }
    if (c.error().code != Errc::kNotFound) return c.error();
    auto m = Mkdir(n, part, mode);
    if (!m.ok() && m.error().code == Errc::kExists) m = Lookup(n, part);  // a concurrent mkdir
    if (!m.ok()) return m.error();
    n = *m;
  }
  return n;
}

MfsStats MfsTree::Stats() {
  MfsStats s;
  {
    std::lock_guard commit(commit_mu_);
    s.root = committed_root_;
    s.reloads = reloads_;
    s.last_error = last_error_;
  }
  {
    std::lock_guard lock(mu_);
    s.dirty = root_->dir_stale;
  }
  s.commits = blocks_->commits();
  s.pending_bytes = blocks_->pending_bytes();
  s.dirty_bytes = static_cast<size_t>(std::max<int64_t>(0, dirty_bytes_.load()));
  return s;
}

}  // namespace ipfskit
