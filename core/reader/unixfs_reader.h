// UnixFS reader: path resolution through basic and HAMT directories, ranged file reads that
// touch only the blocks covering the range, symlinks, raw and identity blocks, trickle DAGs.
// Thread-safe: its only mutable state is the BlockGetter and the DecodedNodeCache of decoded
// roots, inner nodes and directories, both thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/codec/dagpb.h"
#include "core/codec/unixfs.h"
#include "core/reader/decoded_node_cache.h"
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
  explicit UnixfsReader(std::shared_ptr<BlockGetter> blocks,
                        uint64_t decoded_cache_bytes = DecodedNodeCache::kDefaultMaxBytes)
      : blocks_(std::move(blocks)), decoded_(std::make_shared<DecodedNodeCache>(decoded_cache_bytes)) {}

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
  //
  // Hostile DAGs: a file node whose blocksizes do not add up to its filesize is kMalformed; a
  // child is read only within the extent its parent gives it (so a child that links the same
  // blocks again and again cannot make one read visit more than range-length blocks per level),
  // and one call visits at most kReadVisitBase + 2 × (bytes asked) blocks, else kMalformed.
  // A child that holds fewer bytes than its parent says is kMalformed too (the range would
  // have a hole).
  Result<size_t> Read(const Cid& file, uint64_t offset, std::span<uint8_t> out);
  // Read without the copy: the same bytes as views appended to `views` in file order, each
  // keeping its memory valid (a block's, which may be an LMDB read transaction, or a decoded
  // node's); together they are exactly the returned count. Hold them briefly: a view that
  // holds a read transaction keeps LMDB from reusing the pages it read.
  Result<size_t> ReadViews(const Cid& file, uint64_t offset, size_t size, std::vector<Block>& views);
  // Leaf CIDs covering [offset, offset+len) in order, for prefetching. Same bounds as Read.
  Result<std::vector<Cid>> LeavesFor(const Cid& file, uint64_t offset, uint64_t len);
  // The same with each block's file offset; an inner node that is not local (Has) is returned
  // in place of the leaves under it instead of being fetched, so this never waits on the
  // network for the range's bulk (a stream of the range brings the inner nodes too).
  Result<std::vector<LeafSpan>> LeafSpansFor(const Cid& file, uint64_t offset, uint64_t len);

  // The fixed part of the per-call block-visit budget of Read and LeavesFor.
  static constexpr uint64_t kReadVisitBase = 1024;

  BlockGetter& blocks() { return *blocks_; }
  DecodedNodeCache& decoded_cache() { return *decoded_; }

 private:
  using NodeRef = std::shared_ptr<const DecodedNode>;
  // One Read or LeavesFor call: the wanted range and what is left of its visit budget.
  struct ReadWalk {
    uint64_t offset;
    std::span<uint8_t> out;  // in leaves-only and views mode a span over no memory: only its size counts
    std::vector<LeafSpan>* leaves_only;
    uint64_t visits_left;
    bool stop_at_remote = false;     // leaves-only: a non-local inner node counts as a leaf
    std::vector<Block>* views = nullptr;  // views mode: bytes go here, not into out
    uint64_t filled = 0;             // file offset up to which bytes were handed out
  };
  // The decoded dag-pb node at `cid`, from the cache or decoded (and cached when it has links).
  Result<NodeRef> DecodedAt(const Cid& cid);
  Result<NodeRef> DecodeAndKeep(const Cid& cid, const Block& b);
  Result<size_t> ReadImpl(const Cid& file, uint64_t offset, size_t size, ReadWalk& w);
  // The node at `cid` stands for file bytes [node_off, node_end).
  Status ReadRec(ReadWalk& w, const Cid& cid, uint64_t node_off, uint64_t node_end, int depth);
  // The part of ReadRec after the node at `cid` is decoded.
  Status ReadNode(ReadWalk& w, const Cid& cid, const NodeRef& n, uint64_t node_off, uint64_t node_end, int depth);
  Result<DirEntry> HamtLookup(const Cid& shard, const PbNode& node, const UnixfsData& d,
                              std::string_view name, uint64_t hash, int level);
  // Each shard is listed once: a HAMT that links one shard twice is kMalformed, not a loop.
  Status HamtList(const PbNode& node, const UnixfsData& d, std::vector<DirEntry>& out, int depth,
                  std::unordered_set<Cid>& seen);

  std::shared_ptr<BlockGetter> blocks_;
  std::shared_ptr<DecodedNodeCache> decoded_;
};

}  // namespace ipfskit
