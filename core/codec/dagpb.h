// dag-pb (PBNode/PBLink), encoded byte-for-byte as Kubo (boxo merkledag + go-codec-dagpb) writes
// it: each link as Hash, Name, Tsize, links before Data. Decoding is strict: unknown fields,
// wrong wire types, duplicate fields and invalid link CIDs are errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/multiformats/cid.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

struct PbLink {
  Cid hash;
  std::optional<std::string> name;
  std::optional<uint64_t> tsize;
};

struct PbNode {
  std::vector<PbLink> links;
  std::optional<Bytes> data;
};

Bytes EncodePbNode(const PbNode& node);
Result<PbNode> DecodePbNode(ByteView block);
// Encoded size of one link inside a PBNode (tag + length + body): the HAMT "block" estimate.
size_t PbLinkEncodedSize(const PbLink& link);

}  // namespace ipfskit
