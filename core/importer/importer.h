// UnixFS importer producing byte-identical DAGs to Kubo's `ipfs add` for the same options.
//
// Files are chunked with a fixed-size splitter; leaves are hashed in parallel on oneTBB while
// blocks are written in order through a BlockSink (batched LMDB transactions), so memory stays
// bounded by the pipeline depth, not the file size. The layout (balanced or trickle) is then
// built over the list of leaf CIDs.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/codec/dagpb.h"
#include "core/codec/unixfs.h"
#include "core/importer/options.h"
#include "core/store/block_store.h"

namespace ipfskit {

// A node written to the DAG: its CID, cumulative size (Tsize: block plus all descendants) and
// for files the number of file bytes.
struct DagEntry {
  Cid cid;
  uint64_t tsize = 0;
  uint64_t filesize = 0;
};

struct DirEntryIn {
  std::string name;
  DagEntry entry;
};

// Encodes nodes, assigns CIDs (version, inline identity) and writes blocks to the sink.
// The sink may be null (--only-hash). Not thread-safe.
class DagWriter {
 public:
  DagWriter(const ImportOptions& opts, BlockSink* sink) : opts_(opts), sink_(sink) {}
  // CID for a block under the options (inline identity when small enough).
  Result<Cid> CidFor(uint64_t codec, ByteView block) const;
  // Writes a dag-pb node; tsize = block length + Σ link tsizes.
  Result<DagEntry> PutPbNode(const PbNode& node, uint64_t filesize);
  // Writes a block whose CID is already known.
  Status PutBlock(const Cid& cid, ByteView block);
  const ImportOptions& options() const { return opts_; }

 private:
  const ImportOptions& opts_;
  BlockSink* sink_;
};

// The non-raw leaf the importer writes for `chunk`: a dag-pb UnixFS node of type File
// (balanced) or Raw (trickle, as Kubo's trickle builder does), with optional metadata.
UnixfsType LeafNodeType(const ImportOptions& o);
Bytes EncodeLeafNode(ByteView chunk, UnixfsType type, std::optional<uint32_t> mode = std::nullopt,
                     std::optional<UnixfsMtime> mtime = std::nullopt);

struct ImportProgress {
  uint64_t bytes = 0;
};
using ProgressFn = std::function<void(uint64_t bytes_done)>;

// Imports one file's bytes from `fd` (a regular file, pipe or stdin).
// `meta_mode`/`meta_mtime` are stored on the root node when the options ask for them.
Result<DagEntry> ImportFile(int fd, const ImportOptions& opts, BlockSink* sink,
                            const ProgressFn& progress = {},
                            std::optional<uint32_t> meta_mode = std::nullopt,
                            std::optional<UnixfsMtime> meta_mtime = std::nullopt);
// Imports bytes already in memory (used by MFS and tests).
Result<DagEntry> ImportBytes(ByteView data, const ImportOptions& opts, BlockSink* sink);

// Builds the file DAG over already-written leaves (exposed for MFS).
Result<DagEntry> BuildFileLayout(const std::vector<DagEntry>& leaves, DagWriter& w,
                                 std::optional<uint32_t> mode = std::nullopt,
                                 std::optional<UnixfsMtime> mtime = std::nullopt);

// Builds a directory (basic, or a HAMT when the size estimate passes the threshold).
Result<DagEntry> BuildDirectory(std::vector<DirEntryIn> entries, DagWriter& w,
                                std::optional<uint32_t> mode = std::nullopt,
                                std::optional<UnixfsMtime> mtime = std::nullopt);
// Always a HAMT shard (tests and forced sharding).
Result<DagEntry> BuildHamt(std::vector<DirEntryIn> entries, DagWriter& w);

Result<DagEntry> BuildSymlink(std::string_view target, DagWriter& w);

// One line of `ipfs add` output.
struct AddedItem {
  std::string path;  // relative name as Kubo prints it
  DagEntry entry;
  bool is_dir = false;
};
using AddedFn = std::function<void(const AddedItem&)>;

struct AddPathOptions {
  bool recursive = false;
  bool wrap = false;  // -w: wrap in a directory
};

// `ipfs add [-r] [-w] PATH`: files are reported as they finish, then directories in post-order,
// as Kubo prints them. Returns the root (the wrapping directory with -w).
Result<DagEntry> AddPath(const std::filesystem::path& path, const ImportOptions& opts,
                         const AddPathOptions& popts, BlockSink* sink, const AddedFn& on_added,
                         const ProgressFn& progress = {});

}  // namespace ipfskit
