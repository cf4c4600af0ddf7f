// An in-memory block store (BlockGetter + BlockSink) for --only-hash runs, tests and scratch
// DAGs. Thread-safe.
#pragma once

#include <mutex>
#include <unordered_map>

#include "core/store/block_store.h"

namespace ipfskit {

class MemoryBlockStore : public BlockGetter, public BlockSink {
 public:
  Result<Block> Get(const Cid& cid) override {
    if (cid.is_identity()) return IdentityBlock(cid);
    std::lock_guard<std::mutex> lk(mu_);
    auto it = blocks_.find(cid);
    if (it == blocks_.end()) return MakeError(Errc::kNotFound, "block " + cid.ToString() + " not found");
    return it->second;
  }
  bool Has(const Cid& cid) override {
    std::lock_guard<std::mutex> lk(mu_);
    return cid.is_identity() || blocks_.count(cid) > 0;
  }
  Status Put(const Cid& cid, ByteView data, bool trusted = false) override {
    if (!trusted && !cid.Verifies(data))
      return MakeError(Errc::kHashMismatch, "block does not match " + cid.ToString());
    std::lock_guard<std::mutex> lk(mu_);
    blocks_.emplace(cid, Block::Owned(Bytes(data.begin(), data.end())));
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  size_t size() const {
    std::lock_guard<std::mutex> lk(mu_);
    return blocks_.size();
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<Cid, Block> blocks_;
};

}  // namespace ipfskit
