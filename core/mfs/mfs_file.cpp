// MfsTree: file contents as chunk-aligned slots over the file's DAG (see mfs_tree.h).
#include <algorithm>
#include <cstring>

#include <tbb/parallel_for.h>

#include "core/mfs/mfs_node.h"

namespace ipfskit {

using Node = MfsTree::Node;
using NodeRef = MfsTree::NodeRef;
using Slot = MfsTree::FileState::Slot;

namespace {

// Files larger than this are refused (EINVAL) rather than overflowing offsets.
// A file being changed is a dense list of chunk slots: 1 TiB keeps a sparse truncate's list in
// the hundreds of MB (beyond, truncate and write fail with EINVAL instead of exhausting memory).
constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;

uint64_t VarintLen(uint64_t v) {
  uint64_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

struct EncodedLeaf {
  Bytes block;
  DagEntry entry;
};

Result<EncodedLeaf> EncodeLeaf(const ImportOptions& o, Bytes chunk) {
  DagWriter w(o, nullptr);
  EncodedLeaf out;
  uint64_t len = chunk.size();
  if (o.raw_leaves) {
    IPFSKIT_ASSIGN_OR_RETURN(Cid cid, w.CidFor(codec::kRaw, chunk));
    out.entry = DagEntry{std::move(cid), len, len};
    out.block = std::move(chunk);
  } else {
    out.block = EncodeLeafNode(chunk, LeafNodeType(o));
    IPFSKIT_ASSIGN_OR_RETURN(Cid cid, w.CidFor(codec::kDagPb, out.block));
    out.entry = DagEntry{std::move(cid), out.block.size(), len};
  }
  return out;
}

// Collects a file DAG's leaves when they are exactly those the importer would write for the
// same bytes under `o` (same chunk size, leaf codec, CID version, hash and leaf type), reading
// only internal nodes and the first leaf. Returns false when the DAG was built differently.
class LeafCollector {
 public:
  LeafCollector(BlockGetter& blocks, const ImportOptions& o, std::vector<DagEntry>& out)
      : blocks_(blocks), o_(o), out_(out) {}

  Result<bool> Collect(const Cid& root, uint64_t size) {
    if (root.codec() == codec::kRaw) {
      if (!LeafCidOk(root) || size > o_.chunk_size) return false;
      out_.push_back(DagEntry{root, size, size});
      return Check(size);
    }
    if (root.codec() != codec::kDagPb) return false;
    IPFSKIT_ASSIGN_OR_RETURN(Block b, blocks_.Get(root));
    IPFSKIT_ASSIGN_OR_RETURN(PbNode node, DecodePbNode(b.data()));
    if (!node.data) return false;
    IPFSKIT_ASSIGN_OR_RETURN(UnixfsData d, DecodeUnixfs(*node.data));
    if (node.links.empty()) {
      // A one-leaf file is its own root: it must be a plain leaf, without metadata.
      if (o_.raw_leaves || !LeafCidOk(root) || d.type != LeafNodeType(o_) || d.mode || d.mtime ||
          d.FileSize() != size || size > o_.chunk_size || b.size() != LeafTsize(size))
        return false;
      out_.push_back(DagEntry{root, b.size(), size});
      return Check(size);
    }
    IPFSKIT_ASSIGN_OR_RETURN(bool ok, Walk(node, d, 0));
    if (!ok) return false;
    return Check(size);
  }

 private:
  bool LeafCidOk(const Cid& c) const {
    if (c.is_identity()) return o_.inline_blocks;
    if (c.mh_code() != o_.hash) return false;
    if (o_.raw_leaves) return c.codec() == codec::kRaw;
    return c.codec() == codec::kDagPb && c.version() == o_.cid_version;
  }
  // Block size of the dag-pb leaf the importer writes for n bytes.
  uint64_t LeafTsize(uint64_t n) const {
    if (o_.raw_leaves) return n;
    uint64_t u = 2 + (n ? 1 + VarintLen(n) + n : 0) + 1 + VarintLen(n);
    return 1 + VarintLen(u) + u;
  }

  Result<bool> Walk(const PbNode& node, const UnixfsData& d, int depth) {
    if (depth > 32 || d.type != UnixfsType::kFile || d.blocksizes.size() != node.links.size()) return false;
    for (size_t i = 0; i < node.links.size(); ++i) {
      const Cid& c = node.links[i].hash;
      uint64_t bs = d.blocksizes[i];
      uint64_t ts = node.links[i].tsize.value_or(0);
      if (c.codec() == codec::kRaw) {
        if (!LeafCidOk(c) || bs > o_.chunk_size) return false;
        out_.push_back(DagEntry{c, bs, bs});
        continue;
      }
      if (c.codec() != codec::kDagPb) return false;
      // An internal node's Tsize exceeds that of a leaf with the same bytes, so this test
      // picks out the leaves without reading them.
      if (!o_.raw_leaves && bs <= o_.chunk_size && ts == LeafTsize(bs)) {
        if (!LeafCidOk(c)) return false;
        out_.push_back(DagEntry{c, ts, bs});
        continue;
      }
      IPFSKIT_ASSIGN_OR_RETURN(Block b, blocks_.Get(c));
      IPFSKIT_ASSIGN_OR_RETURN(PbNode child, DecodePbNode(b.data()));
      if (child.links.empty() || !child.data) return false;  // a leaf of another shape
      IPFSKIT_ASSIGN_OR_RETURN(UnixfsData cd, DecodeUnixfs(*child.data));
      IPFSKIT_ASSIGN_OR_RETURN(bool ok, Walk(child, cd, depth + 1));
      if (!ok) return false;
    }
    return true;
  }

  Result<bool> Check(uint64_t size) {
    uint64_t total = 0;
    for (size_t i = 0; i < out_.size(); ++i) {
      uint64_t fs = out_[i].filesize;
      bool last = i + 1 == out_.size();
      if (fs == 0 || fs > o_.chunk_size || (!last && fs != o_.chunk_size)) return false;
      total += fs;
    }
    if (total != size) return false;
    // Leaf type (trickle writes Raw-typed leaves of the same size): check the first one.
    if (!out_.empty() && out_[0].cid.codec() == codec::kDagPb) {
      IPFSKIT_ASSIGN_OR_RETURN(Block b, blocks_.Get(out_[0].cid));
      IPFSKIT_ASSIGN_OR_RETURN(PbNode n, DecodePbNode(b.data()));
      if (!n.links.empty() || !n.data) return false;
      IPFSKIT_ASSIGN_OR_RETURN(UnixfsData d, DecodeUnixfs(*n.data));
      if (d.type != LeafNodeType(o_) || d.mode || d.mtime) return false;
    }
    return true;
  }

  BlockGetter& blocks_;
  const ImportOptions& o_;
  std::vector<DagEntry>& out_;
};

}  // namespace

Result<DagEntry> MfsTree::PutLeaf(Bytes chunk) {
  IPFSKIT_ASSIGN_OR_RETURN(EncodedLeaf leaf, EncodeLeaf(opts_.import, std::move(chunk)));
  IPFSKIT_TRY_STATUS(blocks_->Put(leaf.entry.cid, std::move(leaf.block)));
  return leaf.entry;
}

Result<Bytes> MfsTree::LeafBytes(const DagEntry& leaf, uint64_t len) {
  Bytes b(len);
  if (len == 0) return b;
  IPFSKIT_ASSIGN_OR_RETURN(size_t got, reader_->Read(leaf.cid, 0, b));
  if (got != len)
    return MakeError(Errc::kTruncated, "leaf " + leaf.cid.ToString() + " holds " + std::to_string(got) +
                                           " bytes, expected " + std::to_string(len));
  return b;
}

Status MfsTree::EnsureFileState(Node& n) {
  if (n.file) return Status::Ok();
  n.file = std::make_unique<FileState>();
  if (n.size == 0 || !n.entry.cid.valid()) return Status::Ok();
  std::vector<DagEntry> leaves;
  LeafCollector collector(*blocks_, opts_.import, leaves);
  auto ok = collector.Collect(n.entry.cid, n.size);
  if (!ok.ok()) {
    n.file.reset();
    return ok.error();
  }
  if (*ok) {
    n.file->slots.resize(leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      n.file->slots[i].kind = Slot::kLeaf;
      n.file->slots[i].leaf = std::move(leaves[i]);
    }
    return Status::Ok();
  }
  Status st = RechunkFile(n);
  if (!st.ok()) n.file.reset();
  return st;
}

// Content chunked differently (another chunker, trickle, metadata on a one-leaf file) is
// re-chunked once, one chunk in memory at a time, so that later changes keep the importer's CIDs.
Status MfsTree::RechunkFile(Node& n) {
  const uint64_t cs = opts_.import.chunk_size;
  auto& slots = n.file->slots;
  slots.clear();
  slots.resize((n.size + cs - 1) / cs);
  for (size_t i = 0; i < slots.size(); ++i) {
    uint64_t start = i * cs, len = std::min(cs, n.size - start);
    Bytes b(len);
    IPFSKIT_ASSIGN_OR_RETURN(size_t got, reader_->Read(n.entry.cid, start, b));
    if (got != len) return MakeError(Errc::kTruncated, n.entry.cid.ToString() + ": file shorter than its size");
    IPFSKIT_ASSIGN_OR_RETURN(slots[i].leaf, PutLeaf(std::move(b)));
    slots[i].kind = Slot::kLeaf;
  }
  return Status::Ok();
}

// Turns dirty slots into leaves buffered for the repo: all of them, or only full chunks (those
// a sequential writer is done with). Leaves are hashed in parallel.
Status MfsTree::SpillFile(Node& n, bool all) {
  if (!n.file || n.file->dirty_slots == 0) return Status::Ok();
  const uint64_t cs = opts_.import.chunk_size;
  auto& slots = n.file->slots;
  std::vector<size_t> idx;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].kind != Slot::kDirty) continue;
    uint64_t len = std::min(cs, n.size - i * cs);
    if (all || (len == cs && slots[i].buf->size() == cs)) idx.push_back(i);
  }
  std::vector<Result<EncodedLeaf>> out(idx.size(), MakeError(Errc::kInternal, "not encoded"));
  tbb::parallel_for(size_t{0}, idx.size(), [&](size_t k) {
    size_t i = idx[k];
    Bytes& buf = *slots[i].buf;
    buf.resize(std::min(cs, n.size - i * cs));
    out[k] = EncodeLeaf(opts_.import, std::move(buf));
  });
  Status result;
  for (size_t k = 0; k < idx.size(); ++k) {
    if (!out[k].ok()) return out[k].error();  // slot keeps its (moved-from) state only on a bug
    Slot& s = slots[idx[k]];
    // A failed Put still holds the block in memory for the next flush: the slot is safe to
    // convert either way, and the error is reported.
    Status st = blocks_->Put(out[k]->entry.cid, std::move(out[k]->block));
    if (!st.ok() && result.ok()) result = st;
    s.kind = Slot::kLeaf;
    s.leaf = std::move(out[k]->entry);
    s.buf.reset();
    --n.file->dirty_slots;
    dirty_bytes_.fetch_sub(static_cast<int64_t>(cs));
  }
  return result;
}

Status MfsTree::ResizeFile(Node& n, uint64_t size) {
  const uint64_t cs = opts_.import.chunk_size;
  auto& f = *n.file;
  size_t nslots = (size + cs - 1) / cs;
  if (size < n.size) {
    if (nslots > 0) {
      uint64_t len = size - (nslots - 1) * cs;
      Slot& last = f.slots[nslots - 1];
      // The cut-off bytes must read as zeros if the file grows again.
      if (last.kind == Slot::kLeaf && last.leaf.filesize > len) {
        IPFSKIT_ASSIGN_OR_RETURN(Bytes b, LeafBytes(last.leaf, len));
        last.kind = Slot::kDirty;
        last.buf = std::make_unique<Bytes>(std::move(b));
        last.leaf = DagEntry{};
        ++f.dirty_slots;
        dirty_bytes_.fetch_add(static_cast<int64_t>(cs));
      } else if (last.kind == Slot::kDirty && last.buf->size() > len) {
        last.buf->resize(len);
      }
    }
    for (size_t i = nslots; i < f.slots.size(); ++i) {
      if (f.slots[i].kind == Slot::kDirty) {
        --f.dirty_slots;
        dirty_bytes_.fetch_sub(static_cast<int64_t>(cs));
      }
    }
  }
  f.slots.resize(nslots);
  n.size = size;
  return Status::Ok();
}

Result<size_t> MfsTree::Read(const NodeRef& np, uint64_t offset, std::span<uint8_t> out) {
  Node& n = *np;
  if (n.kind == MfsKind::kDirectory) return MakeError(Errc::kIsDir, "is a directory");
  if (n.kind != MfsKind::kFile) return MakeError(Errc::kInvalidArgument, "not a regular file");
  std::lock_guard lock(n.mu);
  if (offset >= n.size || out.empty()) return size_t{0};
  size_t len = static_cast<size_t>(std::min<uint64_t>(out.size(), n.size - offset));
  if (!n.file) {
    IPFSKIT_ASSIGN_OR_RETURN(size_t got, reader_->Read(n.entry.cid, offset, out.first(len)));
    return got;
  }
  const uint64_t cs = opts_.import.chunk_size;
  for (uint64_t pos = offset; pos < offset + len;) {
    size_t i = pos / cs;
    uint64_t cstart = i * cs;
    uint64_t take = std::min<uint64_t>(offset + len, std::min(cstart + cs, n.size)) - pos;
    uint64_t in = pos - cstart;
    std::span<uint8_t> dst = out.subspan(pos - offset, take);
    const Slot& s = n.file->slots[i];
    uint64_t have = s.kind == Slot::kDirty ? s.buf->size() : s.kind == Slot::kLeaf ? s.leaf.filesize : 0;
    uint64_t n1 = in < have ? std::min(take, have - in) : 0;
    if (n1 && s.kind == Slot::kDirty) {
      std::memcpy(dst.data(), s.buf->data() + in, n1);
    } else if (n1) {
      IPFSKIT_ASSIGN_OR_RETURN(size_t got, reader_->Read(s.leaf.cid, in, dst.first(n1)));
      if (got != n1) return MakeError(Errc::kTruncated, "leaf " + s.leaf.cid.ToString() + " is short");
    }
    std::memset(dst.data() + n1, 0, take - n1);
    pos += take;
  }
  return len;
}

Result<size_t> MfsTree::Write(const NodeRef& np, uint64_t offset, ByteView data, bool append) {
  Node& n = *np;
  if (n.kind == MfsKind::kDirectory) return MakeError(Errc::kIsDir, "is a directory");
  if (n.kind != MfsKind::kFile) return MakeError(Errc::kInvalidArgument, "not a regular file");
  if (opts_.read_only) return MakeError(Errc::kReadOnly, "MFS is read-only");
  const uint64_t cs = opts_.import.chunk_size;
  bool mark = false;
  {
    std::lock_guard lock(n.mu);
    if (n.gone) return MakeError(Errc::kNotFound, "file was removed by another process");
    IPFSKIT_TRY_STATUS(EnsureFileState(n));
    FileState& f = *n.file;
    if (append) offset = n.size;
    if (data.empty()) return size_t{0};
    if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset)
      return MakeError(Errc::kInvalidArgument, "file too large");
    // Make room before changing anything: a write refused for lack of space changes nothing.
    bool over_tree = dirty_bytes_.load() >= static_cast<int64_t>(opts_.tree_dirty_limit);
    if (over_tree || f.dirty_slots * cs >= opts_.file_dirty_limit) IPFSKIT_TRY_STATUS(SpillFile(n, over_tree));
    if (blocks_->pending_bytes() > 2 * opts_.pending_limit)
      return MakeError(Errc::kNoSpace, "MFS blocks cannot be written to the repo (disk full?)");
    uint64_t end = offset + data.size();
    if (end > n.size) IPFSKIT_TRY_STATUS(ResizeFile(n, end));
    for (uint64_t i = offset / cs; i * cs < end; ++i) {
      uint64_t cstart = i * cs;
      uint64_t len = std::min(cs, n.size - cstart);
      uint64_t wb = std::max(offset, cstart) - cstart;
      uint64_t we = std::min(end, cstart + cs) - cstart;
      Slot& s = f.slots[i];
      if (s.kind != Slot::kDirty) {
        auto buf = std::make_unique<Bytes>();
        // Keep the old bytes unless this write covers all of them.
        if (s.kind == Slot::kLeaf && (wb > 0 || we < s.leaf.filesize)) {
          IPFSKIT_ASSIGN_OR_RETURN(*buf, LeafBytes(s.leaf, s.leaf.filesize));
        }
        buf->reserve(len);
        s.kind = Slot::kDirty;
        s.buf = std::move(buf);
        s.leaf = DagEntry{};
        ++f.dirty_slots;
        dirty_bytes_.fetch_add(static_cast<int64_t>(cs));
      }
      if (s.buf->size() < we) s.buf->resize(we);
      std::memcpy(s.buf->data() + wb, data.data() + (cstart + wb - offset), we - wb);
    }
    n.mtime = n.ctime = MfsNow();
    if (!n.stale) n.stale = mark = true;
  }
  if (mark) MarkDirty(&n);
  return data.size();
}

Status MfsTree::Truncate(const NodeRef& np, uint64_t size) {
  Node& n = *np;
  if (n.kind == MfsKind::kDirectory) return MakeError(Errc::kIsDir, "is a directory");
  if (n.kind != MfsKind::kFile) return MakeError(Errc::kInvalidArgument, "not a regular file");
  if (opts_.read_only) return MakeError(Errc::kReadOnly, "MFS is read-only");
  if (size > kMaxFileSize) return MakeError(Errc::kInvalidArgument, "file too large");
  bool mark = false;
  {
    std::lock_guard lock(n.mu);
    if (n.gone) return MakeError(Errc::kNotFound, "file was removed by another process");
    n.mtime = n.ctime = MfsNow();
    if (size == n.size) return Status::Ok();
    IPFSKIT_TRY_STATUS(EnsureFileState(n));
    IPFSKIT_TRY_STATUS(ResizeFile(n, size));
    if (!n.stale) n.stale = mark = true;
  }
  if (mark) MarkDirty(&n);
  return Status::Ok();
}

Result<DagEntry> MfsTree::MaterializeFile(Node& n) {
  if (!n.stale) return n.entry;
  IPFSKIT_TRY_STATUS(EnsureFileState(n));
  IPFSKIT_TRY_STATUS(SpillFile(n, true));
  const uint64_t cs = opts_.import.chunk_size;
  auto& slots = n.file->slots;
  std::vector<DagEntry> leaves;
  leaves.reserve(slots.size());
  std::optional<DagEntry> zero_chunk;
  for (size_t i = 0; i < slots.size(); ++i) {
    uint64_t len = std::min(cs, n.size - i * cs);
    Slot& s = slots[i];
    if (s.kind == Slot::kZero) {
      if (len == cs && zero_chunk) {
        s.leaf = *zero_chunk;
      } else {
        IPFSKIT_ASSIGN_OR_RETURN(s.leaf, PutLeaf(Bytes(len, 0)));
        if (len == cs) zero_chunk = s.leaf;
      }
      s.kind = Slot::kLeaf;
    } else if (s.leaf.filesize != len) {
      // The file grew past a short leaf: the leaf gains trailing zeros.
      IPFSKIT_ASSIGN_OR_RETURN(Bytes b, LeafBytes(s.leaf, s.leaf.filesize));
      b.resize(len, 0);
      IPFSKIT_ASSIGN_OR_RETURN(s.leaf, PutLeaf(std::move(b)));
    }
    leaves.push_back(s.leaf);
  }
  std::optional<uint32_t> mode = DagMode(n);
  std::optional<UnixfsMtime> mtime = DagMtime(n);
  MfsPendingSink sink(*blocks_);
  DagWriter w(opts_.import, &sink);
  const bool balanced = opts_.import.layout == Layout::kBalanced;
  DagEntry e;
  if (balanced && leaves.empty() && opts_.import.raw_leaves && !mode && !mtime) {
    IPFSKIT_ASSIGN_OR_RETURN(Cid c, w.CidFor(codec::kRaw, {}));
    IPFSKIT_TRY_STATUS(w.PutBlock(c, {}));
    e = DagEntry{std::move(c), 0, 0};
  } else if (balanced && leaves.size() <= 1 && (leaves.empty() || mode || mtime)) {
    // An empty file, or one leaf that must carry the metadata itself (as the importer does).
    Bytes content;
    if (!leaves.empty()) {
      IPFSKIT_ASSIGN_OR_RETURN(content, LeafBytes(leaves[0], n.size));
    }
    Bytes block = EncodeLeafNode(content, UnixfsType::kFile, mode, mtime);
    IPFSKIT_ASSIGN_OR_RETURN(Cid c, w.CidFor(codec::kDagPb, block));
    IPFSKIT_TRY_STATUS(w.PutBlock(c, block));
    e = DagEntry{std::move(c), block.size(), n.size};
  } else {
    IPFSKIT_ASSIGN_OR_RETURN(e, BuildFileLayout(leaves, w, mode, mtime));
  }
  n.entry = e;
  n.stale = false;
  // Every slot is a leaf of the DAG now: reads go through the DAG and the memory is freed.
  n.file.reset();
  return e;
}

}  // namespace ipfskit
