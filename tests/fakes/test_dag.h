// Test DAGs made by the real importer into memory, plus helpers to lay them out for servers.
#pragma once

#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>

#include "core/importer/importer.h"
#include "core/store/block_store.h"

namespace ipfskit::testing {

// Holds blocks in memory. Also a BlockGetter, as a stand-in local store.
class MemoryBlocks : public BlockSink, public BlockGetter {
 public:
  Status Put(const Cid& cid, ByteView data, bool trusted = false) override {
    if (!trusted && !cid.Verifies(data)) return MakeError(Errc::kHashMismatch, "bad block");
    std::lock_guard<std::mutex> lock(mu_);
    blocks_[cid] = Bytes(data.begin(), data.end());
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  Result<Block> Get(const Cid& cid) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(cid);
    if (it == blocks_.end()) return MakeError(Errc::kNotFound, "not in memory");
    return Block::Owned(it->second);
  }
  bool Has(const Cid& cid) override {
    std::lock_guard<std::mutex> lock(mu_);
    return blocks_.count(cid) > 0;
  }
  std::map<Cid, Bytes> blocks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return blocks_;
  }

 private:
  mutable std::mutex mu_;
  std::map<Cid, Bytes> blocks_;
};

inline Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// Imports `data` as a UnixFS file (CIDv1, raw leaves, small chunks so there are many blocks).
inline Cid ImportFileDag(ByteView data, MemoryBlocks* into, size_t chunk = 4096, size_t width = 16) {
  ImportOptions o;
  o.cid_version = 1;
  o.raw_leaves = true;
  o.chunk_size = chunk;
  o.width = width;
  auto r = ImportBytes(data, o, into);
  if (!r.ok()) throw std::runtime_error("import failed: " + r.error().message);
  return r->cid;
}

// Writes each block as <dir>/<cid text>.
inline void WriteBlockFiles(const std::string& dir, const std::map<Cid, Bytes>& blocks) {
  for (const auto& [cid, data] : blocks) {
    std::ofstream out(dir + "/" + cid.ToString(), std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }
}

}  // namespace ipfskit::testing
