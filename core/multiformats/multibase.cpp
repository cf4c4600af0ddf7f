#include "core/multiformats/multibase.h"

#include <array>

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
// leading zero digits, as in Bitcoin's base58).
std::string EncodeRadix(ByteView data, std::string_view alpha) {
  const uint32_t radix = alpha.size();
  size_t zeros = 0;
  while (zeros < data.size() && data[zeros] == 0) ++zeros;
  std::vector<uint8_t> digits;  // little-endian base-`radix` digits
  digits.reserve(data.size() * 2);
  for (size_t i = zeros; i < data.size(); ++i) {
    uint32_t carry = data[i];
    for (auto& d : digits) {
      carry += static_cast<uint32_t>(d) << 8;
      d = carry % radix;
      carry /= radix;
    }
    while (carry) {
      digits.push_back(carry % radix);
      carry /= radix;
    }
  }
  std::string out(zeros, alpha[0]);
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(alpha[*it]);
  return out;
}

Result<Bytes> DecodeRadix(std::string_view text, std::string_view alpha) {
  std::array<int, 256> map;
  map.fill(-1);
  for (size_t i = 0; i < alpha.size(); ++i) map[static_cast<uint8_t>(alpha[i])] = i;
  const uint32_t radix = alpha.size();
  size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == alpha[0]) ++zeros;
  std::vector<uint8_t> bytes;  // little-endian
  for (size_t i = zeros; i < text.size(); ++i) {
    int v = map[static_cast<uint8_t>(text[i])];
    if (v < 0) return MakeError(Errc::kInvalidArgument, std::string("invalid character '") + text[i] + "'");
    uint32_t carry = v;
    for (auto& b : bytes) {
      carry += static_cast<uint32_t>(b) * radix;
      b = carry & 0xff;
      carry >>= 8;
    }
    while (carry) {
      bytes.push_back(carry & 0xff);
      carry >>= 8;
    }
  }
  Bytes out(zeros, 0);
  out.insert(out.end(), bytes.rbegin(), bytes.rend());
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
