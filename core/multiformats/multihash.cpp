#include "core/multiformats/multihash.h"

#include <openssl/evp.h>

#include <cstring>

#include "core/multiformats/varint.h"

namespace ipfskit {

Result<size_t> MultihashDigestSize(uint64_t code) {
  switch (code) {
    case mh::kSha2_256: return size_t{32};
    case mh::kSha2_512: return size_t{64};
    case mh::kSha3_256: return size_t{32};
    case mh::kSha3_512: return size_t{64};
    default: return MakeError(Errc::kUnsupported, "unsupported multihash code " + std::to_string(code));
  }
}

const char* MultihashName(uint64_t code) {
  switch (code) {
    case mh::kIdentity: return "identity";
    case mh::kSha2_256: return "sha2-256";
    case mh::kSha2_512: return "sha2-512";
    case mh::kSha3_256: return "sha3-256";
    case mh::kSha3_512: return "sha3-512";
    default: return "unknown";
  }
}

Result<uint64_t> ParseMultihashName(std::string_view name) {
  if (name == "sha2-256") return mh::kSha2_256;
  if (name == "sha2-512") return mh::kSha2_512;
  if (name == "sha3-256") return mh::kSha3_256;
  if (name == "sha3-512") return mh::kSha3_512;
  if (name == "identity") return mh::kIdentity;
  return MakeError(Errc::kInvalidArgument, "unknown hash function '" + std::string(name) + "'");
}

namespace {
const EVP_MD* EvpFor(uint64_t code) {
  switch (code) {
    case mh::kSha2_256: return EVP_sha256();
    case mh::kSha2_512: return EVP_sha512();
    case mh::kSha3_256: return EVP_sha3_256();
    case mh::kSha3_512: return EVP_sha3_512();
    default: return nullptr;
  }
}
}  // namespace

Result<Bytes> MultihashSum(uint64_t code, ByteView data) {
  Bytes out;
  PutUvarint(out, code);
  if (code == mh::kIdentity) {
    PutUvarint(out, data.size());
    Append(out, data);
    return out;
  }
  const EVP_MD* md = EvpFor(code);
  if (!md) return MakeError(Errc::kUnsupported, "unsupported multihash code " + std::to_string(code));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr) != 1)
    return MakeError(Errc::kInternal, "EVP_Digest failed");
  PutUvarint(out, len);
  out.insert(out.end(), digest, digest + len);
  return out;
}

Result<MultihashView> ReadMultihash(ByteView& in) {
  IPFSKIT_ASSIGN_OR_RETURN(uint64_t code, ReadUvarint(in));
  IPFSKIT_ASSIGN_OR_RETURN(uint64_t len, ReadUvarint(in));
  if (len > in.size()) return MakeError(Errc::kTruncated, "multihash digest truncated");
  if (code == mh::kIdentity && len > kMaxIdentityDigestSize)
    return MakeError(Errc::kMalformed, "identity multihash of " + std::to_string(len) +
                                           " bytes is over the " +
                                           std::to_string(kMaxIdentityDigestSize) + "-byte limit");
  if (code != mh::kIdentity) {
    auto want = MultihashDigestSize(code);
    if (!want.ok()) return want.error();
    if (*want != len)
      return MakeError(Errc::kMalformed, std::string("wrong digest length for ") + MultihashName(code));
  }
  MultihashView v{code, in.subspan(0, len)};
  in = in.subspan(len);
  return v;
}

bool MultihashVerify(ByteView mhbytes, ByteView data) {
  ByteView in = mhbytes;
  auto v = ReadMultihash(in);
  if (!v.ok() || !in.empty()) return false;
  if (v->code == mh::kIdentity)
    return v->digest.size() == data.size() &&
           (data.empty() || std::memcmp(v->digest.data(), data.data(), data.size()) == 0);
  auto sum = MultihashSum(v->code, data);
  return sum.ok() && sum->size() == mhbytes.size() &&
         std::memcmp(sum->data(), mhbytes.data(), mhbytes.size()) == 0;
}

}  // namespace ipfskit
