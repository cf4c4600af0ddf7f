#include "core/codec/protobuf.h"

namespace ipfskit::pb {

Result<Field> ReadField(ByteView& in) {
  IPFSKIT_ASSIGN_OR_RETURN(uint64_t key, ReadUvarint(in));
  Field f;
  f.number = static_cast<uint32_t>(key >> 3);
  if (f.number == 0 || (key >> 3) > 0x1fffffff) return MakeError(Errc::kMalformed, "invalid protobuf field number");
  switch (key & 7) {
    case kVarint: {
      f.type = kVarint;
      IPFSKIT_ASSIGN_OR_RETURN(f.varint, ReadUvarint(in));
      return f;
    }
    case kLen: {
      f.type = kLen;
      IPFSKIT_ASSIGN_OR_RETURN(uint64_t len, ReadUvarint(in));
      if (len > in.size()) return MakeError(Errc::kTruncated, "protobuf field truncated");
      f.bytes = in.subspan(0, len);
      in = in.subspan(len);
      return f;
    }
    case kFixed32: {
      f.type = kFixed32;
      if (in.size() < 4) return MakeError(Errc::kTruncated, "protobuf fixed32 truncated");
      f.varint = uint64_t(in[0]) | uint64_t(in[1]) << 8 | uint64_t(in[2]) << 16 | uint64_t(in[3]) << 24;
      in = in.subspan(4);
      return f;
    }
    case kFixed64: {
      f.type = kFixed64;
      if (in.size() < 8) return MakeError(Errc::kTruncated, "protobuf fixed64 truncated");
      f.varint = 0;
      for (int i = 7; i >= 0; --i) f.varint = (f.varint << 8) | in[i];
      in = in.subspan(8);
      return f;
    }
    default:
      return MakeError(Errc::kMalformed, "unsupported protobuf wire type");
  }
}

}  // namespace ipfskit::pb
