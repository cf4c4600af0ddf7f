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

 private:
  std::shared_ptr<IpfsContext> ctx_;
};

}  // namespace ipfskit::fs
