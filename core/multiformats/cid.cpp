#include "core/multiformats/cid.h"

#include <cstring>

#include "core/multiformats/varint.h"

namespace ipfskit {

const char* CodecName(uint64_t c) {
  switch (c) {
    case codec::kRaw: return "raw";
    case codec::kDagPb: return "dag-pb";
    case codec::kDagCbor: return "dag-cbor";
    case codec::kLibp2pKey: return "libp2p-key";
    case codec::kDagJson: return "dag-json";
    case codec::kJson: return "json";
    case codec::kCbor: return "cbor";
    default: return "unknown";
  }
}

Result<uint64_t> ParseCodecName(std::string_view n) {
  if (n == "raw") return codec::kRaw;
  if (n == "dag-pb") return codec::kDagPb;
  if (n == "dag-cbor") return codec::kDagCbor;
  if (n == "libp2p-key") return codec::kLibp2pKey;
  if (n == "dag-json") return codec::kDagJson;
  if (n == "json") return codec::kJson;
  if (n == "cbor") return codec::kCbor;
  return MakeError(Errc::kInvalidArgument, "unknown codec '" + std::string(n) + "'");
}

static bool KnownCodec(uint64_t c) { return std::strcmp(CodecName(c), "unknown") != 0; }

Result<Cid> Cid::Make(uint64_t version, uint64_t codec, ByteView multihash) {
  ByteView in = multihash;
  IPFSKIT_ASSIGN_OR_RETURN(MultihashView mhv, ReadMultihash(in));
  if (!in.empty()) return MakeError(Errc::kMalformed, "trailing bytes after multihash");
  Cid c;
  c.version_ = version;
  c.codec_ = codec;
  c.mh_code_ = mhv.code;
  if (version == 0) {
    if (codec != codec::kDagPb || mhv.code != mh::kSha2_256 || mhv.digest.size() != 32)
      return MakeError(Errc::kInvalidArgument, "CIDv0 must be dag-pb with a sha2-256 multihash");
    c.mh_offset_ = 0;
  } else if (version == 1) {
    if (!KnownCodec(codec))
      return MakeError(Errc::kUnsupported, "unsupported codec " + std::to_string(codec));
    PutUvarint(c.bytes_, 1);
    PutUvarint(c.bytes_, codec);
    c.mh_offset_ = c.bytes_.size();
  } else {
    return MakeError(Errc::kInvalidArgument, "unsupported CID version " + std::to_string(version));
  }
  Append(c.bytes_, multihash);
  return c;
}

Result<Cid> Cid::Sum(uint64_t version, uint64_t codec, uint64_t mh_code, ByteView data) {
  IPFSKIT_ASSIGN_OR_RETURN(Bytes m, MultihashSum(mh_code, data));
  return Make(version, codec, m);
}

Result<Cid> Cid::ReadFrom(ByteView& in) {
  if (in.size() >= 2 && in[0] == 0x12 && in[1] == 0x20) {
    if (in.size() < 34) return MakeError(Errc::kTruncated, "truncated CIDv0");
    auto c = Make(0, codec::kDagPb, in.subspan(0, 34));
    if (c.ok()) in = in.subspan(34);
    return c;
  }
  ByteView p = in;
  IPFSKIT_ASSIGN_OR_RETURN(uint64_t version, ReadUvarint(p));
  if (version != 1) return MakeError(Errc::kMalformed, "unsupported CID version " + std::to_string(version));
  IPFSKIT_ASSIGN_OR_RETURN(uint64_t cdc, ReadUvarint(p));
  ByteView mh_start = p;
  IPFSKIT_ASSIGN_OR_RETURN(MultihashView mhv, ReadMultihash(p));
  (void)mhv;
  size_t mh_len = mh_start.size() - p.size();
  auto c = Make(1, cdc, mh_start.subspan(0, mh_len));
  if (c.ok()) in = p;
  return c;
}

Result<Cid> Cid::FromBytes(ByteView bytes) {
  ByteView in = bytes;
  IPFSKIT_ASSIGN_OR_RETURN(Cid c, ReadFrom(in));
  if (!in.empty()) return MakeError(Errc::kMalformed, "trailing bytes after CID");
  return c;
}

Result<Cid> Cid::Parse(std::string_view text) {
  if (text.empty()) return MakeError(Errc::kInvalidArgument, "empty CID");
  if (text.size() > kMaxRadixTextSize)  // longer than any CID within kMaxIdentityDigestSize
    return MakeError(Errc::kInvalidArgument, "invalid CID: " + std::to_string(text.size()) + " characters is too long");
  if (text.size() == 46 && text[0] == 'Q' && text[1] == 'm') {
    auto raw = DecodeBase(Multibase::kBase58Btc, text);
    if (!raw.ok()) return MakeError(Errc::kInvalidArgument, "invalid CID '" + std::string(text) + "': " + raw.error().message);
    auto c = FromBytes(*raw);
    if (!c.ok()) return MakeError(Errc::kInvalidArgument, "invalid CID '" + std::string(text) + "': " + c.error().message);
    return c;
  }
  auto raw = MultibaseDecode(text);
  if (!raw.ok()) return MakeError(Errc::kInvalidArgument, "invalid CID '" + std::string(text) + "': " + raw.error().message);
  auto c = FromBytes(*raw);
  if (!c.ok()) return MakeError(Errc::kInvalidArgument, "invalid CID '" + std::string(text) + "': " + c.error().message);
  if (c->version() == 0) return MakeError(Errc::kInvalidArgument, "invalid CID '" + std::string(text) + "': CIDv0 must not carry a multibase prefix");
  return c;
}

ByteView Cid::digest() const {
  ByteView in = multihash();
  auto v = ReadMultihash(in);
  return v.ok() ? v->digest : ByteView();
}

std::string Cid::ToString() const {
  if (version_ == 0) return EncodeBase(Multibase::kBase58Btc, bytes_);
  if (codec_ == codec::kLibp2pKey) return MultibaseEncode(Multibase::kBase36, bytes_);
  return MultibaseEncode(Multibase::kBase32, bytes_);
}

std::string Cid::ToString(Multibase base) const {
  if (version_ == 0) return EncodeBase(Multibase::kBase58Btc, bytes_);
  return MultibaseEncode(base, bytes_);
}

Cid Cid::ToV1() const {
  if (version_ == 1) return *this;
  return *Make(1, codec_, multihash());
}

Result<Cid> Cid::ToV0() const {
  if (version_ == 0) return *this;
  return Make(0, codec_, multihash());
}

size_t CidHash::operator()(const Cid& c) const {
  // The tail of the digest is already uniformly distributed for cryptographic hashes.
  const Bytes& b = c.bytes();
  size_t h = 1469598103934665603ull;
  size_t start = b.size() > 16 ? b.size() - 16 : 0;
  for (size_t i = start; i < b.size(); ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h ^ b.size();
}

}  // namespace ipfskit
