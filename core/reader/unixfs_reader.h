// UnixFS reader: path resolution through basic and HAMT directories, ranged file reads that
// touch only the blocks covering the range, symlinks, raw and identity blocks, trickle DAGs.
// Thread-safe: it holds no mutable state beyond the BlockGetter, which is thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/codec/dagpb.h"
#include "core/codec/unixfs.h"
#include "core/store/block_store.h"

namespace ipfskit {

enum class NodeKind { kFile, kDirectory, kHamtDirectory, kSymlink };

struct NodeInfo {
  Cid cid;
  NodeKind kind = NodeKind::kFile;
  uint64_t size = 0;         // file bytes; symlink target length; directories: block size
  uint64_t num_links = 0;    // directories: links in the root block
  uint64_t block_size = 0;   // size of the root block
  std::optional<uint32_t> mode;
  std::optional<UnixfsMtime> mtime;
  std::string symlink_target;
  bool is_dir() const { return kind == NodeKind::kDirectory || kind == NodeKind::kHamtDirectory; }
};

struct DirEntry {
  std::string name;
  Cid cid;
  uint64_t tsize = 0;
};

class UnixfsReader {
 public:
  explicit UnixfsReader(std::shared_ptr<BlockGetter> blocks) : blocks_(std::move(blocks)) {}

  // Non-dag-pb blocks (raw, dag-cbor, ...) are files whose bytes are the block.
  Result<NodeInfo> Stat(const Cid& cid);
  // Looks a name up in a directory (basic or HAMT). kNotFound when absent, kNotDir when
  // `dir` is not a directory.
  Result<DirEntry> Lookup(const Cid& dir, std::string_view name);
  // Resolves "a/b/c" (no leading slash needed; empty = root) under root.
  Result<Cid> Resolve(const Cid& root, std::string_view path);
  Result<std::vector<DirEntry>> ListDir(const Cid& dir);
  // Reads up to out.size() bytes at offset; returns bytes read (0 at or past EOF). All or
  // nothing: a short read would make the kernel believe the file ends early, so a range with
  // an unavailable block fails as a whole (kUnavailable).
  Result<size_t> Read(const Cid& file, uint64_t offset, std::span<uint8_t> out);
  // Leaf CIDs covering [offset, offset+len) in order, for prefetching.
  Result<std::vector<Cid>> LeavesFor(const Cid& file, uint64_t offset, uint64_t len);

  BlockGetter& blocks() { return *blocks_; }

 private:
  Status ReadRec(const Cid& cid, uint64_t node_off, uint64_t offset, std::span<uint8_t> out, int depth,
                 std::vector<Cid>* leaves_only);
  // The part of ReadRec after the node at `cid` is decoded.
  Status ReadNode(const Cid& cid, const PbNode& node, const UnixfsData& data, uint64_t node_off, uint64_t offset,
                  std::span<uint8_t> out, int depth, std::vector<Cid>* leaves_only);
  Result<DirEntry> HamtLookup(const Cid& shard, const PbNode& node, const UnixfsData& d,
                              std::string_view name, uint64_t hash, int level);
  Status HamtList(const PbNode& node, const UnixfsData& d, std::vector<DirEntry>& out, int depth);

  std::shared_ptr<BlockGetter> blocks_;
};

}  // namespace ipfskit
