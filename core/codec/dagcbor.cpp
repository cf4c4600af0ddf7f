#include "core/codec/dagcbor.h"

#include <cstdlib>

namespace ipfskit {

Result<CborItem> CborParse(ByteView data) {
  if (data.empty()) return MakeError(Errc::kMalformed, "empty CBOR");
  cbor_load_result res;
  CborItem item(cbor_load(data.data(), data.size(), &res));
  if (!item || res.error.code != CBOR_ERR_NONE)
    return MakeError(Errc::kMalformed, "malformed CBOR at byte " + std::to_string(res.error.position));
  if (res.read != data.size()) return MakeError(Errc::kMalformed, "trailing bytes after CBOR item");
  return item;
}

Bytes CborSerialize(const cbor_item_t* item) {
  unsigned char* buf = nullptr;
  size_t cap = 0;
  size_t n = cbor_serialize_alloc(item, &buf, &cap);
  Bytes out(buf, buf + n);
  free(buf);
  return out;
}

CborItem CborCidLink(const Cid& cid) {
  Bytes b;
  b.push_back(0);
  Append(b, cid.bytes());
  CborItem bytes(cbor_build_bytestring(b.data(), b.size()));
  CborItem tag(cbor_new_tag(42));
  cbor_tag_set_item(tag.get(), bytes.get());
  return tag;
}

Result<Cid> CborReadCidLink(const cbor_item_t* item) {
  if (!cbor_isa_tag(item) || cbor_tag_value(item) != 42)
    return MakeError(Errc::kMalformed, "CBOR link is not tag 42");
  CborItem inner(cbor_tag_item(item));
  if (!cbor_isa_bytestring(inner.get()) || !cbor_bytestring_is_definite(inner.get()))
    return MakeError(Errc::kMalformed, "CBOR tag 42 does not hold a byte string");
  ByteView b(cbor_bytestring_handle(inner.get()), cbor_bytestring_length(inner.get()));
  if (b.empty() || b[0] != 0) return MakeError(Errc::kMalformed, "CBOR CID link lacks the 0x00 prefix");
  return Cid::FromBytes(b.subspan(1));
}

namespace {
Status Walk(const cbor_item_t* item, std::vector<Cid>& out, int depth) {
  if (depth > 256) return MakeError(Errc::kMalformed, "CBOR nested too deeply");
  switch (cbor_typeof(item)) {
    case CBOR_TYPE_TAG: {
      if (cbor_tag_value(item) == 42) {
        IPFSKIT_ASSIGN_OR_RETURN(Cid c, CborReadCidLink(item));
        out.push_back(std::move(c));
        return Status::Ok();
      }
      CborItem inner(cbor_tag_item(item));
      return Walk(inner.get(), out, depth + 1);
    }
    case CBOR_TYPE_ARRAY: {
      size_t n = cbor_array_size(item);
      cbor_item_t** h = cbor_array_handle(item);
      for (size_t i = 0; i < n; ++i) IPFSKIT_TRY_STATUS(Walk(h[i], out, depth + 1));
      return Status::Ok();
    }
    case CBOR_TYPE_MAP: {
      size_t n = cbor_map_size(item);
      cbor_pair* h = cbor_map_handle(item);
      for (size_t i = 0; i < n; ++i) IPFSKIT_TRY_STATUS(Walk(h[i].value, out, depth + 1));
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}
}  // namespace

Result<std::vector<Cid>> DagCborLinks(ByteView data) {
  IPFSKIT_ASSIGN_OR_RETURN(CborItem item, CborParse(data));
  std::vector<Cid> out;
  IPFSKIT_TRY_STATUS(Walk(item.get(), out, 0));
  return out;
}

}  // namespace ipfskit
