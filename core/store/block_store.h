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
// A block of a UnixFS file DAG (a leaf, or an inner node not yet fetched) and the file offset
// where the bytes it stands for begin.
struct LeafSpan {
  Cid cid;
  uint64_t offset = 0;
};

class BlockGetter {
 public:
  virtual ~BlockGetter() = default;
  virtual Result<Block> Get(const Cid& cid) = 0;
  // Cheap local check; network getters may answer false without asking.
  virtual bool Has(const Cid& cid) = 0;
  // Hint that these blocks will be read soon (prefetch). Default: nothing.
  virtual void Prefetch(std::span<const Cid> cids) {}
  // Hint that bytes [from, to] (to < 0: to the end) of the UnixFS file `file` will be read soon,
  // from the blocks `spans` (in file order; the first may begin before `from`). A getter that
  // can fetch such a range as one stream queues it and returns true; false means nothing was
  // done (the caller may Prefetch the blocks instead). Default: false.
  virtual bool PrefetchFileRange(const Cid& file, std::span<const LeafSpan> spans, uint64_t from, int64_t to) {
    return false;
  }
  // Hint that the whole DAG under directory `dir`, whose entries are `children`, will be walked
  // soon (cp -r, tar). As PrefetchFileRange: true when queued as one stream. Default: false.
  virtual bool PrefetchTree(const Cid& dir, std::span<const Cid> children) { return false; }
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
