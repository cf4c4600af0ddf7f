#include "core/codec/dagcbor.h"

#include <cstdlib>
#include <string>

namespace ipfskit {

namespace {

// The streaming pre-pass of CborParse: keeps, per open container, how many children are left
// (kIndefinite for indefinite-length ones, closed by a break).
struct CborScan {
  static constexpr uint64_t kIndefinite = UINT64_MAX;
  const CborLimits* limits = nullptr;
  size_t avail = 0;  // bytes from the start of the item being decoded to the end of the input
  size_t items = 0;
  bool complete = false;  // the top-level item is finished
  std::vector<uint64_t> open;
  std::string error;

  static CborScan* Of(void* ctx) { return static_cast<CborScan*>(ctx); }
  bool Count() {
    if (!error.empty()) return false;
    if (++items > limits->max_items) {
      error = "more than " + std::to_string(limits->max_items) + " CBOR items";
      return false;
    }
    return true;
  }
  // One item (a scalar or a whole container) is finished.
  void Done() {
    while (!open.empty()) {
      if (open.back() == kIndefinite || --open.back() > 0) return;
      open.pop_back();
    }
    complete = true;
  }
  void Push(uint64_t children) {
    if (open.size() >= limits->max_depth) {
      error = "CBOR nested deeper than " + std::to_string(limits->max_depth);
      return;
    }
    open.push_back(children);
  }
  // A definite container declaring `children` items, each at least one byte.
  void Definite(uint64_t declared, uint64_t per, const char* what) {
    if (!Count()) return;
    if (declared > (avail ? avail - 1 : 0) / per) {
      error = std::string("CBOR ") + what + " declares " + std::to_string(declared) +
              " entries but only " + std::to_string(avail) + " bytes remain";
      return;
    }
    if (declared == 0) return Done();
    Push(declared * per);
  }
  void Indefinite() {
    if (Count()) Push(kIndefinite);
  }
  void Scalar() {
    if (Count()) Done();
  }
};

template <typename... A>
void ScanScalar(void* ctx, A...) {
  CborScan::Of(ctx)->Scalar();
}

const cbor_callbacks& ScanCallbacks() {
  static const cbor_callbacks cb = [] {
    cbor_callbacks c = cbor_empty_callbacks;
    c.uint8 = ScanScalar<uint8_t>;
    c.uint16 = ScanScalar<uint16_t>;
    c.uint32 = ScanScalar<uint32_t>;
    c.uint64 = ScanScalar<uint64_t>;
    c.negint8 = ScanScalar<uint8_t>;
    c.negint16 = ScanScalar<uint16_t>;
    c.negint32 = ScanScalar<uint32_t>;
    c.negint64 = ScanScalar<uint64_t>;
    c.byte_string = ScanScalar<cbor_data, size_t>;  // also a chunk of an indefinite one
    c.string = ScanScalar<cbor_data, size_t>;
    c.float2 = ScanScalar<float>;
    c.float4 = ScanScalar<float>;
    c.float8 = ScanScalar<double>;
    c.undefined = ScanScalar<>;
    c.null = ScanScalar<>;
    c.boolean = ScanScalar<bool>;
    c.byte_string_start = [](void* ctx) { CborScan::Of(ctx)->Indefinite(); };
    c.string_start = [](void* ctx) { CborScan::Of(ctx)->Indefinite(); };
    c.indef_array_start = [](void* ctx) { CborScan::Of(ctx)->Indefinite(); };
    c.indef_map_start = [](void* ctx) { CborScan::Of(ctx)->Indefinite(); };
    c.array_start = [](void* ctx, size_t n) { CborScan::Of(ctx)->Definite(n, 1, "array"); };
    c.map_start = [](void* ctx, size_t n) { CborScan::Of(ctx)->Definite(n, 2, "map"); };
    c.tag = [](void* ctx, uint64_t) {
      CborScan* s = CborScan::Of(ctx);
      if (s->Count()) s->Push(1);  // a tag wraps exactly one item
    };
    c.indef_break = [](void* ctx) {
      CborScan* s = CborScan::Of(ctx);
      if (!s->error.empty()) return;
      if (s->open.empty() || s->open.back() != CborScan::kIndefinite) {
        s->error = "unexpected CBOR break";
        return;
      }
      s->open.pop_back();
      s->Done();
    };
    return c;
  }();
  return cb;
}

Status CborCheckLimits(ByteView data, const CborLimits& limits) {
  CborScan scan;
  scan.limits = &limits;
  size_t pos = 0;
  while (!scan.complete) {
    if (pos >= data.size()) return MakeError(Errc::kMalformed, "truncated CBOR");
    scan.avail = data.size() - pos;
    cbor_decoder_result r = cbor_stream_decode(data.data() + pos, data.size() - pos, &ScanCallbacks(), &scan);
    if (!scan.error.empty()) return MakeError(Errc::kMalformed, scan.error + " (at byte " + std::to_string(pos) + ")");
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
      return MakeError(Errc::kMalformed, "malformed CBOR at byte " + std::to_string(pos));
    pos += r.read;
  }
  return Status::Ok();
}

}  // namespace

Result<CborItem> CborParse(ByteView data, const CborLimits& limits) {
  if (data.empty()) return MakeError(Errc::kMalformed, "empty CBOR");
  IPFSKIT_TRY_STATUS(CborCheckLimits(data, limits));
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
