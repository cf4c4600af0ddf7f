#include "core/serve/gateway_handler.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_set>

#include "core/car/car.h"
#include "core/codec/dagpb.h"
#include "core/codec/unixfs.h"
#include "core/ipns/name.h"
#include "core/multiformats/varint.h"
#include "core/reader/unixfs_reader.h"
#include "core/store/dag_links.h"

namespace ipfskit {

namespace {

constexpr const char* kRawType = "application/vnd.ipld.raw";
constexpr const char* kCarType = "application/vnd.ipld.car";
constexpr const char* kIpnsType = "application/vnd.ipfs.ipns-record";

int StatusFor(const Error& e) {
  switch (e.code) {
    case Errc::kNotFound:
    case Errc::kNotDir:
      return 404;
    case Errc::kInvalidArgument:
    case Errc::kNameTooLong:
      return 400;
    case Errc::kTimeout:
      return 504;
    case Errc::kInternal:
      return 500;
    default:
      return 502;
  }
}

ServerResponse ErrorResponse(const Error& e) {
  ServerResponse r = ServerResponse::Text(StatusFor(e), e.message);
  r.With("X-Content-Type-Options", "nosniff");
  return r;
}

ServerResponse Fail(int status, const std::string& message) {
  ServerResponse r = ServerResponse::Text(status, message);
  r.With("X-Content-Type-Options", "nosniff");
  return r;
}

// Records the blocks a path resolution reads, in order, once each: the blocks a client needs to
// verify the path.
class RecordingGetter : public BlockGetter {
 public:
  explicit RecordingGetter(BlockGetter& inner) : inner_(inner) {}
  Result<Block> Get(const Cid& cid) override {
    auto b = inner_.Get(cid);
    if (b.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (seen_.insert(cid).second) order_.push_back(cid);
    }
    return b;
  }
  bool Has(const Cid& cid) override { return inner_.Has(cid); }
  std::vector<Cid> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

 private:
  BlockGetter& inner_;
  std::mutex mu_;
  std::unordered_set<Cid> seen_;
  std::vector<Cid> order_;
};

// A non-owning shared_ptr for the reader over a stack object.
template <typename T>
std::shared_ptr<T> Borrow(T& t) {
  return std::shared_ptr<T>(&t, [](T*) {});
}

enum class Scope { kBlock, kEntity, kAll };

// A byte range [from, to] of a file, both inclusive, already resolved against the file size.
struct ByteRange {
  uint64_t from = 0;
  uint64_t to = 0;
  bool empty = false;
};

// What the walk does below a block.
enum class Follow {
  kNone,      // the block only
  kAll,       // every link
  kEntity,    // decided by the block's type (the scope's root)
  kShards,    // HAMT sub-shards only
  kFileRange  // file children overlapping the range
};

struct WalkItem {
  Cid cid;
  Follow follow;
  uint64_t node_off = 0;  // kFileRange: the file offset this node starts at
};

// The CAR body: header, the path blocks, then the scope walk; one section at a time.
class CarStream {
 public:
  CarStream(std::shared_ptr<BlockGetter> blocks, const Cid& root, std::vector<Cid> path_blocks,
            const Cid& target, Scope scope, std::optional<ByteRange> range, bool dups)
      : blocks_(std::move(blocks)), range_(range), dups_(dups) {
    pending_ = EncodeCarHeader({root});
    Follow f = scope == Scope::kBlock ? Follow::kNone : scope == Scope::kAll ? Follow::kAll : Follow::kEntity;
    stack_.push_back({target, f, 0});
    // Path blocks come first: pushed last so they pop first, in order.
    for (auto it = path_blocks.rbegin(); it != path_blocks.rend(); ++it)
      if (*it != target) stack_.push_back({*it, Follow::kNone, 0});
  }

  Result<size_t> Read(uint8_t* buf, size_t max) {
    size_t n = 0;
    while (n < max) {
      if (pending_pos_ < pending_.size()) {
        size_t k = std::min(max - n, pending_.size() - pending_pos_);
        std::memcpy(buf + n, pending_.data() + pending_pos_, k);
        pending_pos_ += k;
        n += k;
        continue;
      }
      if (body_pos_ < body_.size()) {
        size_t k = std::min(max - n, body_.size() - body_pos_);
        std::memcpy(buf + n, body_.data().data() + body_pos_, k);
        body_pos_ += k;
        n += k;
        continue;
      }
      body_ = Block();  // let go of the read snapshot before the next fetch
      IPFSKIT_ASSIGN_OR_RETURN(bool more, NextSection());
      if (!more) break;
    }
    return n;
  }

 private:
  // Sets pending_ (varint + CID) and body_ (the block) to the next section; false at the end.
  Result<bool> NextSection() {
    for (;;) {
      if (stack_.empty()) return false;
      WalkItem item = std::move(stack_.back());
      stack_.pop_back();
      if (!dups_ && !seen_.insert(item.cid).second) continue;
      auto got = blocks_->Get(item.cid);
      if (!got.ok()) return MakeError(got.error().code, "CAR stream stopped: " + got.error().message);
      Block block = std::move(got).value();
      IPFSKIT_TRY_STATUS(PushChildren(item, block.data()));
      if (item.cid.is_identity()) continue;  // never sent; the CID carries the data
      pending_.clear();
      pending_pos_ = 0;
      PutUvarint(pending_, item.cid.bytes().size() + block.size());
      Append(pending_, item.cid.bytes());
      body_ = std::move(block);
      body_pos_ = 0;
      return true;
    }
  }

  void Push(std::vector<WalkItem>& children) {
    for (auto it = children.rbegin(); it != children.rend(); ++it) stack_.push_back(std::move(*it));
  }

  Status PushChildren(const WalkItem& item, ByteView data) {
    Follow follow = item.follow;
    if (follow == Follow::kNone) return Status::Ok();
    std::vector<WalkItem> children;
    if (follow == Follow::kAll) {
      IPFSKIT_ASSIGN_OR_RETURN(auto links, DagLinks(item.cid, data));
      for (auto& c : links) children.push_back({std::move(c), Follow::kAll, 0});
      Push(children);
      return Status::Ok();
    }
    if (item.cid.codec() != codec::kDagPb) return Status::Ok();  // raw, dag-cbor, ...: the block
    IPFSKIT_ASSIGN_OR_RETURN(PbNode node, DecodePbNode(data));
    if (!node.data) return Status::Ok();
    auto ud = DecodeUnixfs(*node.data);
    if (!ud.ok()) return Status::Ok();  // plain dag-pb: an entity of one block
    if (follow == Follow::kEntity) {
      if (ud->type == UnixfsType::kHamtShard) follow = Follow::kShards;
      else if (ud->type == UnixfsType::kFile || ud->type == UnixfsType::kRaw)
        follow = range_ ? Follow::kFileRange : Follow::kAll;
      else
        return Status::Ok();  // a directory, a symlink: its own block
    }
    if (follow == Follow::kAll) {
      for (auto& l : node.links) children.push_back({l.hash, Follow::kAll, 0});
    } else if (follow == Follow::kShards) {
      const uint64_t fanout = ud->fanout.value_or(256);
      size_t prefix = 0;
      for (uint64_t v = fanout - 1; v > 0; v >>= 4) prefix++;
      for (auto& l : node.links)
        if (l.name && l.name->size() == prefix) children.push_back({l.hash, Follow::kShards, 0});
    } else if (follow == Follow::kFileRange) {
      if (range_->empty) return Status::Ok();
      uint64_t off = item.node_off + (ud->data ? ud->data->size() : 0);
      if (ud->blocksizes.size() != node.links.size())
        return MakeError(Errc::kMalformed, "file node " + item.cid.ToString() + ": blocksizes do not match links");
      for (size_t i = 0; i < node.links.size(); i++) {
        const uint64_t start = off, end = off + ud->blocksizes[i];  // [start, end)
        off = end;
        if (end <= range_->from || start > range_->to) continue;
        children.push_back({node.links[i].hash, Follow::kFileRange, start});
      }
    }
    Push(children);
    return Status::Ok();
  }

  std::shared_ptr<BlockGetter> blocks_;
  std::optional<ByteRange> range_;
  bool dups_;
  std::vector<WalkItem> stack_;
  std::unordered_set<Cid> seen_;
  Bytes pending_;
  size_t pending_pos_ = 0;
  Block body_;
  size_t body_pos_ = 0;
};

// Splits the path after the CID; ".." or "." segments are refused (empty ones are skipped).
Result<std::vector<std::string>> SplitPath(std::string_view rest) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t end = rest.find('/', pos);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view part = rest.substr(pos, end - pos);
    if (part == "." || part == "..")
      return MakeError(Errc::kInvalidArgument, "invalid path: \".\" and \"..\" segments are not allowed");
    if (!part.empty()) parts.emplace_back(part);
    pos = end + 1;
  }
  return parts;
}

// The media types named in Accept, in order, each with its parameters.
struct AcceptEntry {
  std::string type;
  std::map<std::string, std::string> params;
};

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::vector<AcceptEntry> ParseAccept(std::string_view accept) {
  std::vector<AcceptEntry> out;
  size_t pos = 0;
  while (pos < accept.size()) {
    size_t end = accept.find(',', pos);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view item = accept.substr(pos, end - pos);
    pos = end + 1;
    AcceptEntry e;
    size_t semi = item.find(';');
    e.type = Trim(item.substr(0, semi));
    while (semi != std::string_view::npos) {
      size_t next = item.find(';', semi + 1);
      std::string_view kv = item.substr(semi + 1, next == std::string_view::npos ? std::string_view::npos : next - semi - 1);
      size_t eq = kv.find('=');
      if (eq != std::string_view::npos) e.params[Trim(kv.substr(0, eq))] = Trim(kv.substr(eq + 1));
      semi = next;
    }
    if (!e.type.empty()) out.push_back(std::move(e));
  }
  return out;
}

Result<int64_t> ParseInt(std::string_view s) {
  if (s.empty() || s.size() > 19) return MakeError(Errc::kInvalidArgument, "bad number");
  bool neg = s.front() == '-';
  if (neg) s.remove_prefix(1);
  if (s.empty()) return MakeError(Errc::kInvalidArgument, "bad number");
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return MakeError(Errc::kInvalidArgument, "bad number");
    v = v * 10 + (c - '0');
  }
  return neg ? -v : v;
}

// entity-bytes=from:to against a file of `size` bytes (spec: inclusive, "*" = the end,
// negative = from the end).
Result<ByteRange> ParseEntityBytes(std::string_view text, uint64_t size) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    return MakeError(Errc::kInvalidArgument, "entity-bytes must be from:to");
  auto from = ParseInt(text.substr(0, colon));
  if (!from.ok()) return MakeError(Errc::kInvalidArgument, "entity-bytes: bad 'from'");
  std::string_view to_text = text.substr(colon + 1);
  std::optional<int64_t> to;
  if (to_text != "*") {
    auto t = ParseInt(to_text);
    if (!t.ok()) return MakeError(Errc::kInvalidArgument, "entity-bytes: bad 'to'");
    to = *t;
  }
  if (*from >= 0 && to && *to >= 0 && *to < *from)
    return MakeError(Errc::kInvalidArgument, "entity-bytes: 'to' is before 'from'");
  const int64_t isize = static_cast<int64_t>(size);
  int64_t f = *from < 0 ? std::max<int64_t>(0, isize + *from) : *from;
  int64_t t = !to ? isize - 1 : *to < 0 ? isize + *to : std::min(*to, isize - 1);
  ByteRange r;
  if (size == 0 || f >= isize || t < f) {
    r.empty = true;
    return r;
  }
  r.from = static_cast<uint64_t>(f);
  r.to = static_cast<uint64_t>(t);
  return r;
}

// The file size a block stands for (raw: its length; a UnixFS file node: its filesize), or
// nullopt when it is not a file.
std::optional<uint64_t> FileSizeOf(const Cid& cid, ByteView data) {
  if (cid.codec() == codec::kRaw) return data.size();
  if (cid.codec() != codec::kDagPb) return std::nullopt;
  auto node = DecodePbNode(data);
  if (!node.ok() || !node->data) return std::nullopt;
  auto ud = DecodeUnixfs(*node->data);
  if (!ud.ok() || (ud->type != UnixfsType::kFile && ud->type != UnixfsType::kRaw)) return std::nullopt;
  return ud->FileSize();
}

std::string Hex64(uint64_t v) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; i--, v >>= 4) s[static_cast<size_t>(i)] = kDigits[v & 15];
  return s;
}

// FNV-1a: stable across runs and builds (an ETag must not change on restart).
uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void AddImmutableHeaders(ServerResponse& r, const std::string& etag, const std::string& ipfs_path) {
  r.With("Cache-Control", kImmutableCacheControl);
  r.With("ETag", etag);
  r.With("X-Content-Type-Options", "nosniff");
  r.With("X-Ipfs-Path", ipfs_path);
  r.With("Vary", "Accept");
}

bool IfNoneMatch(const ServerRequest& req, const std::string& etag) {
  const std::string& inm = req.Header("if-none-match");
  if (inm.empty()) return false;
  if (Trim(inm) == "*") return true;
  for (const auto& e : ParseAccept(inm))  // a comma list; the same splitter serves
    if (e.type == etag || e.type == "W/" + etag) return true;
  return false;
}

// One byte range of a raw block ("bytes=a-b", "bytes=a-", "bytes=-n"). nullopt: no Range, or
// one we do not serve partially (several ranges, another unit): the whole block is sent.
struct RawRange {
  bool satisfiable = true;
  uint64_t from = 0, to = 0;
};
std::optional<RawRange> ParseRange(const std::string& header, uint64_t size) {
  if (header.rfind("bytes=", 0) != 0) return std::nullopt;
  std::string_view spec = std::string_view(header).substr(6);
  if (spec.find(',') != std::string_view::npos) return std::nullopt;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string a = Trim(spec.substr(0, dash)), b = Trim(spec.substr(dash + 1));
  RawRange r;
  if (a.empty()) {
    auto n = ParseInt(b);
    if (!n.ok() || *n < 0) return std::nullopt;
    if (*n == 0 || size == 0) return RawRange{false, 0, 0};
    const uint64_t len = std::min<uint64_t>(static_cast<uint64_t>(*n), size);
    return RawRange{true, size - len, size - 1};
  }
  auto f = ParseInt(a);
  if (!f.ok() || *f < 0) return std::nullopt;
  r.from = static_cast<uint64_t>(*f);
  if (b.empty()) {
    r.to = size ? size - 1 : 0;
  } else {
    auto t = ParseInt(b);
    if (!t.ok() || *t < *f) return std::nullopt;
    r.to = std::min<uint64_t>(static_cast<uint64_t>(*t), size ? size - 1 : 0);
  }
  if (r.from >= size) r.satisfiable = false;
  return r;
}

}  // namespace

GatewayHandler::GatewayHandler(std::shared_ptr<BlockGetter> blocks, std::shared_ptr<NameSys> names)
    : blocks_(std::move(blocks)), names_(std::move(names)) {}

ServerResponse GatewayHandler::Handle(const ServerRequest& req) {
  std::string_view path = req.path;
  if (path.rfind("/ipfs/", 0) == 0) return HandleIpfs(req, path.substr(6));
  if (path.rfind("/ipns/", 0) == 0) return HandleIpns(req, path.substr(6));
  return Fail(404, "not found: this trustless gateway serves /ipfs/<cid> and /ipns/<name>");
}

ServerResponse GatewayHandler::HandleIpfs(const ServerRequest& req, std::string_view rest) {
  const size_t slash = rest.find('/');
  const std::string cid_text(rest.substr(0, slash));
  auto root = Cid::Parse(cid_text);
  if (!root.ok()) return Fail(400, "invalid CID \"" + cid_text + "\": " + root.error().message);
  auto parts = SplitPath(slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1));
  if (!parts.ok()) return ErrorResponse(parts.error());
  std::string sub;  // "a/b"
  for (const auto& p : *parts) sub += (sub.empty() ? "" : "/") + p;
  const std::string ipfs_path = "/ipfs/" + cid_text + (sub.empty() ? "" : "/" + sub);

  // The response format: ?format= wins over Accept.
  std::string format;
  std::map<std::string, std::string> car_params;
  if (auto f = req.Query("format")) {
    format = *f;
  } else {
    for (const auto& e : ParseAccept(req.Header("accept"))) {
      if (e.type == kRawType) format = "raw";
      else if (e.type == kCarType) { format = "car"; car_params = e.params; }
      else if (e.type == kIpnsType) format = "ipns-record";
      if (!format.empty()) break;
    }
  }
  if (format.empty())
    return Fail(406, "this is a trustless gateway: ask for ?format=raw or ?format=car (or the Accept types "
                     "application/vnd.ipld.raw, application/vnd.ipld.car)");
  if (format != "raw" && format != "car")
    return Fail(400, "unsupported format \"" + format + "\" for /ipfs (raw or car)");

  // only-if-cached: is the root block here without asking the network?
  if (req.Header("cache-control").find("only-if-cached") != std::string::npos && !root->is_identity() &&
      !blocks_->Has(*root))
    return Fail(412, "root block " + root->ToString() + " is not in the local repo or cache");

  // Resolve the path, recording the blocks that prove it.
  RecordingGetter recorder(*blocks_);
  Cid target = *root;
  {
    auto root_block = recorder.Get(*root);
    if (!root_block.ok()) return ErrorResponse(root_block.error());
  }
  if (!sub.empty()) {
    UnixfsReader reader(Borrow<BlockGetter>(recorder));
    auto t = reader.Resolve(*root, sub);
    if (!t.ok()) return ErrorResponse(t.error());
    target = *t;
  }
  auto target_block = blocks_->Get(target);
  if (!target_block.ok()) return ErrorResponse(target_block.error());

  if (format == "raw") {
    const ByteView data = target_block->data();
    const std::string etag = "\"" + target.ToString() + ".raw\"";
    ServerResponse r;
    AddImmutableHeaders(r, etag, ipfs_path);
    r.With("Content-Type", kRawType);
    r.With("Accept-Ranges", "bytes");
    r.With("Content-Disposition", "attachment; filename=\"" + target.ToString() + ".bin\"");
    if (IfNoneMatch(req, etag)) {
      r.status = 304;
      return r;
    }
    auto range = ParseRange(req.Header("range"), data.size());
    if (range && !range->satisfiable) {
      r.status = 416;
      r.With("Content-Range", "bytes */" + std::to_string(data.size()));
      return r;
    }
    size_t from = 0, len = data.size();
    if (range) {
      from = range->from;
      len = range->to - range->from + 1;
      r.status = 206;
      r.With("Content-Range", "bytes " + std::to_string(range->from) + "-" + std::to_string(range->to) + "/" +
                                  std::to_string(data.size()));
    }
    r.body.assign(reinterpret_cast<const char*>(data.data()) + from, len);
    return r;
  }

  // CAR parameters: car-* query arguments override the Accept parameters.
  auto param = [&](const char* query_name, const char* accept_name, const char* def) {
    if (auto q = req.Query(query_name)) return *q;
    auto it = car_params.find(accept_name);
    return it == car_params.end() ? std::string(def) : it->second;
  };
  const std::string version = param("car-version", "version", "1");
  const std::string order = param("car-order", "order", "dfs");
  const std::string dups = param("car-dups", "dups", "n");
  if (version != "1") return Fail(400, "unsupported CAR version \"" + version + "\" (only 1)");
  if (order != "dfs" && order != "unk") return Fail(400, "unsupported CAR order \"" + order + "\" (dfs)");
  if (dups != "y" && dups != "n") return Fail(400, "car dups must be y or n");
  const std::string scope_text = req.Query("dag-scope").value_or("all");
  Scope scope;
  if (scope_text == "block") scope = Scope::kBlock;
  else if (scope_text == "entity") scope = Scope::kEntity;
  else if (scope_text == "all") scope = Scope::kAll;
  else return Fail(400, "dag-scope must be block, entity or all");
  std::optional<ByteRange> range;
  std::string range_key;
  if (auto eb = req.Query("entity-bytes")) {
    if (scope == Scope::kBlock) return Fail(400, "entity-bytes needs dag-scope=entity");
    scope = Scope::kEntity;  // entity-bytes implies the entity scope
    if (auto size = FileSizeOf(target, target_block->data())) {
      auto r = ParseEntityBytes(*eb, *size);
      if (!r.ok()) return ErrorResponse(r.error());
      range = *r;
      range_key = r->empty ? "empty" : std::to_string(r->from) + "-" + std::to_string(r->to);
    } else {
      // Not a file: entity-bytes is ignored, but it must still be well formed.
      auto r = ParseEntityBytes(*eb, 0);
      if (!r.ok()) return ErrorResponse(r.error());
    }
  }
  const std::string scope_key = scope == Scope::kBlock ? "block" : scope == Scope::kEntity ? "entity" : "all";
  const std::string etag = "\"" + root->ToString() + ".car." +
                           Hex64(Fnv1a(sub + "\n" + scope_key + "\n" + dups + "\n" + range_key)) + "\"";
  ServerResponse r;
  AddImmutableHeaders(r, etag, ipfs_path);
  r.With("Content-Type", std::string(kCarType) + "; version=1; order=dfs; dups=" + dups);
  r.With("Content-Disposition", "attachment; filename=\"" + root->ToString() + ".car\"");
  if (IfNoneMatch(req, etag)) {
    r.status = 304;
    return r;
  }
  target_block = Block();  // the stream reads it again (a cache or repo hit) when it gets there
  auto stream = std::make_shared<CarStream>(blocks_, *root, recorder.order(), target, scope, range, dups == "y");
  r.reader = [stream](uint8_t* buf, size_t max) { return stream->Read(buf, max); };
  return r;
}

ServerResponse GatewayHandler::HandleIpns(const ServerRequest& req, std::string_view rest) {
  const std::string name_text(rest.substr(0, rest.find('/')));
  std::string format = req.Query("format").value_or("");
  if (format.empty())
    for (const auto& e : ParseAccept(req.Header("accept")))
      if (e.type == kIpnsType) format = "ipns-record";
  if (format != "ipns-record")
    return Fail(406, "this is a trustless gateway: /ipns/<name> serves ?format=ipns-record only");
  if (rest.find('/') != std::string_view::npos && rest.substr(rest.find('/')).size() > 1)
    return Fail(400, "an IPNS record request takes no path");
  auto name = IpnsName::Parse(name_text);
  if (!name.ok()) return Fail(400, "invalid IPNS name \"" + name_text + "\": " + name.error().message);
  if (!names_) return Fail(501, "no name system configured");
  auto hit = names_->ResolveRecord(*name);
  if (!hit.ok()) return ErrorResponse(hit.error());
  const IpnsRecord& rec = hit->record;
  ServerResponse r;
  const uint64_t ttl_s = std::max<uint64_t>(1, rec.ttl_ns / 1000000000ULL);
  r.With("Cache-Control", "public, max-age=" + std::to_string(ttl_s));
  r.With("Content-Type", kIpnsType);
  r.With("X-Content-Type-Options", "nosniff");
  r.With("Content-Disposition", "attachment; filename=\"" + name->ToString() + ".ipns-record\"");
  r.With("ETag", "\"" + name->ToString() + ".ipns." + Hex64(Fnv1a(std::string(rec.raw.begin(), rec.raw.end()))) + "\"");
  r.With("Vary", "Accept");
  r.body.assign(rec.raw.begin(), rec.raw.end());
  return r;
}

}  // namespace ipfskit
