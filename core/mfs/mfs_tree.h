// MfsTree: the mutable file system (Kubo's MFS, `ipfs files`) as a tree of UnixFS nodes over the
// repo, in which every file and directory always has a CID.
//
// Persistence: the root directory's CID lives in repo meta `options.root_key` ("mfs.root"), which
// `repo gc` treats as a root. Commit() writes the blocks still pending and the new root CID in one
// LMDB transaction: once it returns, the state survives kill -9. A background thread
// (StartBackground) commits dirty state about once per interval and adopts a root changed by
// another process (the CLI) while this tree is clean.
//
// Adopting another process's root (ReloadIfChanged) never replaces node objects that callers may
// hold (the FUSE inode table, a shell's cwd): the live tree is re-bound to the new DAG by path.
// The root node stays the same object; under it, every node already made (a loaded child) whose
// name still holds an entry of the same kind is kept and gets the new entry (a directory's
// children are re-listed, recursively; a file gets the new content and size), so writes through
// it land in the tree that is committed next. A node whose name is gone, or now names something
// of another kind (or a changed symlink), is detached with its whole loaded subtree and marked
// `gone`: creating in such a directory, writing, truncating, chmod or utimens fails with kNotFound
// (ENOENT), never succeeds into a tree nobody can reach. Identity is the path: a directory the
// other process renamed is gone here, its new name is a new node. A reload is all or nothing:
// every block it needs is read before the live tree is changed. A file written in the moment
// a reload runs keeps its local content and makes the tree dirty (local change wins).
//
// Files: a file being changed is a list of chunk-aligned slots over its DAG: a leaf of the
// existing DAG (reused as is), a dirty in-memory chunk, or a hole (zeros). Dirty chunks beyond
// a memory limit are turned into leaves and buffered for the repo, so a file of any size is
// written in bounded memory. Materialising a file re-encodes only the slots that changed and
// rebuilds the balanced layout over the leaf list (O(leaves/width) internal nodes), so the CID of
// a file written here equals `ipfskit add -n` of its bytes under the same import options (as
// long as no mode/mtime is stored). A file whose DAG was chunked differently is re-chunked on its
// first change.
//
// Metadata: mode and mtime are always kept in memory (chmod, utimens and writes update them);
// they go into the DAG (UnixFS 1.5) only with store_mode/store_mtime, or when the node already
// carried them.
//
// POSIX beside the tree: what UnixFS cannot hold is kept in memory and, at each commit, written
// in the same LMDB transaction as the root to repo meta `<root_key>.posix` (no CID changes):
// owner and group (nodes from the DAG belong to options.owner; a new node to its creator),
// special files (FIFOs, sockets, device nodes: they carry no data and are left out of the DAG),
// hard links (one node under several names; every name's DAG entry is the file's CID), and the
// mode where it is not in the DAG. The record lists only nodes that differ from those defaults,
// keyed by path at commit time; Open and a reload apply it by path. A name whose DAG entry no
// longer matches (another process replaced a hard link's target) gets no link; it stays a copy.
// atime and ctime are kept in memory only.
//
// Thread safety: every method may be called from any thread. Lock order: commit mutex, then
// tree mutex, then a node's mutex; file reads and writes take only the node's mutex, so writers
// on different files run in parallel. ReloadIfChanged holds the commit mutex and the tree mutex
// for the whole re-bind, taking each file's mutex in turn. The POSIX registry's mutex is taken
// last, after any of these. Getattr of a directory takes the tree mutex (to count subdirectories).
// Lookup and List fetch what they need from the sources before taking the tree mutex
// (FetchUnlocked), so a slow gateway holds up only its own caller. Still done under the tree
// mutex: a reload's reads (all or nothing, by design), writing blocks to LMDB when a commit or a
// spill of pending blocks runs, and the few reads of a node not reached by Lookup first (the CLI's
// path resolution).
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/importer/importer.h"
#include "core/mfs/mfs_blocks.h"
#include "core/reader/unixfs_reader.h"
#include "core/store/repo.h"

namespace ipfskit {

struct MfsOptions {
  ImportOptions import;     // chunker, layout, CID version: those of `ipfskit add` (unixfs-v0-2015)
  bool store_mode = false;  // write chmod into the DAG (Kubo's StoreMode)
  bool store_mtime = false; // write mtime into the DAG (Kubo's StoreMtime)
  bool read_only = false;   // never write to the repo
  size_t file_dirty_limit = 16 << 20;   // a file's dirty bytes beyond this become leaves
  size_t tree_dirty_limit = 256 << 20;  // all files' dirty bytes beyond this become leaves
  size_t pending_limit = 64 << 20;      // buffered blocks beyond this are written to LMDB
  std::string root_key = "mfs.root";
  // Owner of nodes the side record does not name (UnixFS stores none): the mount's -o uid/gid.
  uint32_t uid = 0, gid = 0;
  // Called after each commit that wrote a new root (under the commit mutex: it must be quick
  // and must not call back into the tree). /ipns uses it to publish the new root.
  std::function<void(const Cid& root)> on_commit;
};

// Sets the import options from a profile name ("unixfs-v0-2015", "unixfs-v1-2025").
Status ApplyMfsProfile(std::string_view profile, MfsOptions& o);

// The special kinds live only beside the DAG (see the top of this file).
enum class MfsKind { kFile, kDirectory, kSymlink, kFifo, kSocket, kCharDevice, kBlockDevice };

inline bool IsSpecial(MfsKind k) { return k != MfsKind::kFile && k != MfsKind::kDirectory && k != MfsKind::kSymlink; }

// Who creates a node; it becomes the node's owner (ext4's rule: the creator's uid, the gid of a
// setgid directory or else the creator's gid).
struct MfsCaller {
  uint32_t uid = 0, gid = 0;
};

struct MfsAttr {
  MfsKind kind = MfsKind::kFile;
  uint64_t size = 0;     // file bytes; symlink target length; entries of a directory
  uint32_t mode = 0;     // permission bits
  uint32_t uid = 0, gid = 0;
  uint32_t nlink = 1;    // names of a file (hard links), 0 once all are removed; directories: see Getattr
  uint64_t rdev = 0;     // device nodes
  timespec atime{};
  timespec mtime{};
  timespec ctime{};
};

struct MfsListItem {
  std::string name;
  Cid cid;  // the entry's CID when it is clean (always for entries not yet loaded)
};

struct MfsStats {
  Cid root;  // last committed root
  bool dirty = false;
  uint64_t commits = 0;
  uint64_t reloads = 0;
  size_t pending_bytes = 0;
  size_t dirty_bytes = 0;
  std::string last_error;
};

// Flags for Rename, with the values of Linux's RENAME_NOREPLACE / RENAME_EXCHANGE.
constexpr unsigned kMfsRenameNoReplace = 1;
constexpr unsigned kMfsRenameExchange = 2;

class MfsTree {
 public:
  class Node;
  struct FileState;
  using NodeRef = std::shared_ptr<Node>;

  // Opens the tree stored under options.root_key (an empty directory when absent). `fallback`
  // serves blocks the repo lacks (content linked from /ipfs); may be null.
  static Result<std::shared_ptr<MfsTree>> Open(std::shared_ptr<Repo> repo, MfsOptions options,
                                               std::shared_ptr<BlockGetter> fallback = nullptr);
  ~MfsTree();  // stops the background thread; does not commit (call Close)

  NodeRef Root();
  // A number unique to the node for its lifetime, assigned on first call by `alloc`.
  static uint64_t NodeTag(const NodeRef& n, const std::function<uint64_t()>& alloc);
  static MfsKind KindOf(const NodeRef& n);

  Result<MfsAttr> Getattr(const NodeRef& n);
  Result<NodeRef> Lookup(const NodeRef& dir, std::string_view name);
  Result<std::vector<MfsListItem>> List(const NodeRef& dir);
  // Loaded children only (cheap); used to hand the kernel nodes it may already know.
  NodeRef LoadedChild(const NodeRef& dir, std::string_view name);

  // Creates a file; with !exclusive an existing file is returned (kIsDir for a directory).
  // Without a caller, new nodes belong to options.uid/gid.
  Result<NodeRef> Create(const NodeRef& dir, std::string_view name, uint32_t mode, bool exclusive,
                         std::optional<MfsCaller> caller = std::nullopt);
  Result<NodeRef> Mkdir(const NodeRef& dir, std::string_view name, uint32_t mode,
                        std::optional<MfsCaller> caller = std::nullopt);
  Result<NodeRef> Symlink(const NodeRef& dir, std::string_view name, std::string_view target,
                          std::optional<MfsCaller> caller = std::nullopt);
  // A FIFO, socket or device node (kind IsSpecial; rdev for devices). kExists when taken.
  Result<NodeRef> Mknod(const NodeRef& dir, std::string_view name, MfsKind kind, uint32_t mode, uint64_t rdev,
                        std::optional<MfsCaller> caller = std::nullopt);
  // link(2): `node` (not a directory) gets the new name dir/name as well. kExists when taken.
  Status HardLink(const NodeRef& node, const NodeRef& dir, std::string_view name);
  // Puts existing content (any UnixFS CID) at dir/name without copying bytes. kExists when the
  // name is taken and !replace; replace does not replace a non-empty directory.
  Result<NodeRef> Link(const NodeRef& dir, std::string_view name, const Cid& cid, bool replace);
  Status Unlink(const NodeRef& dir, std::string_view name);
  Status Rmdir(const NodeRef& dir, std::string_view name);
  // Atomic; replaces the target as rename(2) does. flags: kMfsRenameNoReplace, kMfsRenameExchange.
  Status Rename(const NodeRef& dir, std::string_view name, const NodeRef& new_dir, std::string_view new_name,
                unsigned flags);

  Result<size_t> Read(const NodeRef& file, uint64_t offset, std::span<uint8_t> out);
  // append: write at the end, atomically with respect to other writers. Returns bytes written.
  Result<size_t> Write(const NodeRef& file, uint64_t offset, ByteView data, bool append = false);
  Status Truncate(const NodeRef& file, uint64_t size);
  Status SetMode(const NodeRef& n, uint32_t mode);
  Status SetMtime(const NodeRef& n, timespec mtime);
  Status SetAtime(const NodeRef& n, timespec atime);
  // chown: permission checks are the caller's (the kernel's, with default_permissions).
  Status SetOwner(const NodeRef& n, std::optional<uint32_t> uid, std::optional<uint32_t> gid);
  Result<std::string> Readlink(const NodeRef& n);

  // Computes the file's CID (its blocks are buffered, not yet durable). Called on close.
  Status FlushFile(const NodeRef& file);
  // The node's current CID, committing first so that the CID can be shared at once.
  Result<Cid> CidOf(const NodeRef& n);
  // Makes every change durable: pending blocks and the new root in one LMDB commit.
  Status Commit();
  // Commits and stops the background thread (unmount).
  Status Close();

  // Open handles that may write; a tree with writers never adopts a root changed elsewhere.
  void WriterOpened();
  void WriterClosed();
  // Adopts the root stored in the repo if another process changed it and this tree is clean,
  // re-binding live nodes by path (see the top of this file). Returns true when it did.
  Result<bool> ReloadIfChanged();
  // Commits every `interval` while dirty, else checks for a root changed elsewhere.
  void StartBackground(std::chrono::milliseconds interval);

  // Path helpers for the CLI: "/a/b" from the MFS root.
  Result<NodeRef> Resolve(std::string_view path);
  Result<std::pair<NodeRef, std::string>> ResolveParent(std::string_view path);
  Result<NodeRef> MkdirAll(std::string_view path, uint32_t mode = 0755);

  MfsStats Stats();
  const MfsOptions& options() const { return opts_; }
  UnixfsReader& reader() { return *reader_; }

 private:
  MfsTree() = default;

  Result<NodeRef> MakeNode(const Cid& cid, uint64_t tsize);
  NodeRef NewNode(MfsKind kind);
  Status EnsureLoaded(Node& dir);                              // tree mu_
  void InstallListingLocked(Node& dir, std::vector<DirEntry> entries);  // tree mu_
  // Reads what a lookup of `name` in `dir` (or a listing, name null) needs — the directory's
  // entries, the child's root block — WITHOUT the tree mutex, so a slow source stalls only this
  // caller, not every /mfs operation; the locked part then finds it local (the listing is
  // installed after a re-check, blocks are in the source chain's cache). Errors are left to the
  // locked part.
  void FetchUnlocked(const NodeRef& dir, const std::string* name);
  Result<NodeRef> ChildLocked(Node& dir, const std::string& name);  // tree mu_; kNotFound
  Status CheckDir(const NodeRef& dir, bool for_create);       // tree mu_
  void MarkDirtyLocked(Node* n);                              // tree mu_: n and its ancestors
  void MarkDirty(Node* n);
  void AttachLocked(const NodeRef& dir, const std::string& key, const NodeRef& n, DagEntry entry,
                    bool dirty_self);                         // tree mu_
  Result<DagEntry> MaterializeLocked(Node& n);                // tree mu_
  Result<DagEntry> MaterializeFile(Node& n);                  // n.mu
  Status EnsureFileState(Node& n);                            // n.mu
  Status RechunkFile(Node& n);                                // n.mu
  Result<DagEntry> PutLeaf(Bytes chunk);
  Result<Bytes> LeafBytes(const DagEntry& leaf, uint64_t len);
  Status SpillFile(Node& n, bool all);                        // n.mu
  Status ResizeFile(Node& n, uint64_t size);                  // n.mu
  std::optional<uint32_t> DagMode(const Node& n) const;
  std::optional<UnixfsMtime> DagMtime(const Node& n) const;
  void Detach(Node& child);                                   // tree mu_
  // The name dir/name no longer refers to n (unlink, replaced by rename): n keeps its other
  // names, or is detached when that was its last.
  void DropLinkLocked(Node& n, const Node& dir, const std::string& name);  // tree mu_
  // Sets a new node's owner from its creator and its directory (setgid inherits the group).
  void InitOwner(Node& n, Node& dir, const std::optional<MfsCaller>& caller);  // tree mu_
  // POSIX side data (see the top of this file).
  std::string PosixKey() const { return opts_.root_key + ".posix"; }
  void Track(const NodeRef& n);  // n may differ from the defaults: the next commit looks at it
  std::string PathOfLocked(const Node& dir, const std::string& name) const;  // tree mu_; "" if unreachable
  std::optional<Bytes> PosixRecordLocked();                   // tree mu_; nullopt: nothing to keep
  void ApplyPosixRecordLocked(ByteView record);               // tree mu_; skips what no longer fits
  Result<NodeRef> ResolveLocked(std::string_view path);       // tree mu_
  void DetachGone(Node& n);                                   // tree mu_: n and its loaded subtree
  struct RebindPlan;
  // Reads what re-binding `live` to `fresh` (made by MakeNode from the new DAG) needs; changes
  // nothing. Then applying cannot fail.
  Result<RebindPlan> PlanRebindLocked(const NodeRef& live, NodeRef fresh);  // tree mu_
  void ApplyRebindLocked(RebindPlan& plan);                   // tree mu_
  void Touch(Node& dir);                                      // tree mu_: dir's mtime = now
  bool IsAncestor(const Node* a, const Node* b) const;        // tree mu_
  void BackgroundLoop(std::chrono::milliseconds interval);
  Status CommitLocked();                                      // commit_mu_

  MfsOptions opts_;
  std::shared_ptr<Repo> repo_;
  std::shared_ptr<MfsBlocks> blocks_;
  std::shared_ptr<UnixfsReader> reader_;

  std::mutex mu_;  // the tree: directory contents, parent links, names, directory dirtiness
  NodeRef root_;
  std::mutex commit_mu_;  // one commit at a time; taken before mu_
  Cid committed_root_;
  uint64_t reloads_ = 0;
  std::string last_error_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<int64_t> dirty_bytes_{0};
  std::atomic<int> writers_{0};
  std::atomic<uint64_t> writer_opens_{0};
  std::optional<DagEntry> zero_leaf_;  // a full chunk of zeros; guarded by zero_mu_
  std::mutex zero_mu_;

  std::thread bg_;
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false;

  // Nodes that may differ from the POSIX defaults (weak: a removed node just drops out).
  // posix_mu_ is taken last, after any other lock.
  std::mutex posix_mu_;
  std::vector<std::weak_ptr<Node>> posix_nodes_;
  std::atomic<bool> posix_dirty_{false};    // side data changed since the last commit
  std::optional<Bytes> committed_posix_;    // commit_mu_: the record as last written
};

}  // namespace ipfskit
