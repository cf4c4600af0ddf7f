#include "core/importer/importer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include "core/importer/murmur3.h"
#include "core/multiformats/varint.h"

namespace ipfskit {

// ---- DagWriter ----

Result<Cid> DagWriter::CidFor(uint64_t codec, ByteView block) const {
  if (opts_.inline_blocks && block.size() <= opts_.inline_limit)
    return Cid::Sum(1, codec, mh::kIdentity, block);
  // go-cid bumps any non-dag-pb codec to v1 (raw leaves under CIDv0).
  uint64_t version = codec == codec::kDagPb ? opts_.cid_version : 1;
  return Cid::Sum(version, codec, opts_.hash, block);
}

Status DagWriter::PutBlock(const Cid& cid, ByteView block) {
  if (!sink_ || cid.is_identity()) return Status::Ok();
  return sink_->Put(cid, block, /*trusted=*/true);
}

Result<DagEntry> DagWriter::PutPbNode(const PbNode& node, uint64_t filesize) {
  Bytes block = EncodePbNode(node);
  IPFSKIT_ASSIGN_OR_RETURN(Cid cid, CidFor(codec::kDagPb, block));
  IPFSKIT_TRY_STATUS(PutBlock(cid, block));
  uint64_t tsize = block.size();
  for (const auto& l : node.links) tsize += l.tsize.value_or(0);
  return DagEntry{std::move(cid), tsize, filesize};
}

// ---- leaves ----

// Room a chunk buffer keeps before and after the chunk for a plain leaf's frame: 0a, a varint,
// 08 t, 12 and a varint before (at most 24 bytes); 18 and a varint after (at most 11).
constexpr size_t kLeafFrameHead = 32;
constexpr size_t kLeafFrameTail = 16;

UnixfsType LeafNodeType(const ImportOptions& o) {
  return o.layout == Layout::kTrickle ? UnixfsType::kRaw : UnixfsType::kFile;
}

// The bytes around a plain leaf's data: PBNode{Data: UnixFS{Type, Data: chunk, filesize}} is
// 0a len(08 t [12 n chunk] 18 n), i.e. a prefix, the n data bytes and a suffix.
struct LeafFrame {
  Bytes prefix, suffix;
};

LeafFrame FrameLeaf(size_t n, UnixfsType type) {
  LeafFrame f;
  const size_t inner = 2 + (n ? 1 + UvarintSize(n) + n : 0) + 1 + UvarintSize(n);
  f.prefix.push_back(0x0a);
  PutUvarint(f.prefix, inner);
  f.prefix.push_back(0x08);
  f.prefix.push_back(static_cast<uint8_t>(type));
  if (n) {
    f.prefix.push_back(0x12);
    PutUvarint(f.prefix, n);
  }
  f.suffix.push_back(0x18);
  PutUvarint(f.suffix, n);
  return f;
}

Bytes EncodeLeafNode(ByteView chunk, UnixfsType type, std::optional<uint32_t> mode,
                     std::optional<UnixfsMtime> mtime) {
  if (!mode && !mtime) {
    // The hot path of ImportBytes and MFS: the same bytes as below, with the chunk copied once.
    LeafFrame f = FrameLeaf(chunk.size(), type);
    Bytes out;
    out.reserve(f.prefix.size() + chunk.size() + f.suffix.size());
    out.insert(out.end(), f.prefix.begin(), f.prefix.end());
    out.insert(out.end(), chunk.begin(), chunk.end());
    out.insert(out.end(), f.suffix.begin(), f.suffix.end());
    return out;
  }
  UnixfsData d;
  d.type = type;
  if (!chunk.empty()) d.data = Bytes(chunk.begin(), chunk.end());
  d.filesize = chunk.size();
  d.mode = mode;
  d.mtime = mtime;
  PbNode n;
  n.data = EncodeUnixfs(d);
  return EncodePbNode(n);
}


namespace {

struct LeafBlock {
  Bytes block;  // empty when the chunk itself is the block (raw leaves)
  Cid cid;
};

Result<LeafBlock> MakeLeaf(ByteView chunk, const DagWriter& w) {
  const ImportOptions& o = w.options();
  LeafBlock leaf;
  if (o.raw_leaves) {
    IPFSKIT_ASSIGN_OR_RETURN(leaf.cid, w.CidFor(codec::kRaw, chunk));
  } else {
    leaf.block = EncodeLeafNode(chunk, LeafNodeType(o));
    IPFSKIT_ASSIGN_OR_RETURN(leaf.cid, w.CidFor(codec::kDagPb, leaf.block));
  }
  return leaf;
}

DagEntry LeafEntry(const LeafBlock& leaf, size_t chunk_len) {
  uint64_t tsize = leaf.block.empty() ? chunk_len : leaf.block.size();
  return DagEntry{leaf.cid, tsize, chunk_len};
}

// Reads up to n bytes, retrying short reads; returns bytes read (0 at EOF).
Result<size_t> ReadFull(int fd, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return MakeError(Errc::kIo, std::string("read: ") + std::strerror(errno));
    }
    if (r == 0) break;
    got += r;
  }
  return got;
}

Result<DagEntry> MakeFileNode(const std::vector<DagEntry>& children, DagWriter& w,
                              std::optional<uint32_t> mode, std::optional<UnixfsMtime> mtime) {
  UnixfsData d;
  d.type = UnixfsType::kFile;
  uint64_t total = 0;
  PbNode n;
  n.links.reserve(children.size());
  for (const auto& c : children) {
    total += c.filesize;
    d.blocksizes.push_back(c.filesize);
    n.links.push_back(PbLink{c.cid, std::string(), c.tsize});
  }
  d.filesize = total;
  d.mode = mode;
  d.mtime = mtime;
  n.data = EncodeUnixfs(d);
  return w.PutPbNode(n, total);
}

Result<DagEntry> BalancedLayout(const std::vector<DagEntry>& leaves, DagWriter& w,
                                std::optional<uint32_t> mode, std::optional<UnixfsMtime> mtime) {
  const size_t width = w.options().width;
  std::vector<std::vector<DagEntry>> levels(1);
  std::vector<std::vector<DagEntry>> closed(1);  // children of the last full node per level
  // Full nodes are closed as soon as they reach `width` children; all leaves end at one depth.
  std::function<Status(size_t, DagEntry)> push = [&](size_t level, DagEntry e) -> Status {
    if (levels.size() <= level) levels.resize(level + 1);
    levels[level].push_back(std::move(e));
    if (levels[level].size() == width) {
      IPFSKIT_ASSIGN_OR_RETURN(DagEntry node, MakeFileNode(levels[level], w, std::nullopt, std::nullopt));
      if (closed.size() <= level) closed.resize(level + 1);
      closed[level] = std::move(levels[level]);
      levels[level].clear();
      return push(level + 1, std::move(node));
    }
    return Status::Ok();
  };
  for (const auto& l : leaves) IPFSKIT_TRY_STATUS(push(0, l));
  // Close the open nodes bottom-up. An open level that only receives the node from below
  // becomes a single-child node, as Kubo's fillNodeRec does for a short last subtree.
  std::optional<DagEntry> carry;
  for (size_t i = 0; i < levels.size(); ++i) {
    if (carry) levels[i].push_back(std::move(*carry)), carry.reset();
    if (levels[i].empty()) continue;
    bool top = true;
    for (size_t j = i + 1; j < levels.size(); ++j) top = top && levels[j].empty();
    if (top && levels[i].size() == 1) {
      if ((!mode && !mtime) || i == 0) return levels[i][0];  // a lone leaf: caller adds metadata
      // The root is a full node closed without metadata: write it again with it.
      return MakeFileNode(closed[i - 1], w, mode, mtime);
    }
    IPFSKIT_ASSIGN_OR_RETURN(DagEntry node, MakeFileNode(levels[i], w, top ? mode : std::nullopt,
                                                         top ? mtime : std::nullopt));
    if (top) return node;
    carry = std::move(node);
  }
  return *carry;
}

Result<DagEntry> TrickleRec(const std::vector<DagEntry>& leaves, size_t& idx, int max_depth, DagWriter& w,
                            std::optional<uint32_t> mode, std::optional<UnixfsMtime> mtime) {
  const size_t width = w.options().width;
  constexpr int kDepthRepeat = 4;
  std::vector<DagEntry> children;
  while (children.size() < width && idx < leaves.size()) children.push_back(leaves[idx++]);
  for (int depth = 1; max_depth == -1 || depth < max_depth; ++depth) {
    if (idx >= leaves.size()) break;
    for (int r = 0; r < kDepthRepeat && idx < leaves.size(); ++r) {
      IPFSKIT_ASSIGN_OR_RETURN(DagEntry child, TrickleRec(leaves, idx, depth, w, std::nullopt, std::nullopt));
      children.push_back(std::move(child));
    }
  }
  return MakeFileNode(children, w, mode, mtime);
}

}  // namespace

Result<DagEntry> BuildFileLayout(const std::vector<DagEntry>& leaves, DagWriter& w,
                                 std::optional<uint32_t> mode, std::optional<UnixfsMtime> mtime) {
  if (w.options().layout == Layout::kTrickle) {
    size_t idx = 0;
    return TrickleRec(leaves, idx, -1, w, mode, mtime);
  }
  return BalancedLayout(leaves, w, mode, mtime);
}

Result<DagEntry> ImportFile(int fd, const ImportOptions& opts, BlockSink* sink, const ProgressFn& progress,
                            std::optional<uint32_t> meta_mode, std::optional<UnixfsMtime> meta_mtime) {
  if (!opts.preserve_mode) meta_mode.reset();
  if (!opts.preserve_mtime) meta_mtime.reset();
  DagWriter w(opts, sink);
  std::vector<DagEntry> leaves;
  std::optional<Error> failure;
  std::mutex failure_mu;
  auto fail = [&](Error e) {
    std::lock_guard<std::mutex> lk(failure_mu);
    if (!failure) failure = std::move(e);
  };
  uint64_t done = 0;
  bool eof = false;
  // First chunk kept aside: a one-chunk file is its own leaf, and with metadata it must be
  // re-encoded with mode/mtime, so we need its bytes after the pipeline.
  Bytes first_chunk;

  // A chunk is read into the middle of its token's buffer, with room for a plain leaf's frame
  // on both sides, so the leaf block is framed in place instead of copied (raw leaves are the
  // chunk itself). Tokens and their buffers are reused: a fresh 256 KiB buffer per chunk cost
  // an allocation, zero-filling and page faults.
  struct Token {
    Bytes buf;
    size_t len = 0;  // chunk bytes, at buf[kLeafFrameHead]
    ByteView block;
    Cid cid;
    bool ok = true;
    ByteView chunk() const { return ByteView(buf).subspan(kLeafFrameHead, len); }
  };
  std::mutex free_mu;
  std::vector<std::unique_ptr<Token>> free_tokens;
  auto recycle = [&](Token* t) {
    std::lock_guard lock(free_mu);
    free_tokens.emplace_back(t);
  };
  const UnixfsType leaf_type = LeafNodeType(opts);
  const size_t tokens = 2 * tbb::this_task_arena::max_concurrency() + 2;
  tbb::parallel_pipeline(
      tokens,
      tbb::make_filter<void, Token*>(
          tbb::filter_mode::serial_in_order,
          [&](tbb::flow_control& fc) -> Token* {
            if (eof || failure) {
              fc.stop();
              return nullptr;
            }
            std::unique_ptr<Token> t;
            {
              std::lock_guard lock(free_mu);
              if (!free_tokens.empty()) {
                t = std::move(free_tokens.back());
                free_tokens.pop_back();
              }
            }
            if (!t) {
              t = std::make_unique<Token>();
              t->buf.resize(kLeafFrameHead + opts.chunk_size + kLeafFrameTail);
            }
            t->ok = true;
            auto n = ReadFull(fd, t->buf.data() + kLeafFrameHead, opts.chunk_size);
            if (!n.ok()) {
              fail(n.error());
              fc.stop();
              return nullptr;
            }
            if (*n < opts.chunk_size) eof = true;
            if (*n == 0) {
              fc.stop();
              return nullptr;
            }
            t->len = *n;
            return t.release();
          }) &
          tbb::make_filter<Token*, Token*>(tbb::filter_mode::parallel,
                                          [&](Token* t) -> Token* {
                                            Result<Cid> cid = Cid();
                                            if (opts.raw_leaves) {
                                              t->block = t->chunk();
                                              cid = w.CidFor(codec::kRaw, t->block);
                                            } else {
                                              const LeafFrame f = FrameLeaf(t->len, leaf_type);
                                              uint8_t* start = t->buf.data() + kLeafFrameHead - f.prefix.size();
                                              std::memcpy(start, f.prefix.data(), f.prefix.size());
                                              std::memcpy(t->buf.data() + kLeafFrameHead + t->len, f.suffix.data(),
                                                          f.suffix.size());
                                              t->block = ByteView(start, f.prefix.size() + t->len + f.suffix.size());
                                              cid = w.CidFor(codec::kDagPb, t->block);
                                            }
                                            if (!cid.ok()) {
                                              fail(cid.error());
                                              t->ok = false;
                                            } else {
                                              t->cid = std::move(*cid);
                                            }
                                            return t;
                                          }) &
          tbb::make_filter<Token*, void>(tbb::filter_mode::serial_in_order, [&](Token* t) {
            if (t->ok && !failure) {
              Status st = w.PutBlock(t->cid, t->block);
              if (st.ok()) {
                if (leaves.empty()) first_chunk.assign(t->chunk().begin(), t->chunk().end());
                leaves.push_back(DagEntry{t->cid, t->block.size(), t->len});
                done += t->len;
                if (progress) progress(done);
              } else {
                fail(st.error());
              }
            }
            recycle(t);
          }));
  if (failure) return *failure;

  if (leaves.empty()) {
    if (opts.layout == Layout::kTrickle) return BuildFileLayout(leaves, w, meta_mode, meta_mtime);
    // Balanced: an empty leaf (the empty raw block, or `08 02 18 00`).
    if (opts.raw_leaves && !meta_mode && !meta_mtime) {
      IPFSKIT_ASSIGN_OR_RETURN(Cid c, w.CidFor(codec::kRaw, {}));
      IPFSKIT_TRY_STATUS(w.PutBlock(c, {}));
      return DagEntry{c, 0, 0};
    }
    Bytes b = EncodeLeafNode({}, UnixfsType::kFile, meta_mode, meta_mtime);
    IPFSKIT_ASSIGN_OR_RETURN(Cid c, w.CidFor(codec::kDagPb, b));
    IPFSKIT_TRY_STATUS(w.PutBlock(c, b));
    return DagEntry{c, b.size(), 0};
  }
  if (leaves.size() == 1 && opts.layout == Layout::kBalanced && (meta_mode || meta_mtime)) {
    // Metadata forces dag-pb leaves, so the single leaf is re-encoded with it.
    Bytes b = EncodeLeafNode(first_chunk, UnixfsType::kFile, meta_mode, meta_mtime);
    IPFSKIT_ASSIGN_OR_RETURN(Cid c, w.CidFor(codec::kDagPb, b));
    IPFSKIT_TRY_STATUS(w.PutBlock(c, b));
    return DagEntry{c, b.size(), first_chunk.size()};
  }
  return BuildFileLayout(leaves, w, meta_mode, meta_mtime);
}

Result<DagEntry> ImportBytes(ByteView data, const ImportOptions& opts, BlockSink* sink) {
  DagWriter w(opts, sink);
  std::vector<DagEntry> leaves;
  for (size_t off = 0; off < data.size(); off += opts.chunk_size) {
    ByteView chunk = data.subspan(off, std::min(opts.chunk_size, data.size() - off));
    IPFSKIT_ASSIGN_OR_RETURN(LeafBlock leaf, MakeLeaf(chunk, w));
    IPFSKIT_TRY_STATUS(w.PutBlock(leaf.cid, leaf.block.empty() ? chunk : ByteView(leaf.block)));
    leaves.push_back(LeafEntry(leaf, chunk.size()));
  }
  if (leaves.empty() && opts.layout == Layout::kBalanced) {
    if (opts.raw_leaves) {
      IPFSKIT_ASSIGN_OR_RETURN(Cid c, w.CidFor(codec::kRaw, {}));
      IPFSKIT_TRY_STATUS(w.PutBlock(c, {}));
      return DagEntry{c, 0, 0};
    }
    Bytes b = EncodeLeafNode({}, UnixfsType::kFile);
    IPFSKIT_ASSIGN_OR_RETURN(Cid c, w.CidFor(codec::kDagPb, b));
    IPFSKIT_TRY_STATUS(w.PutBlock(c, b));
    return DagEntry{c, b.size(), 0};
  }
  return BuildFileLayout(leaves, w);
}

// ---- directories ----

namespace {

std::string HexPrefix(size_t idx, size_t fanout) {
  static const char* kHex = "0123456789ABCDEF";
  size_t digits = 0;
  for (size_t v = fanout - 1; v; v >>= 4) ++digits;
  std::string s(digits, '0');
  for (size_t i = digits; i-- > 0; idx >>= 4) s[i] = kHex[idx & 15];
  return s;
}

struct HashedEntry {
  const DirEntryIn* e;
  uint64_t hash;  // murmur3 h1; bits consumed MSB-first
};

Result<DagEntry> BuildShard(std::vector<HashedEntry> entries, int level, DagWriter& w) {
  const size_t fanout = w.options().hamt_fanout;
  int bits = 0;
  while ((size_t{1} << bits) < fanout) ++bits;
  if ((level + 1) * bits > 64) return MakeError(Errc::kInternal, "HAMT hash bits exhausted");
  std::vector<std::vector<HashedEntry>> buckets(fanout);
  for (auto& he : entries) {
    size_t idx = (he.hash >> (64 - (level + 1) * bits)) & (fanout - 1);
    buckets[idx].push_back(he);
  }
  PbNode node;
  Bytes bitfield(fanout / 8 + (fanout % 8 ? 1 : 0), 0);
  for (size_t idx = 0; idx < fanout; ++idx) {
    auto& b = buckets[idx];
    if (b.empty()) continue;
    bitfield[bitfield.size() - 1 - idx / 8] |= uint8_t(1) << (idx % 8);
    if (b.size() == 1) {
      node.links.push_back(PbLink{b[0].e->entry.cid, HexPrefix(idx, fanout) + b[0].e->name, b[0].e->entry.tsize});
    } else {
      IPFSKIT_ASSIGN_OR_RETURN(DagEntry sub, BuildShard(std::move(b), level + 1, w));
      node.links.push_back(PbLink{sub.cid, HexPrefix(idx, fanout), sub.tsize});
    }
  }
  // go-bitfield Bytes(): big-endian with leading zero bytes stripped.
  size_t nz = 0;
  while (nz < bitfield.size() && bitfield[nz] == 0) ++nz;
  UnixfsData d;
  d.type = UnixfsType::kHamtShard;
  if (nz < bitfield.size()) d.data = Bytes(bitfield.begin() + nz, bitfield.end());
  d.hash_type = 0x22;
  d.fanout = fanout;
  node.data = EncodeUnixfs(d);
  std::stable_sort(node.links.begin(), node.links.end(),
                   [](const PbLink& a, const PbLink& b) { return *a.name < *b.name; });
  return w.PutPbNode(node, 0);
}

}  // namespace

Result<DagEntry> BuildHamt(std::vector<DirEntryIn> entries, DagWriter& w) {
  std::vector<HashedEntry> hashed;
  hashed.reserve(entries.size());
  for (const auto& e : entries) hashed.push_back({&e, Murmur3X64_64(e.name.data(), e.name.size())});
  return BuildShard(std::move(hashed), 0, w);
}

Result<DagEntry> BuildDirectory(std::vector<DirEntryIn> entries, DagWriter& w,
                                std::optional<uint32_t> mode, std::optional<UnixfsMtime> mtime) {
  const ImportOptions& o = w.options();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const DirEntryIn& a, const DirEntryIn& b) { return a.name < b.name; });
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].name == entries[i - 1].name)
      return MakeError(Errc::kExists, "duplicate directory entry '" + entries[i].name + "'");
  PbNode node;
  node.links.reserve(entries.size());
  for (const auto& e : entries) node.links.push_back(PbLink{e.entry.cid, e.name, e.entry.tsize});
  uint64_t estimate = 0;
  if (o.hamt_estimation == HamtEstimation::kLinks) {
    for (const auto& e : entries) estimate += e.name.size() + e.entry.cid.bytes().size();
  } else {
    for (const auto& l : node.links) estimate += PbLinkEncodedSize(l);
    estimate += 4;  // the Data field `0a 02 08 01`
  }
  if (estimate > o.hamt_threshold) return BuildHamt(std::move(entries), w);
  UnixfsData d;
  d.type = UnixfsType::kDirectory;
  d.mode = mode;
  d.mtime = mtime;
  node.data = EncodeUnixfs(d);
  return w.PutPbNode(node, 0);
}

Result<DagEntry> BuildSymlink(std::string_view target, DagWriter& w) {
  UnixfsData d;
  d.type = UnixfsType::kSymlink;
  d.data = ToBytes(target);
  PbNode n;
  n.data = EncodeUnixfs(d);
  return w.PutPbNode(n, 0);
}

// ---- AddPath ----

namespace {

struct Walker {
  const ImportOptions& opts;
  BlockSink* sink;
  DagWriter w;
  const AddedFn& on_added;
  const ProgressFn& progress;
  uint64_t base_bytes = 0;
  std::vector<AddedItem> dirs = {};  // reported after all files, post-order

  std::optional<uint32_t> ModeOf(const struct stat& st) const {
    if (!opts.preserve_mode) return std::nullopt;
    return st.st_mode & 07777;
  }
  std::optional<UnixfsMtime> MtimeOf(const struct stat& st) const {
    if (!opts.preserve_mtime) return std::nullopt;
    return UnixfsMtime{st.st_mtim.tv_sec, static_cast<uint32_t>(st.st_mtim.tv_nsec)};
  }

  Result<DagEntry> AddFileAt(const std::filesystem::path& p, const struct stat& st, const std::string& name) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return MakeError(Errc::kIo, p.string() + ": " + std::strerror(errno));
    uint64_t base = base_bytes;
    ProgressFn pf = progress ? ProgressFn([&](uint64_t n) { progress(base + n); }) : ProgressFn();
    auto r = ImportFile(fd, opts, sink, pf, ModeOf(st), MtimeOf(st));
    ::close(fd);
    if (!r.ok()) return MakeError(r.error().code, p.string() + ": " + r.error().message);
    base_bytes += r->filesize;
    if (on_added) on_added(AddedItem{name, *r, false});
    return r;
  }

  Result<DagEntry> Add(const std::filesystem::path& p, const std::string& name, bool recursive) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return MakeError(Errc::kNotFound, p.string() + ": " + std::strerror(errno));
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      auto target = std::filesystem::read_symlink(p, ec);
      if (ec) return MakeError(Errc::kIo, p.string() + ": " + ec.message());
      IPFSKIT_ASSIGN_OR_RETURN(DagEntry e, BuildSymlink(target.string(), w));
      if (on_added) on_added(AddedItem{name, e, false});
      return e;
    }
    if (S_ISREG(st.st_mode)) return AddFileAt(p, st, name);
    if (S_ISDIR(st.st_mode)) {
      if (!recursive) return MakeError(Errc::kInvalidArgument, p.string() + " is a directory, use -r to add directories");
      std::vector<std::string> names;
      std::error_code ec;
      for (auto it = std::filesystem::directory_iterator(p, ec); !ec && it != std::filesystem::directory_iterator();
           it.increment(ec)) {
        std::string n = it->path().filename().string();
        if (!opts.hidden && !n.empty() && n[0] == '.') continue;
        names.push_back(std::move(n));
      }
      if (ec) return MakeError(Errc::kIo, p.string() + ": " + ec.message());
      std::sort(names.begin(), names.end());
      std::vector<DirEntryIn> entries;
      for (const auto& n : names) {
        IPFSKIT_ASSIGN_OR_RETURN(DagEntry e, Add(p / n, name.empty() ? n : name + "/" + n, true));
        entries.push_back(DirEntryIn{n, e});
      }
      IPFSKIT_ASSIGN_OR_RETURN(DagEntry d, BuildDirectory(std::move(entries), w, ModeOf(st), MtimeOf(st)));
      dirs.push_back(AddedItem{name, d, true});
      return d;
    }
    return MakeError(Errc::kUnsupported, p.string() + ": unsupported file type");
  }
};

}  // namespace

Result<DagEntry> AddPath(const std::filesystem::path& path, const ImportOptions& opts, const AddPathOptions& popts,
                         BlockSink* sink, const AddedFn& on_added, const ProgressFn& progress) {
  Walker walker{opts, sink, DagWriter(opts, sink), on_added, progress};
  std::string name = path.filename().string();
  if (name.empty() || name == "." || name == "..")
    name = std::filesystem::weakly_canonical(path).filename().string();
  IPFSKIT_ASSIGN_OR_RETURN(DagEntry root, walker.Add(path, name, popts.recursive));
  // Kubo prints directories after the files, children before parents.
  if (on_added)
    for (const auto& d : walker.dirs) on_added(d);
  if (popts.wrap) {
    std::vector<DirEntryIn> entries{DirEntryIn{name, root}};
    IPFSKIT_ASSIGN_OR_RETURN(DagEntry wrapped, BuildDirectory(std::move(entries), walker.w));
    if (on_added) on_added(AddedItem{"", wrapped, true});
    return wrapped;
  }
  return root;
}

}  // namespace ipfskit
