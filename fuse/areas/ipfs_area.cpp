#include "fuse/areas/ipfs_area.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include <tbb/parallel_for.h>

namespace ipfskit::fs {

uint64_t InoForCid(const Cid& cid) {
  // FNV-1a over the whole binary CID: v0/v1 and codecs of one digest get different inodes.
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : cid.bytes()) h = (h ^ b) * 1099511628211ull;
  h ^= h >> 29;
  return kContentInoBit | (h & ~(kContentInoBit | kDynamicInoBit));
}

namespace {

bool SafeName(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

// Stats the unresolved items in parallel: their root blocks are read (or their fetches waited
// for) concurrently.
void ResolveByCid(const std::shared_ptr<IpfsContext>& ctx, std::span<DirItem> items) {
  tbb::parallel_for(size_t{0}, items.size(), [&](size_t i) {
    DirItem& it = items[i];
    if (it.node || !it.cid) return;
    auto n = MakeIpfsNode(ctx, *it.cid);
    if (n.ok()) it.node = std::move(*n);
  });
}

class IpfsFile : public OpenFile {
 public:
  IpfsFile(std::shared_ptr<IpfsContext> ctx, Cid cid) : ctx_(std::move(ctx)), cid_(std::move(cid)) {
    keep_cache = true;
    zero_copy = true;
    no_flush = true;
  }
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) override {
    NoteRead(offset, out.size());
    return ctx_->reader->Read(cid_, offset, out);
  }
  Result<size_t> ReadViews(uint64_t offset, size_t size, std::vector<Block>& views) override {
    NoteRead(offset, size);
    return ctx_->reader->ReadViews(cid_, offset, size, views);
  }

 private:
  // Sequential readers get a window of following leaves prefetched. No lock: concurrent
  // readers of one handle only race on these hints.
  void NoteRead(uint64_t offset, size_t size) {
    const uint64_t end = offset + size;
    uint64_t expect = next_.exchange(end, std::memory_order_relaxed);
    // The kernel's readahead sends neighbouring requests from several threads, slightly out of
    // order: count anything near the last end as sequential.
    const uint64_t slack = uint64_t{4} << 20;
    if (ctx_->prefetch_leaves && offset + slack >= expect && offset <= expect + slack) PrefetchAfter(offset, end);
  }

  // Local blocks (repo, cache) are views into LMDB's map: ask the kernel to start reading their
  // pages now, since page faults alone read 4 KiB at a time from a cold disk. Blocks that are
  // not local are asked for as one CAR stream of the window (PrefetchFileRange), or else
  // through the sources' prefetch queue.
  // The window begins at the read itself when nothing was advised for it yet (the first read of
  // a file: its own leaves then come in the first stream, not one request each).
  void PrefetchAfter(uint64_t offset, uint64_t end) {
    // Remote content gets the stream window: one CAR request per window, not one per block.
    const uint64_t window = remote_.load(std::memory_order_relaxed)
                                ? std::max<uint64_t>(ctx_->stream_window, uint64_t{ctx_->prefetch_leaves} << 18)
                                : uint64_t{ctx_->prefetch_leaves} << 18;
    uint64_t from = std::max(advised_.load(std::memory_order_relaxed), offset);
    if (from >= end + window / 2) return;  // still well ahead of the reader
    uint64_t to = end + window;
    advised_.store(to, std::memory_order_relaxed);
    auto spans = ctx_->reader->LeafSpansFor(cid_, from, to - from);
    if (!spans.ok() || spans->empty()) return;
    std::vector<Cid> remote;
    std::vector<LeafSpan> remote_spans;
    uint64_t remote_bytes = 0;  // of the window, under spans that are not local
    static const uintptr_t kPage = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    for (size_t i = 0; i < spans->size(); ++i) {
      const LeafSpan& s = (*spans)[i];
      const Cid& c = s.cid;
      if (!ctx_->reader->blocks().Has(c)) {
        remote.push_back(c);
        remote_spans.push_back(s);
        const uint64_t next = i + 1 < spans->size() ? (*spans)[i + 1].offset : to;
        remote_bytes += next - std::min(next, std::max(s.offset, from));
        continue;
      }
      auto b = ctx_->reader->blocks().Get(c);
      if (!b.ok() || b->size() == 0) continue;
      uintptr_t p = reinterpret_cast<uintptr_t>(b->data().data());
      uintptr_t start = p & ~(kPage - 1);
      ::madvise(reinterpret_cast<void*>(start), p + b->size() - start, MADV_WILLNEED);
    }
    if (remote.empty()) return;
    remote_.store(true, std::memory_order_relaxed);
    // One missing span can stand for many leaves: an inner node not fetched yet is returned in
    // place of the leaves under it (it is often the file's root at the first read, or the next
    // inner node at a boundary). Stream whenever more than a leaf or two of the window is missing.
    if (ctx_->stream_window == 0 || (remote.size() < 2 && remote_bytes <= (uint64_t{1} << 20)) ||
        !ctx_->reader->blocks().PrefetchFileRange(cid_, remote_spans, std::max(from, remote_spans.front().offset),
                                                  static_cast<int64_t>(to) - 1))
      ctx_->reader->blocks().Prefetch(remote);
  }

 private:
  std::shared_ptr<IpfsContext> ctx_;
  Cid cid_;
  std::atomic<uint64_t> next_{0};
  std::atomic<uint64_t> advised_{0};
  std::atomic<bool> remote_{false};  // blocks ahead were found missing locally
};

class IpfsNode : public Node {
 public:
  IpfsNode(std::shared_ptr<IpfsContext> ctx, NodeInfo info) : ctx_(std::move(ctx)), info_(std::move(info)) {}
  uint64_t ino() const override { return InoForCid(info_.cid); }
  double EntryTimeout() const override { return kImmutableTimeout; }
  double AttrTimeout() const override { return kImmutableTimeout; }
  double NegativeTimeout() const override { return kImmutableTimeout; }

  Result<struct stat> Getattr() override {
    mode_t type = info_.is_dir() ? S_IFDIR : info_.kind == NodeKind::kSymlink ? S_IFLNK : S_IFREG;
    uint32_t perm = info_.mode ? (*info_.mode & 07777)
                               : info_.is_dir() ? 0555 : info_.kind == NodeKind::kSymlink ? 0777 : 0444;
    // Immutable content: never writable, whatever mode the node carries.
    if (type != S_IFLNK) perm &= ~0222u;
    time_t mt = info_.mtime ? info_.mtime->seconds : kEpochTime;
    uint32_t ns = info_.mtime ? info_.mtime->nanos : 0;
    uint64_t size = info_.is_dir() ? info_.block_size : info_.size;
    return MakeStat(ino(), type | perm, size, ctx_->owner, mt, ns);
  }

  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override {
    if (!info_.is_dir()) return MakeError(Errc::kNotDir, "not a directory");
    IPFSKIT_ASSIGN_OR_RETURN(DirEntry e, ctx_->reader->Lookup(info_.cid, name));
    return MakeIpfsNode(ctx_, e.cid);
  }

  Result<std::vector<DirItem>> List() override {
    if (!info_.is_dir()) return MakeError(Errc::kNotDir, "not a directory");
    IPFSKIT_ASSIGN_OR_RETURN(auto entries, ctx_->reader->ListDir(info_.cid));
    std::vector<DirItem> items;
    uint64_t tree_bytes = 0;
    items.reserve(entries.size());
    for (auto& e : entries) {
      if (!SafeName(e.name)) {
        // e.g. "../x" from a hostile DAG: it must never appear as a path component.
        if (ctx_->stats) ctx_->stats->CountUnsafeName();
        continue;
      }
      tree_bytes += e.tsize;
      DirItem item{std::move(e.name), nullptr};
      // A plain readdir answers from the CID alone: the inode is its hash, and a raw block is
      // a file. A dag-pb child's type needs its block: DT_UNKNOWN until it is resolved.
      item.ino = InoForCid(e.cid);
      if (e.cid.codec() == codec::kRaw) item.type = S_IFREG;
      item.cid = std::move(e.cid);
      items.push_back(std::move(item));
    }
    // Nothing is stat'ed here (readdirplus resolves each batch it answers, in parallel; a plain
    // readdir needs no attributes). What is not local is fetched ahead now: a small tree as one
    // CAR stream (what cp -r or tar reads next is in it), a big one block by block.
    BlockGetter& blocks = ctx_->reader->blocks();
    std::vector<Cid> remote;
    for (const DirItem& it : items)
      if (!blocks.Has(*it.cid)) remote.push_back(*it.cid);
    const bool streamed =
        remote.size() >= 2 && ctx_->tree_stream_max > 0 && tree_bytes <= ctx_->tree_stream_max &&
        blocks.PrefetchTree(info_.cid, remote);
    if (!remote.empty() && !streamed) blocks.Prefetch(remote);
    return items;
  }

  void ResolveItems(std::span<DirItem> items) override { ResolveByCid(ctx_, items); }

  Result<std::unique_ptr<OpenFile>> Open(int flags) override {
    if ((flags & O_ACCMODE) != O_RDONLY) return MakeError(Errc::kReadOnly, "read-only file system");
    if (info_.is_dir()) return MakeError(Errc::kIsDir, "is a directory");
    return std::unique_ptr<OpenFile>(new IpfsFile(ctx_, info_.cid));
  }

  Result<std::string> Readlink() override {
    if (info_.kind != NodeKind::kSymlink) return MakeError(Errc::kInvalidArgument, "not a symlink");
    return info_.symlink_target;
  }

  Result<std::string> GetXattr(std::string_view name) override {
    if (name == "user.ipfs.cid") return info_.cid.ToString();
    return MakeError(Errc::kNotFound, "no such attribute");
  }
  std::vector<std::string> ListXattr() override { return {"user.ipfs.cid"}; }

 private:
  std::shared_ptr<IpfsContext> ctx_;
  NodeInfo info_;
};

}  // namespace

Result<std::shared_ptr<Node>> MakeIpfsNode(std::shared_ptr<IpfsContext> ctx, const Cid& cid) {
  IPFSKIT_ASSIGN_OR_RETURN(NodeInfo info, ctx->reader->Stat(cid));
  return std::shared_ptr<Node>(new IpfsNode(std::move(ctx), std::move(info)));
}

Result<std::shared_ptr<Node>> IpfsRootNode::Lookup(std::string_view name) {
  auto cid = Cid::Parse(name);
  if (!cid.ok()) return MakeError(Errc::kNotFound, "not a CID: " + cid.error().message);
  return MakeIpfsNode(ctx_, *cid);
}

void IpfsRootNode::ResolveItems(std::span<DirItem> items) { ResolveByCid(ctx_, items); }

Result<std::vector<DirItem>> IpfsRootNode::List() {
  std::vector<DirItem> items;
  if (!ctx_->repo) return items;
  IPFSKIT_ASSIGN_OR_RETURN(auto pins, ctx_->repo->ListPins());
  for (const auto& [cid, type] : pins) {
    if (type != PinType::kRecursive) continue;
    DirItem item{cid.ToString(), nullptr};
    item.ino = InoForCid(cid);
    item.cid = cid;
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace ipfskit::fs
