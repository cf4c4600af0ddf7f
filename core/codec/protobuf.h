// The few protobuf wire-format pieces dag-pb and UnixFS need (varint and length-delimited
// fields, fixed32). Hand-written because the messages are tiny and byte-exact output matters.
#pragma once

#include "core/multiformats/varint.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit::pb {

enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

inline void PutTag(Bytes& out, uint32_t field, WireType wt) { PutUvarint(out, (field << 3) | wt); }
inline void PutVarintField(Bytes& out, uint32_t field, uint64_t v) {
  PutTag(out, field, kVarint);
  PutUvarint(out, v);
}
inline void PutBytesField(Bytes& out, uint32_t field, ByteView b) {
  PutTag(out, field, kLen);
  PutUvarint(out, b.size());
  Append(out, b);
}
inline size_t BytesFieldSize(uint32_t field, size_t len) {
  return UvarintSize(field << 3) + UvarintSize(len) + len;
}

struct Field {
  uint32_t number;
  WireType type;
  uint64_t varint = 0;  // kVarint, kFixed32, kFixed64
  ByteView bytes;       // kLen
};

// Reads the next field from `in`, advancing it. Rejects wire types 3/4 (groups) and truncation.
Result<Field> ReadField(ByteView& in);

}  // namespace ipfskit::pb
