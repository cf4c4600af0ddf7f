#include "core/reader/unixfs_reader.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/codec/protobuf.h"
#include "core/importer/murmur3.h"

namespace ipfskit {
namespace {

constexpr int kMaxDepth = 64;  // guards against malicious deep or cyclic-looking DAGs

// A block that no source has is "unavailable" (EIO at the FUSE edge), which must not be
// confused with a name that does not exist in a directory (ENOENT).
Result<Block> GetBlock(BlockGetter& blocks, const Cid& cid) {
  auto b = blocks.Get(cid);
  if (!b.ok() && b.error().code == Errc::kNotFound)
    return MakeError(Errc::kUnavailable, "block " + cid.ToString() + " is not available");
  return b;
}

// The file bytes of a plain dag-pb leaf, as a view into its block: no links, and UnixFS data of
// Type File or Raw, Data, and at most a filesize equal to the data's size. nullopt for anything
// else (the full decoders then judge it). Reading a leaf this way copies its bytes once, into
// the reader's buffer; DecodePbNode and DecodeUnixfs would copy all of them twice first.
std::optional<ByteView> PlainLeafData(ByteView block) {
  ByteView in = block, unixfs;
  bool have_unixfs = false;
  while (!in.empty()) {
    auto f = pb::ReadField(in);
    if (!f.ok() || f->number != 1 || f->type != pb::kLen || have_unixfs) return std::nullopt;
    unixfs = f->bytes;
    have_unixfs = true;
  }
  ByteView data;
  bool have_type = false, have_data = false;
  std::optional<uint64_t> filesize;
  while (!unixfs.empty()) {
    auto f = pb::ReadField(unixfs);
    if (!f.ok()) return std::nullopt;
    if (f->number == 1 && f->type == pb::kVarint && !have_type &&
        (f->varint == static_cast<uint64_t>(UnixfsType::kFile) ||
         f->varint == static_cast<uint64_t>(UnixfsType::kRaw))) {
      have_type = true;
    } else if (f->number == 2 && f->type == pb::kLen && !have_data) {
      data = f->bytes;
      have_data = true;
    } else if (f->number == 3 && f->type == pb::kVarint && !filesize) {
      filesize = f->varint;
    } else {
      return std::nullopt;
    }
  }
  if (!have_unixfs || !have_type || (filesize && *filesize != data.size())) return std::nullopt;
  return data;
}

Result<DecodedNode> DecodeUnixfsBlock(const Cid& cid, ByteView b) {
  DecodedNode out;
  out.block_size = b.size();
  {
    auto node = DecodePbNode(b);
    if (!node.ok()) return MakeError(Errc::kMalformed, cid.ToString() + ": " + node.error().message);
    out.node = std::move(*node);
  }
  if (!out.node.data) return MakeError(Errc::kMalformed, cid.ToString() + ": dag-pb node without UnixFS data");
  auto d = DecodeUnixfs(*out.node.data);
  if (!d.ok()) return MakeError(Errc::kMalformed, cid.ToString() + ": " + d.error().message);
  out.data = std::move(*d);
  // The UnixFS bytes were decoded into `data`: the raw copy is not needed any more.
  out.node.data.reset();
  return out;
}

// Of `len` bytes standing for file bytes from `pos` on, cut at node_end, the file range
// [begin, end) a walk wanting [out_off, out_off + out_size) takes; empty when begin >= end.
std::pair<uint64_t, uint64_t> WantedRange(uint64_t out_off, size_t out_size, uint64_t pos, size_t len,
                                          uint64_t node_end) {
  return {std::max(out_off, pos), std::min({out_off + out_size, pos + len, node_end})};
}

// Copies `d` from `offset` on into `out`: the whole file is `d`.
size_t CopyFrom(ByteView d, uint64_t offset, std::span<uint8_t> out) {
  if (offset >= d.size()) return 0;
  size_t n = std::min<uint64_t>(out.size(), d.size() - offset);
  std::memcpy(out.data(), d.data() + offset, n);
  return n;
}

// DecodeUnixfs already refuses these; checked again here because a bad fanout means an
// undefined shift below.
Status CheckFanout(uint64_t fanout) {
  if (fanout < 2 || fanout > 1024 || (fanout & (fanout - 1)) != 0)
    return MakeError(Errc::kMalformed, "HAMT fanout " + std::to_string(fanout) +
                                           " is not a power of two from 2 to 1024");
  return Status::Ok();
}

// The file bytes a node declares: filesize when set, else its data plus its children.
// nullopt when those overflow or when filesize disagrees with them.
std::optional<uint64_t> DeclaredExtent(const PbNode& node, const UnixfsData& d) {
  uint64_t sum = d.data ? d.data->size() : 0;
  if (!node.links.empty()) {
    if (d.blocksizes.size() != node.links.size()) return std::nullopt;
    for (uint64_t b : d.blocksizes)
      if (__builtin_add_overflow(sum, b, &sum)) return std::nullopt;
  }
  if (d.filesize && *d.filesize != sum) return std::nullopt;
  return sum;
}

int HamtBits(uint64_t fanout) {
  int bits = 0;
  while ((uint64_t{1} << bits) < fanout) ++bits;
  return bits;
}

size_t HamtPrefixLen(uint64_t fanout) {
  size_t digits = 0;
  for (uint64_t v = fanout - 1; v; v >>= 4) ++digits;
  return digits;
}

std::string HamtPrefix(uint64_t idx, uint64_t fanout) {
  static const char* kHex = "0123456789ABCDEF";
  size_t digits = HamtPrefixLen(fanout);
  std::string s(digits, '0');
  for (size_t i = digits; i-- > 0; idx >>= 4) s[i] = kHex[idx & 15];
  return s;
}

}  // namespace

Result<UnixfsReader::NodeRef> UnixfsReader::DecodeAndKeep(const Cid& cid, const Block& b) {
  IPFSKIT_ASSIGN_OR_RETURN(DecodedNode d, DecodeUnixfsBlock(cid, b.data()));
  auto n = std::make_shared<const DecodedNode>(std::move(d));
  // A node without links is a leaf (read once per read of it) or a small directory: not worth
  // the memory.
  if (!n->node.links.empty()) decoded_->Insert(cid, n);
  return n;
}

Result<UnixfsReader::NodeRef> UnixfsReader::DecodedAt(const Cid& cid) {
  if (auto n = decoded_->Find(cid)) return n;
  IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(*blocks_, cid));
  return DecodeAndKeep(cid, b);
}

Result<NodeInfo> UnixfsReader::Stat(const Cid& cid) {
  NodeInfo info;
  info.cid = cid;
  if (cid.codec() != codec::kDagPb) {
    IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(*blocks_, cid));
    info.kind = NodeKind::kFile;
    info.size = b.size();
    info.block_size = b.size();
    return info;
  }
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, DecodedAt(cid));
  info.block_size = n->block_size;
  info.mode = n->data.mode;
  info.mtime = n->data.mtime;
  info.num_links = n->node.links.size();
  switch (n->data.type) {
    case UnixfsType::kFile:
    case UnixfsType::kRaw:
      info.kind = NodeKind::kFile;
      info.size = n->data.FileSize();
      break;
    case UnixfsType::kDirectory:
      info.kind = NodeKind::kDirectory;
      info.size = n->block_size;
      break;
    case UnixfsType::kHamtShard:
      info.kind = NodeKind::kHamtDirectory;
      info.size = n->block_size;
      break;
    case UnixfsType::kSymlink:
      info.kind = NodeKind::kSymlink;
      info.symlink_target = n->data.data ? std::string(AsChars(*n->data.data)) : std::string();
      info.size = info.symlink_target.size();
      break;
    case UnixfsType::kMetadata:
      return MakeError(Errc::kUnsupported, cid.ToString() + ": UnixFS Metadata nodes are not supported");
  }
  return info;
}

Result<DirEntry> UnixfsReader::HamtLookup(const Cid& shard, const PbNode& node, const UnixfsData& d,
                                          std::string_view name, uint64_t hash, int level) {
  const uint64_t fanout = d.fanout.value_or(256);
  IPFSKIT_TRY_STATUS(CheckFanout(fanout));
  const int bits = HamtBits(fanout);
  if ((level + 1) * bits > 64) return MakeError(Errc::kMalformed, shard.ToString() + ": HAMT deeper than its hash");
  uint64_t idx = (hash >> (64 - (level + 1) * bits)) & (fanout - 1);
  std::string prefix = HamtPrefix(idx, fanout);
  for (const auto& l : node.links) {
    const std::string& ln = l.name.value_or("");
    if (ln.size() < prefix.size() || ln.compare(0, prefix.size(), prefix) != 0) continue;
    if (ln.size() == prefix.size()) {
      if (level >= kMaxDepth) return MakeError(Errc::kMalformed, "HAMT too deep");
      IPFSKIT_ASSIGN_OR_RETURN(NodeRef sub, DecodedAt(l.hash));
      if (sub->data.type != UnixfsType::kHamtShard)
        return MakeError(Errc::kMalformed, l.hash.ToString() + ": HAMT child is not a shard");
      return HamtLookup(l.hash, sub->node, sub->data, name, hash, level + 1);
    }
    if (std::string_view(ln).substr(prefix.size()) == name) return DirEntry{std::string(name), l.hash, l.tsize.value_or(0)};
  }
  return MakeError(Errc::kNotFound, "no entry named '" + std::string(name) + "'");
}

Result<DirEntry> UnixfsReader::Lookup(const Cid& dir, std::string_view name) {
  if (dir.codec() != codec::kDagPb) return MakeError(Errc::kNotDir, dir.ToString() + " is not a directory");
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, DecodedAt(dir));
  if (n->data.type == UnixfsType::kDirectory) {
    // Kubo sorts links by name; search linearly anyway since foreign encoders may not.
    for (const auto& l : n->node.links)
      if (l.name && *l.name == name) return DirEntry{*l.name, l.hash, l.tsize.value_or(0)};
    return MakeError(Errc::kNotFound, "no entry named '" + std::string(name) + "'");
  }
  if (n->data.type == UnixfsType::kHamtShard)
    return HamtLookup(dir, n->node, n->data, name, Murmur3X64_64(name.data(), name.size()), 0);
  return MakeError(Errc::kNotDir, dir.ToString() + " is not a directory");
}

Result<Cid> UnixfsReader::Resolve(const Cid& root, std::string_view path) {
  Cid cur = root;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") {
      if (end == path.size()) break;
      continue;
    }
    IPFSKIT_ASSIGN_OR_RETURN(DirEntry e, Lookup(cur, part));
    cur = e.cid;
    if (end == path.size()) break;
  }
  return cur;
}

Status UnixfsReader::HamtList(const PbNode& node, const UnixfsData& d, std::vector<DirEntry>& out, int depth,
                              std::unordered_set<Cid>& seen) {
  const uint64_t fanout = d.fanout.value_or(256);
  IPFSKIT_TRY_STATUS(CheckFanout(fanout));
  // Each level uses log2(fanout) bits of a 64-bit hash: no honest HAMT is deeper.
  if (depth > kMaxDepth || (depth + 1) * HamtBits(fanout) > 64)
    return MakeError(Errc::kMalformed, "HAMT deeper than its hash");
  const size_t plen = HamtPrefixLen(fanout);
  std::vector<Cid> subs;
  for (const auto& l : node.links)
    if (l.name.value_or("").size() == plen) subs.push_back(l.hash);
  if (!subs.empty()) blocks_->Prefetch(subs);
  for (const auto& l : node.links) {
    const std::string& ln = l.name.value_or("");
    if (ln.size() < plen) return MakeError(Errc::kMalformed, "HAMT link name shorter than its prefix");
    if (ln.size() == plen) {
      if (!seen.insert(l.hash).second)
        return MakeError(Errc::kMalformed, "HAMT links shard " + l.hash.ToString() + " more than once");
      IPFSKIT_ASSIGN_OR_RETURN(NodeRef sub, DecodedAt(l.hash));
      if (sub->data.type != UnixfsType::kHamtShard)
        return MakeError(Errc::kMalformed, l.hash.ToString() + ": HAMT child is not a shard");
      IPFSKIT_TRY_STATUS(HamtList(sub->node, sub->data, out, depth + 1, seen));
    } else {
      out.push_back(DirEntry{ln.substr(plen), l.hash, l.tsize.value_or(0)});
    }
  }
  return Status::Ok();
}

Result<std::vector<DirEntry>> UnixfsReader::ListDir(const Cid& dir) {
  if (dir.codec() != codec::kDagPb) return MakeError(Errc::kNotDir, dir.ToString() + " is not a directory");
  IPFSKIT_ASSIGN_OR_RETURN(NodeRef n, DecodedAt(dir));
  std::vector<DirEntry> out;
  if (n->data.type == UnixfsType::kDirectory) {
    out.reserve(n->node.links.size());
    for (const auto& l : n->node.links) out.push_back(DirEntry{l.name.value_or(""), l.hash, l.tsize.value_or(0)});
    return out;
  }
  if (n->data.type == UnixfsType::kHamtShard) {
    std::unordered_set<Cid> seen{dir};
    IPFSKIT_TRY_STATUS(HamtList(n->node, n->data, out, 0, seen));
    return out;
  }
  return MakeError(Errc::kNotDir, dir.ToString() + " is not a directory");
}

namespace {

// Bytes [off, off + len) of `b`, kept valid by a copy of `b` (which shares b's keepalive).
Block SliceOf(const Block& b, size_t off, size_t len) {
  return Block::View(b.data().subspan(off, len), std::make_shared<const Block>(b));
}

// Hands the walk what it wants of `d`, the bytes a node stands for from file offset `pos` on
// (cut at node_end): copied into w.out, or in views mode as a slice of `holder`, which `d` lies
// in. The pieces must follow each other without a hole: a child holding fewer bytes than its
// parent gave it would leave one.
template <typename Walk>
Status Emit(Walk& w, const Cid& cid, const Block& holder, ByteView d, uint64_t pos, uint64_t node_end) {
  auto [begin, end] = WantedRange(w.offset, w.out.size(), pos, d.size(), node_end);
  if (begin >= end) return Status::Ok();
  if (begin != w.filled)
    return MakeError(Errc::kMalformed, cid.ToString() + ": holds fewer bytes than its parent says");
  w.filled = end;
  if (w.views) {
    w.views->push_back(SliceOf(holder, (d.data() - holder.data().data()) + (begin - pos), end - begin));
  } else {
    std::memcpy(w.out.data() + (begin - w.offset), d.data() + (begin - pos), end - begin);
  }
  return Status::Ok();
}

}  // namespace

Status UnixfsReader::ReadRec(ReadWalk& w, const Cid& cid, uint64_t node_off, uint64_t node_end, int depth) {
  // [w.offset, w.offset+w.out.size()) is the wanted range in file coordinates; the node stands
  // for [node_off, node_end), as its parent declared.
  if (depth > kMaxDepth) return MakeError(Errc::kMalformed, "file DAG too deep");
  if (w.visits_left == 0)
    return MakeError(Errc::kMalformed, "file DAG needs too many blocks for one read (does it link the same blocks over and over?)");
  --w.visits_left;
  if (cid.codec() != codec::kDagPb) {
    if (w.leaves_only) {
      w.leaves_only->push_back(LeafSpan{cid, node_off});
      return Status::Ok();
    }
    IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(*blocks_, cid));
    return Emit(w, cid, b, b.data(), node_off, node_end);
  }
  NodeRef n = decoded_->Find(cid);
  if (!n) {
    if (w.leaves_only && w.stop_at_remote && depth > 0 && !blocks_->Has(cid)) {
      w.leaves_only->push_back(LeafSpan{cid, node_off});
      return Status::Ok();
    }
    IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(*blocks_, cid));
    if (auto d = PlainLeafData(b.data())) {
      if (!w.leaves_only) return Emit(w, cid, b, *d, node_off, node_end);
      if (auto [begin, end] = WantedRange(w.offset, w.out.size(), node_off, d->size(), node_end); begin < end)
        w.leaves_only->push_back(LeafSpan{cid, node_off});
      return Status::Ok();
    }
    IPFSKIT_ASSIGN_OR_RETURN(n, DecodeAndKeep(cid, b));
  }
  if (n->data.type != UnixfsType::kFile && n->data.type != UnixfsType::kRaw)
    return MakeError(Errc::kMalformed, cid.ToString() + ": not a file node inside a file DAG");
  return ReadNode(w, cid, n, node_off, node_end, depth);
}

Status UnixfsReader::ReadNode(ReadWalk& w, const Cid& cid, const NodeRef& n, uint64_t node_off, uint64_t node_end,
                              int depth) {
  const PbNode& node = n->node;
  const UnixfsData& data = n->data;
  if (!node.links.empty() && data.blocksizes.size() != node.links.size())
    return MakeError(Errc::kMalformed, cid.ToString() + ": blocksizes do not match links");
  std::optional<uint64_t> extent = DeclaredExtent(node, data);
  if (!extent)
    return MakeError(Errc::kMalformed, cid.ToString() + ": filesize does not match its data and blocksizes");
  // A node may not reach past what its parent gave it, nor past what it declares itself.
  node_end = std::min(node_end, node_off + std::min(*extent, UINT64_MAX - node_off));
  const uint64_t want_end = std::min(w.offset + w.out.size(), node_end);
  uint64_t pos = node_off;
  if (data.data) {
    const Bytes& d = *data.data;
    if (!w.leaves_only) {
      // The node's own bytes live in the decoded node: a view of them keeps it alive.
      IPFSKIT_TRY_STATUS(Emit(w, cid, Block::View(ByteView(d), n), ByteView(d), pos, node_end));
    } else if (auto [begin, end] = WantedRange(w.offset, w.out.size(), pos, d.size(), node_end);
               node.links.empty() && begin < end) {
      w.leaves_only->push_back(LeafSpan{cid, node_off});
    }
    pos += d.size();
  }
  for (size_t i = 0; i < node.links.size() && pos < want_end; ++i) {
    const uint64_t child_end = pos + std::min(data.blocksizes[i], node_end - pos);
    // A child that stands for no bytes holds nothing to read.
    if (child_end > w.offset && child_end > pos)
      IPFSKIT_TRY_STATUS(ReadRec(w, node.links[i].hash, pos, child_end, depth + 1));
    pos = child_end;
  }
  return Status::Ok();
}

namespace {
uint64_t VisitBudget(uint64_t len) {
  return UnixfsReader::kReadVisitBase + std::min<uint64_t>(len, UINT64_MAX / 4) * 2;
}
}  // namespace

Result<size_t> UnixfsReader::ReadImpl(const Cid& file, uint64_t offset, size_t size, ReadWalk& w) {
  // Every read of the mount comes through here: the root comes from the decoded-node cache
  // after the first read.
  NodeRef root = file.codec() == codec::kDagPb ? decoded_->Find(file) : nullptr;
  if (!root) {
    IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(*blocks_, file));
    // A one-block file: raw, or a plain dag-pb leaf.
    std::optional<ByteView> whole;
    if (file.codec() != codec::kDagPb) whole = b.data();
    else whole = PlainLeafData(b.data());
    if (whole) {
      if (offset >= whole->size()) return size_t{0};
      size_t n = std::min<uint64_t>(size, whole->size() - offset);
      if (w.views) {
        w.views->push_back(SliceOf(b, (whole->data() - b.data().data()) + offset, n));
        return n;
      }
      return CopyFrom(*whole, offset, w.out.subspan(0, n));
    }
    IPFSKIT_ASSIGN_OR_RETURN(root, DecodeAndKeep(file, b));
  }
  if (root->data.type == UnixfsType::kMetadata)
    return MakeError(Errc::kUnsupported, file.ToString() + ": UnixFS Metadata nodes are not supported");
  if (root->data.type != UnixfsType::kFile && root->data.type != UnixfsType::kRaw)
    return MakeError(Errc::kIsDir, file.ToString() + " is not a file");
  const uint64_t file_size = root->data.FileSize();
  if (offset >= file_size) return size_t{0};
  size_t n = std::min<uint64_t>(size, file_size - offset);
  w.offset = offset;
  w.out = w.out.subspan(0, n);
  w.visits_left = VisitBudget(n);
  w.filled = offset;
  IPFSKIT_TRY_STATUS(ReadNode(w, file, root, 0, file_size, 0));
  if (w.filled != offset + n)
    return MakeError(Errc::kMalformed, file.ToString() + ": the file's blocks hold fewer bytes than it says");
  return n;
}

Result<size_t> UnixfsReader::Read(const Cid& file, uint64_t offset, std::span<uint8_t> out) {
  ReadWalk w{offset, out, nullptr, 0};
  return ReadImpl(file, offset, out.size(), w);
}

Result<size_t> UnixfsReader::ReadViews(const Cid& file, uint64_t offset, size_t size, std::vector<Block>& views) {
  ReadWalk w{offset, std::span<uint8_t>(static_cast<uint8_t*>(nullptr), size), nullptr, 0};
  w.views = &views;
  const size_t before = views.size();
  auto n = ReadImpl(file, offset, size, w);
  if (!n.ok()) views.resize(before);
  return n;
}

Result<std::vector<Cid>> UnixfsReader::LeavesFor(const Cid& file, uint64_t offset, uint64_t len) {
  std::vector<LeafSpan> spans;
  len = std::min(len, UINT64_MAX - offset);
  ReadWalk w{offset, std::span<uint8_t>(static_cast<uint8_t*>(nullptr), len), &spans, VisitBudget(len)};
  IPFSKIT_TRY_STATUS(ReadRec(w, file, 0, UINT64_MAX, 0));
  std::vector<Cid> leaves;
  leaves.reserve(spans.size());
  for (auto& s : spans) leaves.push_back(std::move(s.cid));
  return leaves;
}

Result<std::vector<LeafSpan>> UnixfsReader::LeafSpansFor(const Cid& file, uint64_t offset, uint64_t len) {
  std::vector<LeafSpan> spans;
  len = std::min(len, UINT64_MAX - offset);
  ReadWalk w{offset, std::span<uint8_t>(static_cast<uint8_t*>(nullptr), len), &spans, VisitBudget(len), true};
  IPFSKIT_TRY_STATUS(ReadRec(w, file, 0, UINT64_MAX, 0));
  return spans;
}

}  // namespace ipfskit
