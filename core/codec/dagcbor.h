// dag-cbor helpers on top of libcbor: link extraction (tag 42) and a RAII item handle.
#pragma once

#include <cbor.h>

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

// Parses exactly one CBOR item; trailing bytes or malformed input are kMalformed.
Result<CborItem> CborParse(ByteView data);
// Serialises an item.
Bytes CborSerialize(const cbor_item_t* item);
// Tag-42 CID item (bytes 0x00 ‖ cid) as dag-cbor writes links, and the reverse.
CborItem CborCidLink(const Cid& cid);
Result<Cid> CborReadCidLink(const cbor_item_t* item);

// Every CID linked (tag 42) anywhere inside a dag-cbor block.
Result<std::vector<Cid>> DagCborLinks(ByteView data);

}  // namespace ipfskit
