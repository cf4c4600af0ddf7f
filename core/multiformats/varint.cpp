#include "core/multiformats/varint.h"

namespace ipfskit {

std::string HexEncode(ByteView b) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

void PutUvarint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v) | 0x80);
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

size_t UvarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

Result<uint64_t> ReadUvarint(ByteView& in) {
  uint64_t v = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (i >= 9) return MakeError(Errc::kMalformed, "varint longer than 9 bytes");
    uint8_t b = in[i];
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) return MakeError(Errc::kMalformed, "varint not minimally encoded");
      in = in.subspan(i + 1);
      return v;
    }
  }
  return MakeError(Errc::kTruncated, "truncated varint");
}

}  // namespace ipfskit
