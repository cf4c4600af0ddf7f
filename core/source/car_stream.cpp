#include "core/source/car_stream.h"

#include <cbor.h>

#include "core/codec/dagcbor.h"
#include "core/multiformats/varint.h"

namespace ipfskit {
namespace {

// Reads a varint from the front of buf without consuming; nullopt-like: returns 0 bytes used
// when the varint is not complete yet.
size_t PeekUvarint(ByteView buf, uint64_t* value, Status* err) {
  for (size_t i = 0; i < buf.size() && i < 10; ++i) {
    if ((buf[i] & 0x80) == 0) {
      ByteView in = buf.first(i + 1);
      auto v = ReadUvarint(in);
      if (!v.ok()) {
        *err = v.error();
        return 0;
      }
      *value = *v;
      return i + 1;
    }
  }
  if (buf.size() >= 10) *err = MakeError(Errc::kMalformed, "CAR: varint too long");
  return 0;
}

Status CheckHeader(ByteView h) {
  // A header is a small map; the limits keep a hostile one from costing more than its size.
  auto item = CborParse(h, CborLimits{.max_depth = 16, .max_items = size_t{1} << 20});
  if (!item.ok()) return MakeError(Errc::kMalformed, "CAR header: " + item.error().message);
  cbor_item_t* m = item->get();
  if (!cbor_isa_map(m)) return MakeError(Errc::kMalformed, "CAR header is not a map");
  const size_t n = cbor_map_size(m);
  cbor_pair* pairs = cbor_map_handle(m);
  for (size_t i = 0; i < n; ++i) {
    cbor_item_t* k = pairs[i].key;
    if (!cbor_isa_string(k) || !cbor_string_is_definite(k)) continue;
    std::string key(reinterpret_cast<const char*>(cbor_string_handle(k)), cbor_string_length(k));
    if (key != "version") continue;
    cbor_item_t* v = pairs[i].value;
    if (!cbor_isa_uint(v) || cbor_get_int(v) != 1)
      return MakeError(Errc::kUnsupported, "CAR header: only version 1 is supported");
    return Status::Ok();  // roots are ignored, as the trustless gateway spec advises clients
  }
  return MakeError(Errc::kMalformed, "CAR header has no version");
}

}  // namespace

Status CarStreamReader::Feed(ByteView chunk) {
  Append(buf_, chunk);
  return Consume();
}

Status CarStreamReader::Consume() {
  size_t pos = 0;
  Status result;
  for (;;) {
    ByteView rest = ByteView(buf_).subspan(pos);
    if (rest.empty()) break;
    uint64_t len = 0;
    Status err;
    size_t vlen = PeekUvarint(rest, &len, &err);
    if (!err.ok()) {
      result = err;
      break;
    }
    if (vlen == 0) break;  // need more bytes
    const size_t cap = have_header_ ? kMaxBlock + 128 : kMaxHeader;
    if (len == 0 || len > cap) {
      result = MakeError(Errc::kMalformed, "CAR: section length " + std::to_string(len) + " out of range");
      break;
    }
    if (rest.size() - vlen < len) break;
    ByteView body = rest.subspan(vlen, len);
    pos += vlen + len;
    if (!have_header_) {
      Status st = CheckHeader(body);
      if (!st.ok()) {
        result = st;
        break;
      }
      have_header_ = true;
      continue;
    }
    ByteView in = body;
    auto cid = Cid::ReadFrom(in);
    if (!cid.ok()) {
      result = MakeError(Errc::kMalformed, "CAR section CID: " + cid.error().message);
      break;
    }
    if (in.size() > kMaxBlock) {
      result = MakeError(Errc::kMalformed, "CAR block larger than 2 MiB");
      break;
    }
    if (!cid->Verifies(in)) {
      result = MakeError(Errc::kHashMismatch, "CAR block " + cid->ToString() + " does not match its CID");
      break;
    }
    ++blocks_;
    bytes_ += in.size();
    Status st = on_block_(*cid, in);
    if (!st.ok()) {
      result = st;
      break;
    }
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
  return result;
}

Status CarStreamReader::Finish() const {
  if (!have_header_) return MakeError(Errc::kTruncated, "CAR stream ended before its header");
  if (!buf_.empty())
    return MakeError(Errc::kTruncated, "CAR stream ended inside a section (" + std::to_string(buf_.size()) + " bytes left)");
  return Status::Ok();
}

}  // namespace ipfskit
