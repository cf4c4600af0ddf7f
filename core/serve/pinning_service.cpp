#include "core/serve/pinning_service.h"

#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_set>

#include "core/source/gateway.h"
#include "core/source/http_client.h"
#include "core/source/source_chain.h"
#include "core/store/dag_links.h"

namespace ipfskit {

namespace {

constexpr std::string_view kKeyPrefix = "r/";

ByteView View(std::string_view s) { return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> NewRequestId() {
  uint8_t b[16];
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b))
    return MakeError(Errc::kIo, std::string("getrandom: ") + std::strerror(errno));
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) s += hex[x >> 4], s += hex[x & 15];
  return s;
}

nlohmann::json RecordJson(const PinRequest& r) {
  return {{"requestid", r.requestid}, {"cid", r.cid},         {"name", r.name},
          {"origins", r.origins},     {"meta", r.meta},       {"created_ns", r.created_ns},
          {"status", PinStateName(r.status)}, {"info", r.info}, {"pinned_before", r.pinned_before}};
}

std::optional<PinRequest> RecordFromJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    PinRequest r;
    r.requestid = j.at("requestid").get<std::string>();
    r.cid = j.at("cid").get<std::string>();
    r.name = j.value("name", "");
    r.origins = j.value("origins", std::vector<std::string>{});
    r.meta = j.value("meta", std::map<std::string, std::string>{});
    r.created_ns = j.at("created_ns").get<int64_t>();
    auto st = ParsePinState(j.at("status").get<std::string>());
    if (!st) return std::nullopt;
    r.status = *st;
    r.info = j.value("info", std::map<std::string, std::string>{});
    r.pinned_before = j.value("pinned_before", false);
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool NameMatches(const PinQuery& q, const std::string& name) {
  if (q.name.empty()) return true;
  switch (q.match) {
    case PinQuery::Match::kExact: return name == q.name;
    case PinQuery::Match::kIExact: return Lower(name) == Lower(q.name);
    case PinQuery::Match::kPartial: return name.find(q.name) != std::string::npos;
    case PinQuery::Match::kIPartial: return Lower(name).find(Lower(q.name)) != std::string::npos;
  }
  return false;
}

bool SameCid(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto ca = Cid::Parse(a), cb = Cid::Parse(b);
  return ca.ok() && cb.ok() && *ca == *cb;
}

// Blocks for one request: what the node has locally, then the request's origins, then the node's
// sources.
class OriginFirstGetter : public BlockGetter {
 public:
  OriginFirstGetter(std::shared_ptr<BlockGetter> node, std::shared_ptr<BlockGetter> origins)
      : node_(std::move(node)), origins_(std::move(origins)) {}
  Result<Block> Get(const Cid& cid) override {
    if (!origins_ || node_->Has(cid)) return node_->Get(cid);
    auto b = origins_->Get(cid);
    if (b.ok()) return b;
    auto n = node_->Get(cid);
    if (n.ok()) return n;
    return MakeError(n.error().code, n.error().message + "; origins: " + b.error().message);
  }
  bool Has(const Cid& cid) override { return node_->Has(cid); }
  void Prefetch(std::span<const Cid> cids) override { node_->Prefetch(cids); }

 private:
  std::shared_ptr<BlockGetter> node_, origins_;
};

}  // namespace

const char* PinStateName(PinState s) {
  switch (s) {
    case PinState::kQueued: return "queued";
    case PinState::kPinning: return "pinning";
    case PinState::kPinned: return "pinned";
    case PinState::kFailed: return "failed";
  }
  return "failed";
}

std::optional<PinState> ParsePinState(std::string_view s) {
  if (s == "queued") return PinState::kQueued;
  if (s == "pinning") return PinState::kPinning;
  if (s == "pinned") return PinState::kPinned;
  if (s == "failed") return PinState::kFailed;
  return std::nullopt;
}

std::optional<std::string> HttpMultiaddrToUrl(std::string_view maddr) {
  std::vector<std::string> parts;
  size_t pos = 0;
  if (maddr.empty() || maddr[0] != '/') return std::nullopt;
  while (pos < maddr.size()) {
    size_t next = maddr.find('/', pos + 1);
    parts.emplace_back(maddr.substr(pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1));
    if (next == std::string_view::npos) break;
    pos = next;
  }
  if (parts.size() < 5) return std::nullopt;
  const std::string& proto = parts[0];
  std::string host = parts[1];
  if (host.empty() || parts[2] != "tcp") return std::nullopt;
  if (proto == "ip6") host = "[" + host + "]";
  else if (proto != "ip4" && proto != "dns" && proto != "dns4" && proto != "dns6") return std::nullopt;
  const std::string& port = parts[3];
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) > 65535)
    return std::nullopt;
  std::string scheme;
  size_t rest = 5;
  if (parts[4] == "http" || parts[4] == "https") {
    scheme = parts[4];
  } else if (parts[4] == "tls" && parts.size() >= 6 && parts[5] == "http") {
    scheme = "https";
    rest = 6;
  } else {
    return std::nullopt;
  }
  if (rest < parts.size() && !(parts[rest] == "p2p" && rest + 2 == parts.size())) return std::nullopt;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      return std::nullopt;
  return scheme + "://" + host + ":" + port;
}

Result<std::unique_ptr<PinningService>> PinningService::Open(std::shared_ptr<Repo> repo,
                                                             std::shared_ptr<BlockGetter> blocks,
                                                             PinningOptions options) {
  std::unique_ptr<PinningService> s(new PinningService());
  s->repo_ = std::move(repo);
  s->blocks_ = std::move(blocks);
  s->options_ = std::move(options);
  if (s->options_.workers == 0) s->options_.workers = 1;
  IPFSKIT_ASSIGN_OR_RETURN(s->db_, s->repo_->OpenDb("pinsvc"));
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, s->repo_->BeginRead({s->db_}));
  size_t bad = 0;
  IPFSKIT_TRY_STATUS(txn.ForEach(s->db_, [&](ByteView key, ByteView value) {
    std::string_view k(reinterpret_cast<const char*>(key.data()), key.size());
    if (k.substr(0, kKeyPrefix.size()) != kKeyPrefix) return true;
    auto r = RecordFromJson(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
    if (!r) {
      ++bad;
      return true;
    }
    if (r->status == PinState::kPinning) r->status = PinState::kQueued;  // resumes at Start
    s->last_created_ns_ = std::max(s->last_created_ns_, r->created_ns);
    s->by_created_[r->created_ns] = r->requestid;
    s->requests_[r->requestid] = std::move(*r);
    return true;
  }));
  if (bad) return MakeError(Errc::kMalformed, "pinsvc: " + std::to_string(bad) + " unreadable pin request records");
  return s;
}

PinningService::~PinningService() { Stop(); }

void PinningService::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stop_) return;
  started_ = true;
  // Oldest first, as they were queued.
  for (const auto& [created, id] : by_created_) {
    const PinRequest& r = requests_.at(id);
    if (r.status == PinState::kQueued || r.status == PinState::kPinning) {
      queue_.push_back(id);
      ++active_;
    }
  }
  for (size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Worker(); });
}

void PinningService::Stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (auto& [id, flag] : cancel_) flag->store(true);
    workers.swap(workers_);
  }
  cv_.notify_all();
  done_cv_.notify_all();
  for (auto& t : workers) t.join();
}

Status PinningService::PersistLocked(const PinRequest& r) {
  std::string key = std::string(kKeyPrefix) + r.requestid;
  std::string value = RecordJson(r).dump();
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  IPFSKIT_TRY_STATUS(txn.Put(db_, View(key), View(value)));
  return txn.Commit();
}

Status PinningService::EraseLocked(const std::string& requestid) {
  std::string key = std::string(kKeyPrefix) + requestid;
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  IPFSKIT_TRY_STATUS(txn.Del(db_, View(key)));
  return txn.Commit();
}

Result<PinRequest> PinningService::AddLocked(const Cid& cid, const std::string& cid_text, std::string name,
                                             std::vector<std::string> origins,
                                             std::map<std::string, std::string> meta,
                                             std::optional<bool> pinned_before) {
  if (active_ >= options_.max_active)
    return MakeError(Errc::kUnavailable, "too many pin requests in progress (" + std::to_string(active_) + ")");
  if (requests_.size() >= options_.max_requests)
    return MakeError(Errc::kUnavailable, "too many pin requests kept (" + std::to_string(requests_.size()) + ")");
  PinRequest r;
  IPFSKIT_ASSIGN_OR_RETURN(r.requestid, NewRequestId());
  r.cid = cid_text;
  r.name = std::move(name);
  r.origins = std::move(origins);
  r.meta = std::move(meta);
  r.created_ns = std::max(NowNs(), last_created_ns_ + 1);
  r.status = PinState::kQueued;
  if (!pinned_before) {
    for (const auto& [id, other] : requests_)
      if (SameCid(other.cid, cid_text)) {
        pinned_before = other.pinned_before;
        break;
      }
  }
  r.pinned_before = pinned_before ? *pinned_before : repo_->PinnedAs(cid).has_value();
  IPFSKIT_TRY_STATUS(PersistLocked(r));
  last_created_ns_ = r.created_ns;
  by_created_[r.created_ns] = r.requestid;
  requests_[r.requestid] = r;
  queue_.push_back(r.requestid);
  ++active_;
  cv_.notify_one();
  return r;
}

Result<PinRequest> PinningService::Add(const std::string& cid_text, std::string name, std::vector<std::string> origins,
                                       std::map<std::string, std::string> meta) {
  auto cid = Cid::Parse(cid_text);
  if (!cid.ok()) return MakeError(Errc::kInvalidArgument, "invalid CID \"" + cid_text + "\": " + cid.error().message);
  std::lock_guard<std::mutex> lock(mu_);
  return AddLocked(*cid, cid_text, std::move(name), std::move(origins), std::move(meta), std::nullopt);
}

Result<PinRequest> PinningService::Replace(const std::string& requestid, const std::string& cid_text,
                                           std::string name, std::vector<std::string> origins,
                                           std::map<std::string, std::string> meta) {
  auto cid = Cid::Parse(cid_text);
  if (!cid.ok()) return MakeError(Errc::kInvalidArgument, "invalid CID \"" + cid_text + "\": " + cid.error().message);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(requestid);
  if (it == requests_.end()) return MakeError(Errc::kNotFound, "no pin request " + requestid);
  std::optional<bool> before;
  if (SameCid(it->second.cid, cid_text)) before = it->second.pinned_before;
  // The old one still counts as active while the new one is checked against the bound.
  if (it->second.status == PinState::kQueued || it->second.status == PinState::kPinning) --active_;
  auto added = AddLocked(*cid, cid_text, std::move(name), std::move(origins), std::move(meta), before);
  if (it->second.status == PinState::kQueued || it->second.status == PinState::kPinning) ++active_;
  if (!added.ok()) return added;
  RemoveLocked(requests_.find(requestid));
  return added;
}

std::optional<PinRequest> PinningService::Get(const std::string& requestid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(requestid);
  if (it == requests_.end()) return std::nullopt;
  return it->second;
}

PinList PinningService::List(const PinQuery& q) {
  PinList out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = by_created_.rbegin(); it != by_created_.rend(); ++it) {
    const PinRequest& r = requests_.at(it->second);
    if (q.before_ns && !(r.created_ns < *q.before_ns)) continue;
    if (q.after_ns && !(r.created_ns > *q.after_ns)) continue;
    if (!q.statuses.empty() && std::find(q.statuses.begin(), q.statuses.end(), r.status) == q.statuses.end())
      continue;
    if (!NameMatches(q, r.name)) continue;
    if (!q.cids.empty()) {
      auto c = Cid::Parse(r.cid);
      if (!c.ok() || std::find(q.cids.begin(), q.cids.end(), *c) == q.cids.end()) continue;
    }
    bool meta_ok = true;
    for (const auto& [k, v] : q.meta) {
      auto m = r.meta.find(k);
      if (m == r.meta.end() || m->second != v) meta_ok = false;
    }
    if (!meta_ok) continue;
    ++out.count;
    if (out.results.size() < q.limit) out.results.push_back(r);
  }
  return out;
}

void PinningService::RemoveLocked(std::map<std::string, PinRequest>::iterator it) {
  PinRequest r = std::move(it->second);
  requests_.erase(it);
  by_created_.erase(r.created_ns);
  if (auto c = cancel_.find(r.requestid); c != cancel_.end()) c->second->store(true);
  if (r.status == PinState::kQueued || r.status == PinState::kPinning) {
    --active_;
    queue_.erase(std::remove(queue_.begin(), queue_.end(), r.requestid), queue_.end());
  }
  // Best effort: a record that stays in LMDB comes back at the next start, which is the safe side.
  (void)EraseLocked(r.requestid);
  if (r.status == PinState::kPinned && !r.pinned_before) {
    bool still_wanted = false;
    for (const auto& [id, other] : requests_)
      if (other.status != PinState::kFailed && SameCid(other.cid, r.cid)) still_wanted = true;
    if (!still_wanted)
      if (auto c = Cid::Parse(r.cid); c.ok()) (void)repo_->Unpin(*c);
  }
  done_cv_.notify_all();
}

Status PinningService::Remove(const std::string& requestid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(requestid);
  if (it == requests_.end()) return MakeError(Errc::kNotFound, "no pin request " + requestid);
  RemoveLocked(it);
  return Status::Ok();
}

std::optional<PinRequest> PinningService::WaitDone(const std::string& requestid, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [&] {
    auto it = requests_.find(requestid);
    return it == requests_.end() || stop_ ||
           (it->second.status != PinState::kQueued && it->second.status != PinState::kPinning);
  };
  done_cv_.wait_for(lock, timeout, done);
  auto it = requests_.find(requestid);
  if (it == requests_.end()) return std::nullopt;
  return it->second;
}

void PinningService::Worker() {
  for (;;) {
    std::string id;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      id = std::move(queue_.front());
      queue_.pop_front();
    }
    Fetch(id);
  }
}

std::shared_ptr<BlockGetter> PinningService::OriginGetter(const std::vector<std::string>& origins) {
  if (!options_.use_origins) return nullptr;
  std::vector<std::string> urls;
  for (const auto& o : origins)
    if (auto u = HttpMultiaddrToUrl(o)) urls.push_back(*u);
  if (urls.empty()) return nullptr;
  if (options_.origin_getter) return options_.origin_getter(urls);
  std::shared_ptr<HttpClient> http;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!origin_http_) origin_http_ = std::make_shared<HttpClient>();
    http = std::static_pointer_cast<HttpClient>(origin_http_);
  }
  RemoteOptions ro;
  std::vector<std::shared_ptr<RemoteSource>> remotes;
  for (const auto& u : urls) remotes.push_back(std::make_shared<GatewaySource>(u, http, ro));
  ChainOptions co;
  co.overall_timeout = std::chrono::seconds(30);
  co.max_rounds = 2;
  co.prefetch_workers = 0;
  return std::make_shared<SourceChain>(nullptr, nullptr, std::move(remotes), co);
}

void PinningService::Fetch(const std::string& id) {
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  std::string cid_text;
  std::vector<std::string> origins;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    it->second.status = PinState::kPinning;
    it->second.info.erase("error");
    cid_text = it->second.cid;
    origins = it->second.origins;
    cancel_[id] = cancelled;
    (void)PersistLocked(it->second);
  }
  uint64_t blocks = 0, bytes = 0;
  auto finish = [&](std::optional<Error> err) {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_.erase(id);
    auto it = requests_.find(id);
    if (it == requests_.end()) return;  // removed meanwhile: nothing to pin
    // Stopping: the fetch may have failed only because of it; it stays `pinning` in the
    // database and resumes at the next start.
    if (stop_) return;
    PinRequest& r = it->second;
    if (!err) {
      auto cid = Cid::Parse(r.cid);
      Status st = cid.ok() ? repo_->Pin(*cid, PinType::kRecursive) : Status(cid.error());
      if (!st.ok()) err = st.error();
    }
    r.status = err ? PinState::kFailed : PinState::kPinned;
    r.info["blocks_fetched"] = std::to_string(blocks);
    r.info["bytes_fetched"] = std::to_string(bytes);
    if (err) r.info["error"] = err->message;
    --active_;
    (void)PersistLocked(r);
    done_cv_.notify_all();
  };

  auto root = Cid::Parse(cid_text);
  if (!root.ok()) return finish(root.error());
  std::shared_ptr<BlockGetter> getter = blocks_;
  if (auto o = OriginGetter(origins)) getter = std::make_shared<OriginFirstGetter>(blocks_, o);
  // The writer's lease keeps written blocks from a concurrent gc until the pin is in.
  auto writer = repo_->NewWriter(16 << 20);
  std::unordered_set<Cid> seen;
  std::vector<Cid> stack{*root};
  while (!stack.empty()) {
    if (cancelled->load() || stop_) {
      std::lock_guard<std::mutex> lock(mu_);
      cancel_.erase(id);
      return;  // removed (nothing to do) or stopping (resumes at the next start)
    }
    Cid cid = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(cid).second) continue;
    std::vector<Cid> links;
    {
      auto blk = getter->Get(cid);
      if (!blk.ok())
        return finish(MakeError(blk.error().code, "cannot fetch block " + cid.ToString() + ": " + blk.error().message));
      auto l = DagLinks(cid, blk->data());
      if (!l.ok()) return finish(MakeError(l.error().code, "block " + cid.ToString() + ": " + l.error().message));
      links = std::move(*l);
      if (!cid.is_identity() && !repo_->Has(cid)) {
        Status st = writer->Put(cid, blk->data());
        if (!st.ok()) return finish(st.error());
      }
      ++blocks;
      bytes += blk->size();
    }
    if (!links.empty()) getter->Prefetch(links);
    for (auto it = links.rbegin(); it != links.rend(); ++it)
      if (!seen.count(*it)) stack.push_back(*it);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = requests_.find(id); it != requests_.end()) {
        it->second.info["blocks_fetched"] = std::to_string(blocks);
        it->second.info["bytes_fetched"] = std::to_string(bytes);
      }
    }
  }
  if (Status st = writer->Flush(); !st.ok()) return finish(st.error());
  finish(std::nullopt);
}

}  // namespace ipfskit
