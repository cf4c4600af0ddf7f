#include "core/multiformats/multibase.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace ipfskit {
namespace {

constexpr std::string_view kB58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view kB36 = "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kB36U = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kB32 = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view kB32U = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kB16 = "0123456789abcdef";
constexpr std::string_view kB16U = "0123456789ABCDEF";
constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kB64U = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Radix conversion for alphabets whose size is not a power of two (leading zero bytes map to
// leading zero digits, as in Bitcoin's base58). The big number is kept in 32-bit limbs (base
// radix^k when encoding, 2^32 when decoding) and fed several bytes or digits per pass, which is
// some 20 times less work than digit-by-digit; it stays quadratic, hence kMaxRadixTextSize.
struct RadixLimb {
  uint32_t base;  // radix^digits, the largest power that fits in 32 bits
  int digits;
};

RadixLimb LimbFor(uint32_t radix) {
  uint64_t b = radix;
  int d = 1;
  while (b * radix <= 0xffffffffull) {
    b *= radix;
    ++d;
  }
  return {static_cast<uint32_t>(b), d};
}

std::string EncodeRadix(ByteView data, std::string_view alpha) {
  const uint32_t radix = alpha.size();
  const RadixLimb limb = LimbFor(radix);
  size_t zeros = 0;
  while (zeros < data.size() && data[zeros] == 0) ++zeros;
  std::vector<uint32_t> limbs;  // little-endian, base limb.base
  limbs.reserve(data.size() / 3 + 1);
  for (size_t i = zeros; i < data.size();) {
    const size_t take = std::min<size_t>(3, data.size() - i);  // keeps l * 2^24 + carry < 2^64
    uint64_t carry = 0;
    for (size_t t = 0; t < take; ++t) carry = (carry << 8) | data[i + t];
    i += take;
    const uint64_t mul = uint64_t{1} << (8 * take);
    for (auto& l : limbs) {
      uint64_t v = uint64_t{l} * mul + carry;
      l = static_cast<uint32_t>(v % limb.base);
      carry = v / limb.base;
    }
    while (carry) {
      limbs.push_back(static_cast<uint32_t>(carry % limb.base));
      carry /= limb.base;
    }
  }
  std::string digits;  // little-endian; every limb but the top one is exactly limb.digits long
  for (size_t k = 0; k < limbs.size(); ++k) {
    uint32_t l = limbs[k];
    const bool top = k + 1 == limbs.size();
    for (int d = 0; d < limb.digits && (!top || l); ++d) {
      digits.push_back(alpha[l % radix]);
      l /= radix;
    }
  }
  std::string out(zeros, alpha[0]);
  out.append(digits.rbegin(), digits.rend());
  return out;
}

Result<Bytes> DecodeRadix(std::string_view text, std::string_view alpha) {
  if (text.size() > kMaxRadixTextSize)
    return MakeError(Errc::kInvalidArgument, "text of " + std::to_string(text.size()) +
                                                 " characters is longer than the " +
                                                 std::to_string(kMaxRadixTextSize) + " allowed");
  std::array<int, 256> map;
  map.fill(-1);
  for (size_t i = 0; i < alpha.size(); ++i) map[static_cast<uint8_t>(alpha[i])] = i;
  const uint32_t radix = alpha.size();
  const RadixLimb limb = LimbFor(radix);
  size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == alpha[0]) ++zeros;
  std::vector<uint32_t> limbs;  // little-endian, base 2^32
  for (size_t i = zeros; i < text.size();) {
    const size_t take = std::min<size_t>(limb.digits, text.size() - i);
    uint64_t carry = 0, mul = 1;
    for (size_t t = 0; t < take; ++t) {
      int v = map[static_cast<uint8_t>(text[i + t])];
      if (v < 0) return MakeError(Errc::kInvalidArgument, std::string("invalid character '") + text[i + t] + "'");
      carry = carry * radix + static_cast<uint32_t>(v);
      mul *= radix;
    }
    i += take;
    for (auto& l : limbs) {  // l * mul + carry < 2^64 since mul, carry < 2^32
      uint64_t v = uint64_t{l} * mul + carry;
      l = static_cast<uint32_t>(v);
      carry = v >> 32;
    }
    if (carry) limbs.push_back(static_cast<uint32_t>(carry));
  }
  Bytes out(zeros, 0);
  bool leading = true;
  for (auto it = limbs.rbegin(); it != limbs.rend(); ++it)
    for (int shift = 24; shift >= 0; shift -= 8) {
      uint8_t b = static_cast<uint8_t>(*it >> shift);
      if (leading && b == 0) continue;
      leading = false;
      out.push_back(b);
    }
  return out;
}

std::string EncodeBits(ByteView data, std::string_view alpha, int bits) {
  std::string out;
  uint32_t buf = 0;
  int n = 0;
  for (uint8_t b : data) {
    buf = (buf << 8) | b;
    n += 8;
    while (n >= bits) {
      n -= bits;
      out.push_back(alpha[(buf >> n) & ((1u << bits) - 1)]);
    }
  }
  if (n > 0) out.push_back(alpha[(buf << (bits - n)) & ((1u << bits) - 1)]);
  return out;
}

Result<Bytes> DecodeBits(std::string_view text, std::string_view alpha, int bits) {
  std::array<int, 256> map;
  map.fill(-1);
  for (size_t i = 0; i < alpha.size(); ++i) map[static_cast<uint8_t>(alpha[i])] = i;
  Bytes out;
  uint32_t buf = 0;
  int n = 0;
  for (char c : text) {
    int v = map[static_cast<uint8_t>(c)];
    if (v < 0) return MakeError(Errc::kInvalidArgument, std::string("invalid character '") + c + "'");
    buf = (buf << bits) | v;
    n += bits;
    if (n >= 8) {
      n -= 8;
      out.push_back((buf >> n) & 0xff);
    }
  }
  // Leftover bits must be zero padding shorter than one byte.
  if (n >= bits || (buf & ((1u << n) - 1)) != 0)
    return MakeError(Errc::kInvalidArgument, "invalid trailing bits");
  return out;
}

}  // namespace

std::string EncodeBase(Multibase base, ByteView data) {
  switch (base) {
    case Multibase::kBase58Btc: return EncodeRadix(data, kB58);
    case Multibase::kBase36: return EncodeRadix(data, kB36);
    case Multibase::kBase36Upper: return EncodeRadix(data, kB36U);
    case Multibase::kBase32: return EncodeBits(data, kB32, 5);
    case Multibase::kBase32Upper: return EncodeBits(data, kB32U, 5);
    case Multibase::kBase16: return EncodeBits(data, kB16, 4);
    case Multibase::kBase16Upper: return EncodeBits(data, kB16U, 4);
    case Multibase::kBase64: return EncodeBits(data, kB64, 6);
    case Multibase::kBase64Url: return EncodeBits(data, kB64U, 6);
  }
  return {};
}

Result<Bytes> DecodeBase(Multibase base, std::string_view text) {
  switch (base) {
    case Multibase::kBase58Btc: return DecodeRadix(text, kB58);
    case Multibase::kBase36: return DecodeRadix(text, kB36);
    case Multibase::kBase36Upper: return DecodeRadix(text, kB36U);
    case Multibase::kBase32: return DecodeBits(text, kB32, 5);
    case Multibase::kBase32Upper: return DecodeBits(text, kB32U, 5);
    case Multibase::kBase16: return DecodeBits(text, kB16, 4);
    case Multibase::kBase16Upper: return DecodeBits(text, kB16U, 4);
    case Multibase::kBase64: return DecodeBits(text, kB64, 6);
    case Multibase::kBase64Url: return DecodeBits(text, kB64U, 6);
  }
  return MakeError(Errc::kUnsupported, "unsupported multibase");
}

std::string MultibaseEncode(Multibase base, ByteView data) {
  return std::string(1, static_cast<char>(base)) + EncodeBase(base, data);
}

Result<Bytes> MultibaseDecode(std::string_view text, Multibase* base_out) {
  if (text.empty()) return MakeError(Errc::kInvalidArgument, "empty multibase string");
  Multibase base;
  switch (text[0]) {
    case 'z': case 'b': case 'B': case 'k': case 'K': case 'f': case 'F': case 'm': case 'u':
      base = static_cast<Multibase>(text[0]);
      break;
    default:
      return MakeError(Errc::kUnsupported, std::string("unsupported multibase prefix '") + text[0] + "'");
  }
  if (base_out) *base_out = base;
  return DecodeBase(base, text.substr(1));
}

Result<Multibase> ParseMultibaseName(std::string_view name) {
  if (name == "base58btc") return Multibase::kBase58Btc;
  if (name == "base32") return Multibase::kBase32;
  if (name == "base32upper") return Multibase::kBase32Upper;
  if (name == "base36") return Multibase::kBase36;
  if (name == "base36upper") return Multibase::kBase36Upper;
  if (name == "base16") return Multibase::kBase16;
  if (name == "base16upper") return Multibase::kBase16Upper;
  if (name == "base64") return Multibase::kBase64;
  if (name == "base64url") return Multibase::kBase64Url;
  return MakeError(Errc::kInvalidArgument, "unknown multibase '" + std::string(name) + "'");
}

}  // namespace ipfskit
