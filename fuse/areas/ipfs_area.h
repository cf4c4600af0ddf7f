// /ipfs: immutable UnixFS content by CID. Long kernel cache lifetimes, keep_cache, negative
// entries for names that cannot exist, inode numbers derived from the CID.
#pragma once

#include <memory>

#include "core/reader/unixfs_reader.h"
#include "core/store/repo.h"
#include "fuse/areas/static_nodes.h"
#include "fuse/stats.h"

namespace ipfskit::fs {

struct IpfsContext {
  std::shared_ptr<UnixfsReader> reader;
  std::shared_ptr<Repo> repo;  // for listing pinned roots
  MountStats* stats = nullptr;
  Owner owner;
  // How many following leaves a sequential reader asks the sources to prefetch.
  size_t prefetch_leaves = 16;
  // Once a sequential reader meets blocks that are not local, it asks for this many bytes ahead
  // as one CAR stream (BlockGetter::PrefetchFileRange), not block by block.
  uint64_t stream_window = uint64_t{32} << 20;
  // A directory listed whose entries are not local and whose DAG (the entries' cumulative
  // sizes) is at most this big is asked for as one dag-scope=all stream (cp -r, tar).
  uint64_t tree_stream_max = uint64_t{32} << 20;
};

constexpr double kImmutableTimeout = 365.0 * 24 * 3600;

uint64_t InoForCid(const Cid& cid);
// Builds the node for a CID (stats its root block). kUnavailable when no source has it.
Result<std::shared_ptr<Node>> MakeIpfsNode(std::shared_ptr<IpfsContext> ctx, const Cid& cid);

// The /ipfs directory: any CID can be looked up; listing shows the pinned roots.
class IpfsRootNode : public Node {
 public:
  explicit IpfsRootNode(std::shared_ptr<IpfsContext> ctx) : ctx_(std::move(ctx)) {}
  uint64_t ino() const override { return ino::kIpfs; }
  Result<struct stat> Getattr() override { return MakeStat(ino::kIpfs, S_IFDIR | 0555, 0, ctx_->owner); }
  double EntryTimeout() const override { return kImmutableTimeout; }
  // A name that does not parse as a CID will never exist.
  double NegativeTimeout() const override { return kImmutableTimeout; }
  Result<std::shared_ptr<Node>> Lookup(std::string_view name) override;
  Result<std::vector<DirItem>> List() override;
  void ResolveItems(std::span<DirItem> items) override;

 private:
  std::shared_ptr<IpfsContext> ctx_;
};

}  // namespace ipfskit::fs
