// Multihash: <code varint><length varint><digest>. Hashing goes through OpenSSL EVP so the
// SHA-NI / AVX2 code paths are used.
#pragma once

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

namespace mh {
constexpr uint64_t kIdentity = 0x00;
constexpr uint64_t kSha2_256 = 0x12;
constexpr uint64_t kSha2_512 = 0x13;
constexpr uint64_t kSha3_256 = 0x16;
constexpr uint64_t kSha3_512 = 0x14;
}  // namespace mh

// Digest length for a supported hash function, or an error for an unknown one.
Result<size_t> MultihashDigestSize(uint64_t code);
const char* MultihashName(uint64_t code);
Result<uint64_t> ParseMultihashName(std::string_view name);  // "sha2-256", "identity", ...

// Returns the full multihash bytes of `data` under hash function `code`.
Result<Bytes> MultihashSum(uint64_t code, ByteView data);

struct MultihashView {
  uint64_t code;
  ByteView digest;
};
// The longest identity "digest" accepted (the block inlined in a CID). boxo refuses more than
// 128 bytes by default; we are laxer, but a CID must stay small enough to print and compare.
inline constexpr size_t kMaxIdentityDigestSize = 4096;

// Parses a multihash at the front of `in`, advancing it. Checks the length for known functions
// and the identity length against kMaxIdentityDigestSize.
Result<MultihashView> ReadMultihash(ByteView& in);

// True if `data` hashes to the multihash `mh` (whole multihash bytes).
bool MultihashVerify(ByteView mh, ByteView data);

}  // namespace ipfskit
