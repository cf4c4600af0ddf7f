#include "core/reader/unixfs_reader.h"

#include <algorithm>
#include <cstring>

#include "core/importer/murmur3.h"

namespace ipfskit {
namespace {

constexpr int kMaxDepth = 64;  // guards against malicious deep or cyclic-looking DAGs

struct Decoded {
  Block block;
  PbNode node;
  UnixfsData data;
};

// A block that no source has is "unavailable" (EIO at the FUSE edge), which must not be
// confused with a name that does not exist in a directory (ENOENT).
Result<Block> GetBlock(BlockGetter& blocks, const Cid& cid) {
  auto b = blocks.Get(cid);
  if (!b.ok() && b.error().code == Errc::kNotFound)
    return MakeError(Errc::kUnavailable, "block " + cid.ToString() + " is not available");
  return b;
}

Result<Decoded> DecodeUnixfsNode(BlockGetter& blocks, const Cid& cid) {
  IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(blocks, cid));
  auto node = DecodePbNode(b.data());
  if (!node.ok()) return MakeError(Errc::kMalformed, cid.ToString() + ": " + node.error().message);
  if (!node->data) return MakeError(Errc::kMalformed, cid.ToString() + ": dag-pb node without UnixFS data");
  auto d = DecodeUnixfs(*node->data);
  if (!d.ok()) return MakeError(Errc::kMalformed, cid.ToString() + ": " + d.error().message);
  return Decoded{std::move(b), std::move(*node), std::move(*d)};
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
  IPFSKIT_ASSIGN_OR_RETURN(Decoded n, DecodeUnixfsNode(*blocks_, cid));
  info.block_size = n.block.size();
  info.mode = n.data.mode;
  info.mtime = n.data.mtime;
  info.num_links = n.node.links.size();
  switch (n.data.type) {
    case UnixfsType::kFile:
    case UnixfsType::kRaw:
      info.kind = NodeKind::kFile;
      info.size = n.data.FileSize();
      break;
    case UnixfsType::kDirectory:
      info.kind = NodeKind::kDirectory;
      info.size = n.block.size();
      break;
    case UnixfsType::kHamtShard:
      info.kind = NodeKind::kHamtDirectory;
      info.size = n.block.size();
      break;
    case UnixfsType::kSymlink:
      info.kind = NodeKind::kSymlink;
      info.symlink_target = n.data.data ? std::string(AsChars(*n.data.data)) : std::string();
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
  const int bits = HamtBits(fanout);
  if ((level + 1) * bits > 64) return MakeError(Errc::kMalformed, shard.ToString() + ": HAMT deeper than its hash");
  uint64_t idx = (hash >> (64 - (level + 1) * bits)) & (fanout - 1);
  std::string prefix = HamtPrefix(idx, fanout);
  for (const auto& l : node.links) {
    const std::string& ln = l.name.value_or("");
    if (ln.size() < prefix.size() || ln.compare(0, prefix.size(), prefix) != 0) continue;
    if (ln.size() == prefix.size()) {
      if (level >= kMaxDepth) return MakeError(Errc::kMalformed, "HAMT too deep");
      IPFSKIT_ASSIGN_OR_RETURN(Decoded sub, DecodeUnixfsNode(*blocks_, l.hash));
      if (sub.data.type != UnixfsType::kHamtShard)
        return MakeError(Errc::kMalformed, l.hash.ToString() + ": HAMT child is not a shard");
      return HamtLookup(l.hash, sub.node, sub.data, name, hash, level + 1);
    }
    if (std::string_view(ln).substr(prefix.size()) == name) return DirEntry{std::string(name), l.hash, l.tsize.value_or(0)};
  }
  return MakeError(Errc::kNotFound, "no entry named '" + std::string(name) + "'");
}

Result<DirEntry> UnixfsReader::Lookup(const Cid& dir, std::string_view name) {
  if (dir.codec() != codec::kDagPb) return MakeError(Errc::kNotDir, dir.ToString() + " is not a directory");
  IPFSKIT_ASSIGN_OR_RETURN(Decoded n, DecodeUnixfsNode(*blocks_, dir));
  if (n.data.type == UnixfsType::kDirectory) {
    // Kubo sorts links by name; search linearly anyway since foreign encoders may not.
    for (const auto& l : n.node.links)
      if (l.name && *l.name == name) return DirEntry{*l.name, l.hash, l.tsize.value_or(0)};
    return MakeError(Errc::kNotFound, "no entry named '" + std::string(name) + "'");
  }
  if (n.data.type == UnixfsType::kHamtShard)
    return HamtLookup(dir, n.node, n.data, name, Murmur3X64_64(name.data(), name.size()), 0);
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

Status UnixfsReader::HamtList(const PbNode& node, const UnixfsData& d, std::vector<DirEntry>& out, int depth) {
  if (depth > kMaxDepth) return MakeError(Errc::kMalformed, "HAMT too deep");
  const size_t plen = HamtPrefixLen(d.fanout.value_or(256));
  std::vector<Cid> subs;
  for (const auto& l : node.links)
    if (l.name.value_or("").size() == plen) subs.push_back(l.hash);
  if (!subs.empty()) blocks_->Prefetch(subs);
  for (const auto& l : node.links) {
    const std::string& ln = l.name.value_or("");
    if (ln.size() < plen) return MakeError(Errc::kMalformed, "HAMT link name shorter than its prefix");
    if (ln.size() == plen) {
      IPFSKIT_ASSIGN_OR_RETURN(Decoded sub, DecodeUnixfsNode(*blocks_, l.hash));
      if (sub.data.type != UnixfsType::kHamtShard)
        return MakeError(Errc::kMalformed, l.hash.ToString() + ": HAMT child is not a shard");
      IPFSKIT_TRY_STATUS(HamtList(sub.node, sub.data, out, depth + 1));
    } else {
      out.push_back(DirEntry{ln.substr(plen), l.hash, l.tsize.value_or(0)});
    }
  }
  return Status::Ok();
}

Result<std::vector<DirEntry>> UnixfsReader::ListDir(const Cid& dir) {
  if (dir.codec() != codec::kDagPb) return MakeError(Errc::kNotDir, dir.ToString() + " is not a directory");
  IPFSKIT_ASSIGN_OR_RETURN(Decoded n, DecodeUnixfsNode(*blocks_, dir));
  std::vector<DirEntry> out;
  if (n.data.type == UnixfsType::kDirectory) {
    out.reserve(n.node.links.size());
    for (const auto& l : n.node.links) out.push_back(DirEntry{l.name.value_or(""), l.hash, l.tsize.value_or(0)});
    return out;
  }
  if (n.data.type == UnixfsType::kHamtShard) {
    IPFSKIT_TRY_STATUS(HamtList(n.node, n.data, out, 0));
    return out;
  }
  return MakeError(Errc::kNotDir, dir.ToString() + " is not a directory");
}

Status UnixfsReader::ReadRec(const Cid& cid, uint64_t node_off, uint64_t offset, std::span<uint8_t> out, int depth,
                             std::vector<Cid>* leaves) {
  // [offset, offset+out.size()) is the wanted range in file coordinates; node starts at node_off.
  if (depth > kMaxDepth) return MakeError(Errc::kMalformed, "file DAG too deep");
  if (cid.codec() != codec::kDagPb) {
    if (leaves) {
      leaves->push_back(cid);
      return Status::Ok();
    }
    IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(*blocks_, cid));
    ByteView d = b.data();
    uint64_t begin = std::max(offset, node_off), end = std::min(offset + out.size(), node_off + d.size());
    if (begin < end) std::memcpy(out.data() + (begin - offset), d.data() + (begin - node_off), end - begin);
    return Status::Ok();
  }
  IPFSKIT_ASSIGN_OR_RETURN(Decoded n, DecodeUnixfsNode(*blocks_, cid));
  if (n.data.type != UnixfsType::kFile && n.data.type != UnixfsType::kRaw)
    return MakeError(Errc::kMalformed, cid.ToString() + ": not a file node inside a file DAG");
  return ReadNode(cid, n.node, n.data, node_off, offset, out, depth, leaves);
}

Status UnixfsReader::ReadNode(const Cid& cid, const PbNode& node, const UnixfsData& data, uint64_t node_off,
                              uint64_t offset, std::span<uint8_t> out, int depth, std::vector<Cid>* leaves) {
  uint64_t pos = node_off;
  if (data.data) {
    const Bytes& d = *data.data;
    uint64_t begin = std::max(offset, pos), end = std::min(offset + out.size(), pos + d.size());
    if (begin < end && !leaves) std::memcpy(out.data() + (begin - offset), d.data() + (begin - pos), end - begin);
    if (leaves && node.links.empty() && begin < end) leaves->push_back(cid);
    pos += d.size();
  }
  if (!node.links.empty() && data.blocksizes.size() != node.links.size())
    return MakeError(Errc::kMalformed, cid.ToString() + ": blocksizes do not match links");
  const uint64_t want_end = offset + out.size();
  for (size_t i = 0; i < node.links.size() && pos < want_end; ++i) {
    uint64_t sz = data.blocksizes[i];
    if (pos + sz > offset) IPFSKIT_TRY_STATUS(ReadRec(node.links[i].hash, pos, offset, out, depth + 1, leaves));
    pos += sz;
  }
  return Status::Ok();
}

Result<size_t> UnixfsReader::Read(const Cid& file, uint64_t offset, std::span<uint8_t> out) {
  // Every read of the mount comes through here: fetch and decode the root block once.
  if (file.codec() != codec::kDagPb) {
    IPFSKIT_ASSIGN_OR_RETURN(Block b, GetBlock(*blocks_, file));
    if (offset >= b.size()) return size_t{0};
    size_t n = std::min<uint64_t>(out.size(), b.size() - offset);
    std::memcpy(out.data(), b.data().data() + offset, n);
    return n;
  }
  IPFSKIT_ASSIGN_OR_RETURN(Decoded root, DecodeUnixfsNode(*blocks_, file));
  if (root.data.type == UnixfsType::kMetadata)
    return MakeError(Errc::kUnsupported, file.ToString() + ": UnixFS Metadata nodes are not supported");
  if (root.data.type != UnixfsType::kFile && root.data.type != UnixfsType::kRaw)
    return MakeError(Errc::kIsDir, file.ToString() + " is not a file");
  const uint64_t size = root.data.FileSize();
  if (offset >= size) return size_t{0};
  size_t n = std::min<uint64_t>(out.size(), size - offset);
  IPFSKIT_TRY_STATUS(ReadNode(file, root.node, root.data, 0, offset, out.subspan(0, n), 0, nullptr));
  return n;
}

Result<std::vector<Cid>> UnixfsReader::LeavesFor(const Cid& file, uint64_t offset, uint64_t len) {
  std::vector<Cid> leaves;
  // A span over no memory: ReadRec only uses its size in leaves-only mode.
  std::span<uint8_t> fake(static_cast<uint8_t*>(nullptr), len);
  IPFSKIT_TRY_STATUS(ReadRec(file, 0, offset, fake, 0, &leaves));
  return leaves;
}

}  // namespace ipfskit
