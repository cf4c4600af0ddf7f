#include "core/car/car.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/codec/dagcbor.h"
#include "core/codec/dagpb.h"
#include "core/store/dag_links.h"
#include "core/multiformats/varint.h"
#include "core/store/repo.h"

namespace ipfskit {

namespace {

std::string At(uint64_t offset) { return " at byte offset " + std::to_string(offset); }

// CARv2 starts with this pragma: varint(10) ‖ dag-cbor {"version": 2}.
constexpr uint8_t kCarV2Pragma[] = {0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02};
constexpr size_t kCarV2HeaderSize = 40;  // characteristics(16) data offset, size, index offset
// Room for the CID in front of a block at the size cap.
constexpr size_t kMaxCidSize = 4096;

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

// Buffered input with the absolute byte offset, and an optional end (the CARv2 payload size).
struct CarReader::Input {
  CarSource src;
  Bytes buf = Bytes(size_t{64} << 10);
  size_t pos = 0, end = 0;
  uint64_t offset = 0;  // bytes consumed so far
  uint64_t limit = std::numeric_limits<uint64_t>::max();
  bool src_eof = false;

  // Makes at least one byte available; false at the end of the input or the limit.
  Result<bool> Refill() {
    if (offset >= limit) return false;
    if (pos < end) return true;
    if (src_eof) return false;
    pos = end = 0;
    auto n = src(std::span<uint8_t>(buf));
    if (!n.ok()) {
      Error e = n.take_error();
      return MakeError(e.code, "reading CAR" + At(offset) + ": " + e.message);
    }
    if (*n > buf.size()) return MakeError(Errc::kInternal, "CAR source returned more than asked");
    if (*n == 0) {
      src_eof = true;
      return false;
    }
    end = *n;
    return true;
  }

  // Reads up to n bytes; fewer only at the end of the input.
  Result<size_t> Read(uint8_t* dst, size_t n) {
    size_t got = 0;
    while (got < n) {
      IPFSKIT_ASSIGN_OR_RETURN(bool more, Refill());
      if (!more) break;
      size_t k = std::min<uint64_t>({n - got, end - pos, limit - offset});
      std::memcpy(dst + got, buf.data() + pos, k);
      pos += k;
      offset += k;
      got += k;
    }
    return got;
  }

  Result<uint64_t> Skip(uint64_t n) {
    uint64_t done = 0;
    while (done < n) {
      IPFSKIT_ASSIGN_OR_RETURN(bool more, Refill());
      if (!more) break;
      uint64_t k = std::min<uint64_t>({n - done, end - pos, limit - offset});
      pos += k;
      offset += k;
      done += k;
    }
    return done;
  }

  // Reads a multiformats varint; nullopt when the input ends before its first byte.
  Result<std::optional<uint64_t>> ReadVarint(const char* what) {
    uint64_t start = offset;
    uint8_t bytes[10];
    size_t n = 0;
    for (;;) {
      IPFSKIT_ASSIGN_OR_RETURN(size_t got, Read(&bytes[n], 1));
      if (got == 0) {
        if (n == 0) return std::optional<uint64_t>();
        return MakeError(Errc::kTruncated, std::string("truncated CAR: input ends inside the ") +
                                               what + " length" + At(start));
      }
      if (!(bytes[n++] & 0x80)) break;
      if (n == 9) return MakeError(Errc::kMalformed, std::string("malformed CAR: ") + what +
                                                         " length varint too long" + At(start));
    }
    ByteView v(bytes, n);
    auto r = ReadUvarint(v);
    if (!r.ok())
      return MakeError(Errc::kMalformed, std::string("malformed CAR: bad ") + what + " length" +
                                             At(start) + ": " + r.error().message);
    return std::optional<uint64_t>(*r);
  }
};

CarReader::~CarReader() = default;

namespace {

// Parses a CARv1 header body (the dag-cbor map). Returns the version found; roots only for v1.
Result<uint64_t> ParseHeader(ByteView body, uint64_t offset, std::vector<Cid>& roots) {
  // A header is a small map; the limits keep a hostile one from costing more than its size.
  auto item = CborParse(body, CborLimits{.max_depth = 16, .max_items = size_t{1} << 20});
  if (!item.ok())
    return MakeError(Errc::kMalformed, "malformed CAR header" + At(offset) + ": " + item.error().message);
  const cbor_item_t* map = item->get();
  if (!cbor_isa_map(map))
    return MakeError(Errc::kMalformed, "malformed CAR header" + At(offset) + ": not a map");
  const cbor_item_t* version = nullptr;
  const cbor_item_t* roots_item = nullptr;
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    const cbor_item_t* k = pairs[i].key;
    if (!cbor_isa_string(k) || !cbor_string_is_definite(k)) continue;
    std::string_view key(reinterpret_cast<const char*>(cbor_string_handle(k)), cbor_string_length(k));
    if (key == "version") version = pairs[i].value;
    if (key == "roots") roots_item = pairs[i].value;
  }
  if (!version || !cbor_isa_uint(version))
    return MakeError(Errc::kMalformed, "malformed CAR header" + At(offset) + ": no integer 'version'");
  uint64_t v = cbor_get_int(version);
  if (v != 1) return v;
  if (!roots_item || !cbor_isa_array(roots_item))
    return MakeError(Errc::kMalformed, "malformed CAR header" + At(offset) + ": no 'roots' array");
  cbor_item_t** h = cbor_array_handle(roots_item);
  for (size_t i = 0; i < cbor_array_size(roots_item); ++i) {
    auto cid = CborReadCidLink(h[i]);
    if (!cid.ok())
      return MakeError(Errc::kMalformed, "malformed CAR header" + At(offset) + ": root " +
                                             std::to_string(i) + ": " + cid.error().message);
    roots.push_back(std::move(*cid));
  }
  return v;
}

// Reads varint + header body. Returns the version; fills roots for v1.
Result<uint64_t> ReadHeader(auto& in, std::vector<Cid>& roots, bool first) {
  uint64_t start = in.offset;
  IPFSKIT_ASSIGN_OR_RETURN(std::optional<uint64_t> len, in.ReadVarint("header"));
  if (!len)
    return MakeError(Errc::kTruncated, first ? std::string("empty input: not a CAR file")
                                             : "truncated CARv2: no inner CARv1 header" + At(start));
  if (*len == 0 || *len > kMaxCarHeaderSize)
    return MakeError(Errc::kMalformed, "malformed CAR: header length " + std::to_string(*len) + At(start));
  Bytes body(*len);
  uint64_t body_at = in.offset;
  IPFSKIT_ASSIGN_OR_RETURN(size_t got, in.Read(body.data(), body.size()));
  if (got < body.size())
    return MakeError(Errc::kTruncated, "truncated CAR: header" + At(start) + " declares " +
                                           std::to_string(*len) + " bytes, input ends after " +
                                           std::to_string(got));
  return ParseHeader(body, body_at, roots);
}

}  // namespace

Result<std::unique_ptr<CarReader>> CarReader::Open(CarSource source, CarReadOptions options) {
  std::unique_ptr<CarReader> r(new CarReader());
  r->options_ = options;
  r->in_ = std::make_unique<Input>();
  r->in_->src = std::move(source);
  Input& in = *r->in_;
  IPFSKIT_ASSIGN_OR_RETURN(uint64_t version, ReadHeader(in, r->roots_, true));
  if (version == 2) {
    // The pragma is fixed bytes; then a fixed header that says where the v1 payload lies.
    if (in.offset != sizeof(kCarV2Pragma))
      return MakeError(Errc::kMalformed, "malformed CARv2 pragma");
    uint8_t h[kCarV2HeaderSize];
    IPFSKIT_ASSIGN_OR_RETURN(size_t got, in.Read(h, sizeof h));
    if (got < sizeof h)
      return MakeError(Errc::kTruncated, "truncated CARv2 header" + At(sizeof(kCarV2Pragma)));
    uint64_t data_offset = LoadLe64(h + 16), data_size = LoadLe64(h + 24);
    if (data_offset < in.offset || data_size == 0)
      return MakeError(Errc::kMalformed, "malformed CARv2 header: data offset " +
                                             std::to_string(data_offset) + ", size " +
                                             std::to_string(data_size));
    uint64_t skip = data_offset - in.offset;
    IPFSKIT_ASSIGN_OR_RETURN(uint64_t skipped, in.Skip(skip));
    if (skipped < skip)
      return MakeError(Errc::kTruncated, "truncated CARv2: payload" + At(data_offset) + " is missing");
    in.limit = data_offset + data_size;
    IPFSKIT_ASSIGN_OR_RETURN(uint64_t inner, ReadHeader(in, r->roots_, false));
    if (inner != 1)
      return MakeError(Errc::kMalformed, "malformed CARv2: inner payload has version " + std::to_string(inner));
    r->version_ = 2;
  } else if (version != 1) {
    return MakeError(Errc::kUnsupported, "CAR version " + std::to_string(version) + " is not supported");
  }
  return r;
}

Result<std::optional<CarBlock>> CarReader::Next() {
  Input& in = *in_;
  uint64_t start = in.offset;
  IPFSKIT_ASSIGN_OR_RETURN(std::optional<uint64_t> len, in.ReadVarint("section"));
  if (!len) {
    if (in.limit != std::numeric_limits<uint64_t>::max() && in.offset < in.limit)
      return MakeError(Errc::kTruncated, "truncated CARv2: payload ends" + At(in.offset) +
                                             ", before its declared end" + At(in.limit));
    return std::optional<CarBlock>();
  }
  if (*len == 0) return MakeError(Errc::kMalformed, "malformed CAR: zero-length section" + At(start));
  if (*len > options_.max_block_size + kMaxCidSize)
    return MakeError(Errc::kMalformed, "CAR section" + At(start) + " is " + std::to_string(*len) +
                                           " bytes, over the " + std::to_string(options_.max_block_size) +
                                           "-byte block limit");
  section_.resize(*len);
  IPFSKIT_ASSIGN_OR_RETURN(size_t got, in.Read(section_.data(), section_.size()));
  if (got < section_.size())
    return MakeError(Errc::kTruncated, "truncated CAR: section" + At(start) + " declares " +
                                           std::to_string(*len) + " bytes, input ends after " +
                                           std::to_string(got));
  ByteView rest(section_);
  auto cid = Cid::ReadFrom(rest);
  if (!cid.ok())
    return MakeError(Errc::kMalformed, "malformed CID in CAR section" + At(start) + ": " + cid.error().message);
  if (rest.size() > options_.max_block_size)
    return MakeError(Errc::kMalformed, "block " + cid->ToString() + At(start) + " is " +
                                           std::to_string(rest.size()) + " bytes, over the " +
                                           std::to_string(options_.max_block_size) + "-byte limit");
  if (!cid->is_identity() && !MultihashDigestSize(cid->mh_code()).ok())
    return MakeError(Errc::kUnsupported, "block " + cid->ToString() + At(start) +
                                             " uses an unsupported hash function (" +
                                             MultihashName(cid->mh_code()) + "); cannot verify it");
  if (!cid->Verifies(rest))
    return MakeError(Errc::kHashMismatch, "block" + At(start) + " does not match its CID " +
                                              cid->ToString() + " (hash mismatch)");
  return std::optional<CarBlock>(CarBlock{std::move(*cid), rest, start});
}

// ---------------------------------------------------------------------------------------------

Bytes EncodeCarHeader(const std::vector<Cid>& roots) {
  // dag-cbor orders map keys by length first: "roots" before "version".
  CborItem map(cbor_new_definite_map(2));
  CborItem arr(cbor_new_definite_array(roots.size()));
  for (const Cid& c : roots) {
    CborItem link = CborCidLink(c);
    cbor_array_push(arr.get(), link.get());
  }
  CborItem k_roots(cbor_build_string("roots"));
  CborItem k_version(cbor_build_string("version"));
  CborItem one(cbor_build_uint8(1));
  cbor_map_add(map.get(), cbor_pair{k_roots.get(), arr.get()});
  cbor_map_add(map.get(), cbor_pair{k_version.get(), one.get()});
  Bytes body = CborSerialize(map.get());
  Bytes out;
  PutUvarint(out, body.size());
  Append(out, body);
  return out;
}

void AppendCarSection(Bytes& out, const Cid& cid, ByteView data) {
  PutUvarint(out, cid.bytes().size() + data.size());
  Append(out, cid.bytes());
  Append(out, data);
}

namespace {

// Depth-first pre-order over the DAG, each block once; `visit` sees each block.
Status WalkDag(BlockGetter& blocks, const Cid& root,
               const std::function<Status(const Cid&, ByteView)>& visit) {
  std::vector<std::pair<Cid, Cid>> stack;  // (cid, parent) — the parent names where it hangs
  std::unordered_set<Cid> seen;
  stack.emplace_back(root, Cid());
  while (!stack.empty()) {
    auto [cid, parent] = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(cid).second) continue;
    auto block = blocks.Get(cid);
    if (!block.ok()) {
      Error e = block.take_error();
      std::string msg = "block " + cid.ToString() + " not found";
      if (parent.valid()) msg += " (linked from " + parent.ToString() + ")";
      if (e.code != Errc::kNotFound) msg = e.message;
      return MakeError(e.code, msg);
    }
    IPFSKIT_TRY_STATUS(visit(cid, block->data()));
    auto links = DagLinks(cid, block->data());
    if (!links.ok())
      return MakeError(Errc::kMalformed, "cannot read links of block " + cid.ToString() + ": " +
                                             links.error().message);
    for (auto it = links->rbegin(); it != links->rend(); ++it)
      if (!seen.count(*it)) stack.emplace_back(std::move(*it), cid);
  }
  return Status::Ok();
}

}  // namespace

Status ExportCar(BlockGetter& blocks, const Cid& root, const CarSink& sink) {
  if (!root.valid()) return MakeError(Errc::kInvalidArgument, "invalid (empty) root CID");
  constexpr size_t kFlushAt = size_t{1} << 20;
  Bytes out = EncodeCarHeader({root});
  IPFSKIT_TRY_STATUS(WalkDag(blocks, root, [&](const Cid& cid, ByteView data) -> Status {
    if (cid.is_identity()) return Status::Ok();  // never sent; the CID carries the data
    AppendCarSection(out, cid, data);
    if (out.size() >= kFlushAt) {
      IPFSKIT_TRY_STATUS(sink(out));
      out.clear();
    }
    return Status::Ok();
  }));
  if (!out.empty()) IPFSKIT_TRY_STATUS(sink(out));
  return Status::Ok();
}

Status CheckDagComplete(BlockGetter& blocks, const Cid& root) {
  return WalkDag(blocks, root, [](const Cid&, ByteView) { return Status::Ok(); });
}

Result<CarImportResult> ImportCar(const CarSource& source, Repo& repo, bool pin_roots,
                                  CarReadOptions options) {
  IPFSKIT_ASSIGN_OR_RETURN(auto reader, CarReader::Open(source, options));
  CarImportResult result;
  for (const Cid& c : reader->roots()) result.roots.push_back(CarRootResult{c, false, ""});
  // The writer lives until the roots are pinned: its blocks are safe from a concurrent Gc.
  std::unique_ptr<BlockSink> writer = repo.NewWriter();
  for (;;) {
    auto next = reader->Next();
    if (!next.ok()) {
      (void)writer->Flush();  // keep what was verified; it is valid content
      return next.take_error();
    }
    if (!*next) break;
    const CarBlock& b = **next;
    IPFSKIT_TRY_STATUS(writer->Put(b.cid, b.data, /*trusted=*/true));  // verified by the reader
    result.blocks++;
    result.bytes += b.data.size();
  }
  IPFSKIT_TRY_STATUS(writer->Flush());
  if (pin_roots) {
    for (CarRootResult& r : result.roots) {
      Status st = CheckDagComplete(repo, r.cid);
      if (st.ok()) st = repo.Pin(r.cid, PinType::kRecursive);
      r.pinned = st.ok();
      if (!st.ok()) r.pin_error = st.error().message;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------

CarSource FdSource(int fd) {
  return [fd](std::span<uint8_t> buf) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return MakeError(Errc::kIo, std::string("read failed: ") + std::strerror(errno));
    }
  };
}

CarSource IstreamSource(std::istream& in) {
  return [&in](std::span<uint8_t> buf) -> Result<size_t> {
    if (in.eof()) return size_t{0};
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    if (in.bad()) return MakeError(Errc::kIo, "read from stream failed");
    return static_cast<size_t>(in.gcount());
  };
}

CarSource BytesSource(ByteView bytes) {
  auto pos = std::make_shared<size_t>(0);
  return [bytes, pos](std::span<uint8_t> buf) -> Result<size_t> {
    size_t n = std::min(buf.size(), bytes.size() - *pos);
    if (n) std::memcpy(buf.data(), bytes.data() + *pos, n);
    *pos += n;
    return n;
  };
}

CarSink FdSink(int fd) {
  return [fd](ByteView b) -> Status {
    while (!b.empty()) {
      ssize_t n = ::write(fd, b.data(), b.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        Errc code = (errno == ENOSPC || errno == EDQUOT) ? Errc::kNoSpace : Errc::kIo;
        return MakeError(code, std::string("write failed: ") + std::strerror(errno));
      }
      b = b.subspan(static_cast<size_t>(n));
    }
    return Status::Ok();
  };
}

CarSink OstreamSink(std::ostream& out) {
  return [&out](ByteView b) -> Status {
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    if (!out) return MakeError(Errc::kIo, "write to stream failed");
    return Status::Ok();
  };
}

CarSink BytesSink(Bytes& out) {
  return [&out](ByteView b) -> Status {
    Append(out, b);
    return Status::Ok();
  };
}

}  // namespace ipfskit
