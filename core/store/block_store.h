// Block access contracts. Implementations are thread-safe unless they say otherwise.
#pragma once

#include <memory>

#include "core/multiformats/cid.h"
#include "core/store/block.h"
#include "core/util/result.h"

namespace ipfskit {

// Anything blocks can be read from: the local repo, the cache, the network, or a chain of them.
// Get returns Errc::kNotFound when this getter does not have the block; other errors mean the
// attempt failed (timeout, hash mismatch, ...). Identity CIDs are answered from the CID itself.
// Every block returned has been checked against its CID's multihash.
class BlockGetter {
 public:
  virtual ~BlockGetter() = default;
  virtual Result<Block> Get(const Cid& cid) = 0;
  // Cheap local check; network getters may answer false without asking.
  virtual bool Has(const Cid& cid) = 0;
  // Hint that these blocks will be read soon (prefetch). Default: nothing.
  virtual void Prefetch(std::span<const Cid> cids) {}
};

// Where the importer writes. Put may buffer; Flush makes everything durable.
// Implementations must refuse (kHashMismatch) a block whose bytes do not match its CID unless
// the caller says it just computed the CID (trusted = true).
class BlockSink {
 public:
  virtual ~BlockSink() = default;
  virtual Status Put(const Cid& cid, ByteView data, bool trusted = false) = 0;
  virtual Status Flush() = 0;
};

// Returns the block for an identity CID (its digest is the data), or nullopt-like kNotFound.
Result<Block> IdentityBlock(const Cid& cid);

}  // namespace ipfskit
