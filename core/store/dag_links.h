// The links a block holds, for walking DAGs (GC marking, completeness checks, CAR export).
// dag-pb links, dag-cbor tag-42 links and dag-json links ({"/": "<cid>"}), as Kubo follows them.
#pragma once

#include <vector>

#include "core/multiformats/cid.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

// Children of a block in the order they appear. Raw and unknown codecs have none; a block
// that does not decode under its codec is kMalformed.
Result<std::vector<Cid>> DagLinks(const Cid& cid, ByteView data);

}  // namespace ipfskit
