// Unsigned LEB128 varints as used by multiformats (at most 9 bytes, minimal encoding).
#pragma once

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

void PutUvarint(Bytes& out, uint64_t v);
size_t UvarintSize(uint64_t v);
// Reads a varint from the front of `in`; returns the value and advances `in`.
Result<uint64_t> ReadUvarint(ByteView& in);

}  // namespace ipfskit
