// dag-cbor helpers on top of libcbor: link extraction (tag 42) and a RAII item handle.
#pragma once

#include <cbor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/multiformats/cid.h"
#include "core/util/result.h"

namespace ipfskit {

struct CborItemDeleter {
  void operator()(cbor_item_t* item) const {
    if (item) cbor_decref(&item);
  }
};
using CborItem = std::unique_ptr<cbor_item_t, CborItemDeleter>;

// What CborParse accepts. libcbor's cbor_load allocates a definite array or map for its
// declared count before reading one element, so CborParse first walks the input with the
// streaming decoder (which allocates nothing) and refuses any count that the bytes left cannot
// hold, nesting deeper than max_depth (cbor_decref and our walkers recurse) and more than
// max_items items in all.
struct CborLimits {
  size_t max_depth = 256;
  size_t max_items = SIZE_MAX;
};

// Parses exactly one CBOR item; trailing bytes, malformed input or input over the limits are
// kMalformed. Memory use is then linear in data.size().
Result<CborItem> CborParse(ByteView data, const CborLimits& limits = {});
// Serialises an item.
Bytes CborSerialize(const cbor_item_t* item);
// Tag-42 CID item (bytes 0x00 ‖ cid) as dag-cbor writes links, and the reverse.
CborItem CborCidLink(const Cid& cid);
Result<Cid> CborReadCidLink(const cbor_item_t* item);

// Every CID linked (tag 42) anywhere inside a dag-cbor block.
Result<std::vector<Cid>> DagCborLinks(ByteView data);

}  // namespace ipfskit
