// CID v0 and v1. A Cid holds its binary form; equality, ordering and hashing use those bytes,
// so two Cids for the same content under different versions or codecs are different keys.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/multiformats/multibase.h"
#include "core/multiformats/multihash.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

namespace codec {
constexpr uint64_t kRaw = 0x55;
constexpr uint64_t kDagPb = 0x70;
constexpr uint64_t kDagCbor = 0x71;
constexpr uint64_t kLibp2pKey = 0x72;
constexpr uint64_t kDagJson = 0x0129;
constexpr uint64_t kJson = 0x0200;
constexpr uint64_t kCbor = 0x51;
}  // namespace codec

const char* CodecName(uint64_t codec);
Result<uint64_t> ParseCodecName(std::string_view name);

class Cid {
 public:
  Cid() = default;

  // Builds a CID from its parts. v0 requires dag-pb and a sha2-256 multihash.
  static Result<Cid> Make(uint64_t version, uint64_t codec, ByteView multihash);
  // Hashes `data` and builds the CID for it.
  static Result<Cid> Sum(uint64_t version, uint64_t codec, uint64_t mh_code, ByteView data);
  // Strict parse of the binary form; the whole input must be consumed.
  static Result<Cid> FromBytes(ByteView bytes);
  // Parses a CID at the front of `in` (as in a CAR section) and advances `in`.
  static Result<Cid> ReadFrom(ByteView& in);
  // Parses text: v0 base58 "Qm…" or a multibase v1 string.
  static Result<Cid> Parse(std::string_view text);

  bool valid() const { return !bytes_.empty(); }
  uint64_t version() const { return version_; }
  uint64_t codec() const { return codec_; }
  uint64_t mh_code() const { return mh_code_; }
  const Bytes& bytes() const { return bytes_; }
  ByteView multihash() const { return ByteView(bytes_).subspan(mh_offset_); }
  ByteView digest() const;
  bool is_identity() const { return mh_code_ == mh::kIdentity; }

  // v0: base58btc without prefix. v1: base32 (base36 for libp2p-key), unless `base` is given.
  std::string ToString() const;
  std::string ToString(Multibase base) const;
  Cid ToV1() const;
  Result<Cid> ToV0() const;

  // True if `data` hashes to this CID's multihash.
  bool Verifies(ByteView data) const { return MultihashVerify(multihash(), data); }

  friend bool operator==(const Cid& a, const Cid& b) { return a.bytes_ == b.bytes_; }
  friend bool operator!=(const Cid& a, const Cid& b) { return !(a == b); }
  friend bool operator<(const Cid& a, const Cid& b) { return a.bytes_ < b.bytes_; }

 private:
  Bytes bytes_;
  uint64_t version_ = 0;
  uint64_t codec_ = 0;
  uint64_t mh_code_ = 0;
  size_t mh_offset_ = 0;
};

struct CidHash {
  size_t operator()(const Cid& c) const;
};

}  // namespace ipfskit

template <>
struct std::hash<ipfskit::Cid> {
  size_t operator()(const ipfskit::Cid& c) const { return ipfskit::CidHash{}(c); }
};
