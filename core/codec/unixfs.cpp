#include "core/codec/unixfs.h"

#include "core/codec/protobuf.h"

namespace ipfskit {

uint64_t UnixfsData::FileSize() const {
  if (filesize) return *filesize;
  return data ? data->size() : 0;
}

Bytes EncodeUnixfs(const UnixfsData& d) {
  Bytes out;
  pb::PutVarintField(out, 1, static_cast<uint64_t>(d.type));
  if (d.data) pb::PutBytesField(out, 2, *d.data);
  if (d.filesize) pb::PutVarintField(out, 3, *d.filesize);
  for (uint64_t b : d.blocksizes) pb::PutVarintField(out, 4, b);
  if (d.hash_type) pb::PutVarintField(out, 5, *d.hash_type);
  if (d.fanout) pb::PutVarintField(out, 6, *d.fanout);
  if (d.mode) pb::PutVarintField(out, 7, *d.mode);
  if (d.mtime) {
    Bytes m;
    pb::PutVarintField(m, 1, static_cast<uint64_t>(d.mtime->seconds));
    if (d.mtime->nanos > 0) {
      pb::PutTag(m, 2, pb::kFixed32);
      uint32_t n = d.mtime->nanos;
      for (int i = 0; i < 4; ++i) m.push_back((n >> (8 * i)) & 0xff);
    }
    pb::PutBytesField(out, 8, m);
  }
  return out;
}

namespace {
Status ExpectType(const pb::Field& f, pb::WireType t, const char* name) {
  if (f.type != t) return MakeError(Errc::kMalformed, std::string("UnixFS ") + name + " has wrong wire type");
  return Status::Ok();
}
}  // namespace

Result<UnixfsData> DecodeUnixfs(ByteView in) {
  UnixfsData d;
  bool have_type = false;
  while (!in.empty()) {
    IPFSKIT_ASSIGN_OR_RETURN(pb::Field f, pb::ReadField(in));
    switch (f.number) {
      case 1:
        IPFSKIT_TRY_STATUS(ExpectType(f, pb::kVarint, "Type"));
        if (f.varint > 5) return MakeError(Errc::kMalformed, "unknown UnixFS type " + std::to_string(f.varint));
        d.type = static_cast<UnixfsType>(f.varint);
        have_type = true;
        break;
      case 2:
        IPFSKIT_TRY_STATUS(ExpectType(f, pb::kLen, "Data"));
        d.data = Bytes(f.bytes.begin(), f.bytes.end());
        break;
      case 3:
        IPFSKIT_TRY_STATUS(ExpectType(f, pb::kVarint, "filesize"));
        d.filesize = f.varint;
        break;
      case 4:
        if (f.type == pb::kVarint) {
          d.blocksizes.push_back(f.varint);
        } else if (f.type == pb::kLen) {  // packed encoding, accepted on read
          ByteView p = f.bytes;
          while (!p.empty()) {
            IPFSKIT_ASSIGN_OR_RETURN(uint64_t v, ReadUvarint(p));
            d.blocksizes.push_back(v);
          }
        } else {
          return MakeError(Errc::kMalformed, "UnixFS blocksizes has wrong wire type");
        }
        break;
      case 5:
        IPFSKIT_TRY_STATUS(ExpectType(f, pb::kVarint, "hashType"));
        d.hash_type = f.varint;
        break;
      case 6:
        IPFSKIT_TRY_STATUS(ExpectType(f, pb::kVarint, "fanout"));
        d.fanout = f.varint;
        break;
      case 7:
        IPFSKIT_TRY_STATUS(ExpectType(f, pb::kVarint, "mode"));
        d.mode = static_cast<uint32_t>(f.varint & 07777);
        break;
      case 8: {
        IPFSKIT_TRY_STATUS(ExpectType(f, pb::kLen, "mtime"));
        UnixfsMtime m;
        ByteView p = f.bytes;
        while (!p.empty()) {
          IPFSKIT_ASSIGN_OR_RETURN(pb::Field mf, pb::ReadField(p));
          if (mf.number == 1 && mf.type == pb::kVarint) m.seconds = static_cast<int64_t>(mf.varint);
          else if (mf.number == 2 && mf.type == pb::kFixed32) m.nanos = static_cast<uint32_t>(mf.varint);
          else return MakeError(Errc::kMalformed, "malformed UnixFS mtime");
        }
        if (m.nanos >= 1000000000u) return MakeError(Errc::kMalformed, "UnixFS mtime nanos out of range");
        d.mtime = m;
        break;
      }
      default:
        return MakeError(Errc::kMalformed, "UnixFS Data has unknown field " + std::to_string(f.number));
    }
  }
  if (!have_type) return MakeError(Errc::kMalformed, "UnixFS Data without Type");
  if (d.type == UnixfsType::kHamtShard) {
    // Readers index a shard with log2(fanout) bits of the hash per level: a fanout of 1 would
    // mean zero bits (and a 64-bit shift), one not a power of two no whole number of bits.
    if (!d.fanout) return MakeError(Errc::kMalformed, "HAMT shard without fanout");
    if (*d.fanout < 2 || (*d.fanout & (*d.fanout - 1)) != 0 || *d.fanout > 1024)
      return MakeError(Errc::kMalformed, "HAMT shard with invalid fanout " + std::to_string(*d.fanout) +
                                             " (must be a power of two from 2 to 1024)");
    if (d.hash_type && *d.hash_type != 0x22)
      return MakeError(Errc::kUnsupported, "HAMT shard with unsupported hash type");
  }
  return d;
}

}  // namespace ipfskit
