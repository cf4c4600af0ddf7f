// Multibase text encodings: base58btc (z), base32 (b/B), base36 (k/K), base16 (f/F),
// base64 (m) and base64url (u), all without padding.
#pragma once

#include <string>
#include <string_view>

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

enum class Multibase : char {
  kBase58Btc = 'z',
  kBase32 = 'b',
  kBase32Upper = 'B',
  kBase36 = 'k',
  kBase36Upper = 'K',
  kBase16 = 'f',
  kBase16Upper = 'F',
  kBase64 = 'm',
  kBase64Url = 'u',
};

// base58btc and base36 are radix conversions whose cost grows with the square of the length
// (big-number arithmetic in 32-bit limbs); text longer than this is refused when decoding.
// Everything we encode in them (CIDs, keys) is bounded far below (see kMaxIdentityDigestSize).
inline constexpr size_t kMaxRadixTextSize = 16384;

// Encodes without the multibase prefix character.
std::string EncodeBase(Multibase base, ByteView data);
Result<Bytes> DecodeBase(Multibase base, std::string_view text);

// With the prefix character.
std::string MultibaseEncode(Multibase base, ByteView data);
Result<Bytes> MultibaseDecode(std::string_view text, Multibase* base_out = nullptr);
Result<Multibase> ParseMultibaseName(std::string_view name);  // "base32", "base58btc", ...

}  // namespace ipfskit
