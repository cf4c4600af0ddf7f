#include "core/ipns/namesys.h"

#include <algorithm>
#include <cstring>

#include "core/multiformats/cid.h"
#include "core/source/http_client.h"
#include "core/util/duration.h"
#include "core/util/log.h"

namespace ipfskit {
namespace {

constexpr int kMaxHops = 32;
constexpr const char* kRecordType = "application/vnd.ipfs.ipns-record";
constexpr int64_t kNsPerMs = 1000000;

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string RecKey(const IpnsName& n) {
  std::string k = "rec/";
  k.append(reinterpret_cast<const char*>(n.multihash().data()), n.multihash().size());
  return k;
}
std::string DnsKey(const std::string& domain) { return "dns/" + domain; }

void PutU64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t GetU64(ByteView in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{in[i]} << (8 * i);
  return v;
}

// rec/ values: received (8, LE ns) ‖ source length (1) ‖ source ‖ raw record.
Bytes EncodeHit(const NameSys::RecordHit& h) {
  Bytes out;
  PutU64(out, static_cast<uint64_t>(h.received));
  std::string src = h.source.substr(0, 255);
  out.push_back(static_cast<uint8_t>(src.size()));
  Append(out, AsBytes(src));
  Append(out, h.record.raw);
  return out;
}
struct RawHit {
  UnixNanos received = 0;
  std::string source;
  Bytes raw;
};
std::optional<RawHit> DecodeHit(ByteView v) {
  if (v.size() < 9) return std::nullopt;
  RawHit h;
  h.received = static_cast<UnixNanos>(GetU64(v));
  size_t n = v[8];
  if (v.size() < 9 + n) return std::nullopt;
  h.source.assign(reinterpret_cast<const char*>(v.data() + 9), n);
  h.raw.assign(v.begin() + 9 + n, v.end());
  return h;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "/ipfs/<cid>[/…]" or "/ipns/<name>[/…]".
Status CheckValuePath(const std::string& v) {
  if (StartsWith(v, "/ipfs/")) {
    std::string_view rest = std::string_view(v).substr(6);
    auto cid = Cid::Parse(rest.substr(0, rest.find('/')));
    if (!cid.ok()) return MakeError(Errc::kInvalidArgument, "invalid path \"" + v + "\": " + cid.error().message);
    return Status::Ok();
  }
  if (StartsWith(v, "/ipns/") && v.size() > 6) return Status::Ok();
  return MakeError(Errc::kInvalidArgument, "invalid path \"" + v + "\": must start with /ipfs/ or /ipns/");
}

std::string JoinPath(std::string value, const std::string& rest) {
  while (value.size() > 1 && value.back() == '/') value.pop_back();
  if (rest.empty()) return value;
  return value + "/" + rest;
}

}  // namespace

Result<int64_t> ParseDurationMs(const nlohmann::json& v, const std::string& key) {
  if (v.is_number_integer()) {
    if (v.get<int64_t>() < 0) return MakeError(Errc::kInvalidArgument, "config " + key + " must not be negative");
    return v.get<int64_t>();
  }
  if (v.is_string()) {
    auto d = ParseGoDuration(v.get<std::string>());
    if (!d.ok()) return MakeError(Errc::kInvalidArgument, "config " + key + ": " + d.error().message);
    return *d;
  }
  return MakeError(Errc::kInvalidArgument, "config " + key + " must be a duration (\"5m\") or milliseconds");
}

Result<IpnsSettings> IpnsSettingsFromConfig(const Config& c) {
  IpnsSettings s;
  s.offline = c.offline;
  s.gateways = c.gateways;
  const nlohmann::json& raw = c.raw;
  auto urls = [](const nlohmann::json& j, const std::string& key, std::vector<std::string>& out) -> Status {
    if (j.is_null()) return Status::Ok();
    if (!j.is_array()) return MakeError(Errc::kInvalidArgument, "config " + key + " must be a list of URLs");
    for (const auto& u : j) {
      if (!u.is_string() || !(StartsWith(u.get<std::string>(), "http://") || StartsWith(u.get<std::string>(), "https://")))
        return MakeError(Errc::kInvalidArgument, "config " + key + " must be a list of http(s) URLs");
      out.push_back(TrimSlash(u.get<std::string>()));
    }
    return Status::Ok();
  };
  bool use_kubo = true;
  if (raw.contains("ipns")) {
    const nlohmann::json& j = raw["ipns"];
    if (!j.is_object()) return MakeError(Errc::kInvalidArgument, "config ipns must be an object");
    if (j.contains("routers")) IPFSKIT_TRY_STATUS(urls(j["routers"], "ipns.routers", s.routers));
    if (j.contains("publishers")) IPFSKIT_TRY_STATUS(urls(j["publishers"], "ipns.publishers", s.publishers));
    auto boolean = [&](const char* k, bool& out) -> Status {
      if (!j.contains(k)) return Status::Ok();
      if (!j[k].is_boolean()) return MakeError(Errc::kInvalidArgument, std::string("config ipns.") + k + " must be true or false");
      out = j[k].get<bool>();
      return Status::Ok();
    };
    IPFSKIT_TRY_STATUS(boolean("serve_expired", s.serve_expired));
    IPFSKIT_TRY_STATUS(boolean("kubo", use_kubo));
    auto dur = [&](const char* k, int64_t& out) -> Status {
      if (!j.contains(k) || j[k].is_null()) return Status::Ok();
      auto d = ParseDurationMs(j[k], std::string("ipns.") + k);
      if (!d.ok()) return d.error();
      out = *d;
      return Status::Ok();
    };
    IPFSKIT_TRY_STATUS(dur("max_cache_ttl", s.max_cache_ttl_ms));
    IPFSKIT_TRY_STATUS(dur("timeout_ms", s.timeout_ms));
    IPFSKIT_TRY_STATUS(dur("grace_ms", s.grace_ms));
    IPFSKIT_TRY_STATUS(dur("republish_period", s.republish_period_ms));
    IPFSKIT_TRY_STATUS(dur("record_lifetime", s.record_lifetime_ms));
    IPFSKIT_TRY_STATUS(dur("dns_max_stale", s.dns_max_stale_ms));
    if (s.timeout_ms <= 0) return MakeError(Errc::kInvalidArgument, "config ipns.timeout_ms must be positive");
    if (s.record_lifetime_ms <= 0) return MakeError(Errc::kInvalidArgument, "config ipns.record_lifetime must be positive");
    if (s.republish_period_ms < 60000 || s.republish_period_ms > 24LL * 3600 * 1000)
      return MakeError(Errc::kInvalidArgument, "config ipns.republish_period must be between 1m and 24h (as Kubo's)");
  }
  if (use_kubo && !c.kubo_api_is_default && !c.kubo_api.empty()) s.kubo_api = TrimSlash(c.kubo_api);
  if (raw.contains("dns")) {
    const nlohmann::json& j = raw["dns"];
    if (!j.is_object()) return MakeError(Errc::kInvalidArgument, "config dns must be an object");
    if (j.contains("resolvers") && !j["resolvers"].is_null()) {
      if (!j["resolvers"].is_object())
        return MakeError(Errc::kInvalidArgument, "config dns.resolvers must map domain suffixes to resolvers");
      for (auto it = j["resolvers"].begin(); it != j["resolvers"].end(); ++it) {
        if (!it.value().is_string())
          return MakeError(Errc::kInvalidArgument, "config dns.resolvers[\"" + it.key() + "\"] must be a string");
        s.dns_resolvers[it.key()] = it.value().get<std::string>();
      }
    }
    if (j.contains("timeout_ms")) {
      auto d = ParseDurationMs(j["timeout_ms"], "dns.timeout_ms");
      if (!d.ok()) return d.error();
      s.dns_timeout_ms = std::max<int64_t>(1, *d);
    }
  }
  return s;
}

nlohmann::json IpnsStats::ToJson() const {
  return nlohmann::json{{"resolutions", resolutions},       {"cache_hits", cache_hits},
                        {"stale_serves", stale_serves},     {"expired_serves", expired_serves},
                        {"refreshes", refreshes},           {"network_lookups", network_lookups},
                        {"rejected", rejected},             {"publishes", publishes},
                        {"publish_failures", publish_failures}, {"republishes", republishes},
                        {"dnslink_lookups", dnslink_lookups}};
}

// One parallel record lookup. Shared with the HTTP callbacks, which may outlive the caller's
// wait (a late answer only updates this struct).
struct NameSys::Query {
  std::mutex mu;
  std::condition_variable cv;
  int pending = 0;
  std::optional<RecordHit> best;
  std::chrono::steady_clock::time_point first_good;
  std::vector<std::string> errors;
  std::vector<IpnsReject> rejects;
  int no_record = 0;
  std::vector<std::string> outcomes;  // "<kind>:<ok|none|rejected|error>", not yet counted
  bool answered = false;  // the caller has its answer; a better late record goes to the cache
  std::string answered_value;
  IpnsName name;
  std::optional<RecordHit> stored;  // what was cached for this query
};

void NameSys::TakeOutcomesLocked(Query& q) {
  std::lock_guard<std::mutex> lk(stats_mu_);
  for (const auto& o : q.outcomes) stats_.resolutions[o]++;
  for (IpnsReject r : q.rejects) stats_.rejected[IpnsRejectName(r)]++;
  q.outcomes.clear();
  q.rejects.clear();
}

void NameSys::HarvestLate() {
  std::vector<std::shared_ptr<Query>> done;
  {
    std::lock_guard<std::mutex> lk(late_mu_);
    for (auto it = late_.begin(); it != late_.end();) {
      std::lock_guard<std::mutex> qlk((*it)->mu);
      if ((*it)->pending == 0) {
        done.push_back(*it);
        it = late_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& q : done) {
    std::optional<RecordHit> best;
    std::string answered;
    {
      std::lock_guard<std::mutex> lk(q->mu);
      TakeOutcomesLocked(*q);
      best = q->best;
      answered = q->answered_value;
    }
    if (!best) continue;
    // StoreRecord keeps whatever is better of this and what is stored.
    auto before = LoadRecord(q->name);
    if (before && CompareIpnsRecords(before->record, best->record) >= 0) continue;
    StoreRecordLater(q->name, *best);
    if (before && before->record.value != best->record.value) {
      std::lock_guard<std::mutex> lk(change_mu_);
      if (on_change_) on_change_(q->name.ToString());
    }
  }
}

Result<std::shared_ptr<NameSys>> NameSys::Open(std::shared_ptr<Repo> repo, IpnsSettings settings,
                                              std::shared_ptr<HttpClient> http) {
  std::shared_ptr<NameSys> ns(new NameSys());
  ns->repo_ = repo;
  IPFSKIT_ASSIGN_OR_RETURN(ns->db_, repo->OpenDb("ipns"));
  ns->settings_ = std::move(settings);
  ns->http_ = http ? std::move(http) : std::make_shared<HttpClient>();
  IPFSKIT_ASSIGN_OR_RETURN(Keystore ks, Keystore::Open(repo->path() + "/keystore"));
  ns->keystore_ = std::make_unique<Keystore>(std::move(ks));
  IPFSKIT_ASSIGN_OR_RETURN(DnsResolverSet dns, DnsResolverSet::FromConfig(ns->settings_.dns_resolvers, ns->http_));
  ns->dns_ = std::make_unique<DnsResolverSet>(std::move(dns));
  return ns;
}

NameSys::~NameSys() { Shutdown(); }

void NameSys::Shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lk(bg_mu_);
    stopping_ = true;
    bg_queue_.clear();
    threads.swap(bg_threads_);
  }
  bg_cv_.notify_all();
  for (auto& t : threads)
    if (t.joinable()) t.join();
  FlushStores();  // records received but not yet written
}

void NameSys::SetOnChange(std::function<void(const std::string&)> fn) {
  std::lock_guard<std::mutex> lk(change_mu_);
  on_change_ = std::move(fn);
}

void NameSys::Count(std::map<std::string, uint64_t> IpnsStats::*field, const std::string& key) {
  std::lock_guard<std::mutex> lk(stats_mu_);
  (stats_.*field)[key]++;
}

IpnsStats NameSys::Stats() const {
  std::lock_guard<std::mutex> lk(stats_mu_);
  return stats_;
}

UnixNanos NameSys::RecordTtl(const IpnsRecord& r, UnixNanos now) const {
  int64_t ttl = r.ttl_ns > 0 ? static_cast<int64_t>(std::min<uint64_t>(r.ttl_ns, INT64_MAX / 2))
                             : settings_.default_ttl_ms * kNsPerMs;
  ttl = std::min<int64_t>(ttl, std::max<int64_t>(0, r.eol - now));
  if (settings_.max_cache_ttl_ms >= 0) ttl = std::min<int64_t>(ttl, settings_.max_cache_ttl_ms * kNsPerMs);
  return ttl;
}

std::optional<NameSys::RecordHit> NameSys::LoadRecord(const IpnsName& name) {
  const std::string key = RecKey(name);
  std::optional<RecordHit> pending;
  {
    std::lock_guard<std::mutex> lk(mem_mu_);
    if (auto it = pending_stores_.find(key); it != pending_stores_.end()) pending = it->second.second;
  }
  std::optional<RecordHit> stored;
  std::optional<RawHit> raw;
  if (auto txn = repo_->BeginRead({db_}); txn.ok()) {
    auto v = txn->Get(db_, AsBytes(key));
    if (v.ok() && *v) raw = DecodeHit(**v);
  }
  if (raw) {
    // Verified when stored; verified again because another process may have written the repo,
    // but only once per distinct record (a signature check costs more than the whole lookup).
    // EOL is judged by the caller (now = 0 accepts any EOL).
    std::optional<IpnsRecord> rec;
    {
      std::lock_guard<std::mutex> lk(mem_mu_);
      if (auto it = verified_.find(key); it != verified_.end() && it->second.raw == raw->raw) rec = it->second;
    }
    if (!rec) {
      auto r = ValidateIpnsRecord(raw->raw, name, 0);
      if (r.ok()) {
        rec = std::move(*r);
        std::lock_guard<std::mutex> lk(mem_mu_);
        if (verified_.size() >= 4096) verified_.clear();
        verified_[key] = *rec;
      } else {
        spdlog::warn("ipns: cached record for {} does not verify, ignoring it: {}", name.ToString(), r.error().message);
      }
    }
    if (rec) stored = RecordHit{std::move(*rec), raw->source, raw->received, false, false};
  }
  if (!pending) return stored;
  if (!stored) return pending;
  int c = CompareIpnsRecords(pending->record, stored->record);
  if (c > 0 || (c == 0 && pending->received >= stored->received)) return pending;
  return stored;
}

void NameSys::StoreRecordLater(const IpnsName& name, const RecordHit& hit) {
  if (repo_->read_only()) return;
  {
    std::lock_guard<std::mutex> lk(mem_mu_);
    auto& slot = pending_stores_[RecKey(name)];
    if (!slot.second.record.raw.empty()) {
      int c = CompareIpnsRecords(slot.second.record, hit.record);
      if (c > 0 || (c == 0 && slot.second.received > hit.received)) return;
    }
    slot = {name, hit};
  }
  RefreshInBackground("flush-stores", [this] { FlushStores(); });
}

void NameSys::FlushStores() {
  std::map<std::string, std::pair<IpnsName, RecordHit>> todo;
  {
    std::lock_guard<std::mutex> lk(mem_mu_);
    todo = pending_stores_;
  }
  if (todo.empty()) return;
  Status st = [&]() -> Status {
    IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
    for (const auto& [key, entry] : todo) {
      IPFSKIT_TRY_STATUS(PutIfBetter(txn, entry.first, entry.second));
    }
    return txn.Commit();
  }();
  if (!st.ok()) spdlog::warn("ipns: could not cache {} record(s): {}", todo.size(), st.error().message);
  // Entries replaced meanwhile stay for the next flush.
  std::lock_guard<std::mutex> lk(mem_mu_);
  for (const auto& [key, entry] : todo) {
    auto it = pending_stores_.find(key);
    if (it != pending_stores_.end() && it->second.second.record.raw == entry.second.record.raw &&
        it->second.second.received == entry.second.received)
      pending_stores_.erase(it);
  }
}

Status NameSys::PutIfBetter(RepoTxn& txn, const IpnsName& name, const RecordHit& hit) {
  std::string key = RecKey(name);
  // Never backwards, across processes too: re-check what is stored in this write txn.
  IPFSKIT_ASSIGN_OR_RETURN(auto cur, txn.Get(db_, AsBytes(key)));
  if (cur) {
    if (auto old = DecodeHit(*cur)) {
      auto rec = ValidateIpnsRecord(old->raw, name, 0);
      if (rec.ok()) {
        int c = CompareIpnsRecords(*rec, hit.record);
        if (c > 0 || (c == 0 && old->received >= hit.received)) return Status::Ok();
      }
    }
  }
  return txn.Put(db_, AsBytes(key), EncodeHit(hit));
}

std::optional<NameSys::RecordHit> NameSys::Cached(const IpnsName& name) { return LoadRecord(name); }

Status NameSys::StoreRecord(const IpnsName& name, const RecordHit& hit) {
  if (repo_->read_only()) return Status::Ok();
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  IPFSKIT_TRY_STATUS(PutIfBetter(txn, name, hit));
  return txn.Commit();
}

Result<NameSys::RecordHit> NameSys::FetchRecord(const IpnsName& name, const std::optional<RecordHit>& held) {
  struct Src {
    std::string kind, url;
  };
  std::vector<Src> srcs;
  if (!settings_.offline) {
    for (const auto& u : settings_.routers) srcs.push_back({"routing", u});
    for (const auto& u : settings_.gateways) srcs.push_back({"gateway", TrimSlash(u)});
    if (!settings_.kubo_api.empty()) srcs.push_back({"kubo", settings_.kubo_api});
  }
  if (srcs.empty())
    return MakeError(Errc::kUnavailable, settings_.offline ? "offline: no IPNS source is asked"
                                                           : "no IPNS source configured (ipns.routers, gateways)");
  {
    std::lock_guard<std::mutex> lk(stats_mu_);
    stats_.network_lookups++;
  }
  auto q = std::make_shared<Query>();
  q->pending = static_cast<int>(srcs.size());
  q->name = name;
  const std::string id = name.ToString();
  const auto timeout = std::chrono::milliseconds(settings_.timeout_ms);
  std::optional<IpnsRecord> held_rec;
  if (held) held_rec = held->record;
  for (const auto& s : srcs) {
    HttpRequest req;
    req.timeout = timeout;
    req.connect_timeout = std::min(timeout, std::chrono::milliseconds(3000));
    req.low_speed_seconds = std::max<long>(1, static_cast<long>(settings_.timeout_ms / 1000));
    req.max_body = 64 << 10;  // larger than any valid record, so an oversized one is seen and counted as too_big
    req.headers.push_back(std::string("Accept: ") + kRecordType);
    if (s.kind == "routing") {
      req.url = s.url + "/routing/v1/ipns/" + id;
    } else if (s.kind == "gateway") {
      req.url = s.url + "/ipns/" + id + "?format=ipns-record";
    } else {
      req.method = "POST";
      req.url = s.url + "/api/v0/name/get?arg=" + id;
    }
    std::string label = s.kind + ":" + s.url;
    std::string kind = s.kind;
    // The callback touches only the query: it must never own the NameSys (its last reference
    // dropped on the HTTP thread would destroy the HttpClient from inside it).
    http_->Start(std::move(req), [q, name, label, kind, held_rec](Result<HttpResponse> r) {
      std::optional<Bytes> body;
      std::string err;
      bool none = false;
      if (!r.ok()) {
        err = r.error().message;
      } else if (r->status == 404 || (r->status == 200 && kind != "kubo" &&
                                      r->content_type.rfind(kRecordType, 0) != 0)) {
        none = true;  // IPIP-0513: 200 text/plain or 404 = no record
      } else if (kind == "kubo" && r->status == 500 &&
                 std::string_view(reinterpret_cast<const char*>(r->body.data()), r->body.size()).find("not found") !=
                     std::string_view::npos) {
        none = true;
      } else if (r->status != 200) {
        err = "HTTP " + std::to_string(r->status);
      } else {
        body = std::move(r->body);
      }
      std::optional<RecordHit> hit;
      IpnsReject why = IpnsReject::kNone;
      if (body) {
        auto rec = ValidateIpnsRecord(*body, name, NowUnixNanos(), &why);
        if (!rec.ok()) {
          err = rec.error().message;
        } else if (held_rec && rec->sequence < held_rec->sequence) {
          why = IpnsReject::kRollback;
          err = "record sequence " + std::to_string(rec->sequence) + " is lower than the " +
                std::to_string(held_rec->sequence) + " already held (rollback refused)";
        } else {
          hit = RecordHit{std::move(*rec), label, NowUnixNanos(), false, false};
        }
      }
      std::lock_guard<std::mutex> lk(q->mu);
      q->outcomes.push_back(kind + ":" + (hit ? "ok" : none ? "none" : why != IpnsReject::kNone ? "rejected" : "error"));
      if (why != IpnsReject::kNone) q->rejects.push_back(why);
      if (hit) {
        if (!q->best) q->first_good = std::chrono::steady_clock::now();
        // After the answer, a better record is left here for HarvestLate to cache.
        if (!q->best || CompareIpnsRecords(hit->record, q->best->record) > 0) q->best = std::move(hit);
      } else if (none) {
        q->no_record++;
      } else {
        q->errors.push_back(label + ": " + err);
      }
      q->pending--;
      q->cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lk(q->mu);
    const auto grace = std::chrono::milliseconds(settings_.grace_ms);
    // Each request ends by its own timeout; the slack covers the callback's delivery.
    const auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::milliseconds(500);
    while (q->pending > 0) {
      auto until = deadline;
      if (q->best) until = std::min(until, q->first_good + grace);
      if (q->cv.wait_until(lk, until) == std::cv_status::timeout && std::chrono::steady_clock::now() >= until) break;
    }
    q->answered = true;
    TakeOutcomesLocked(*q);
    if (q->best) q->answered_value = q->best->record.value;
    if (q->pending > 0) {
      std::lock_guard<std::mutex> late(late_mu_);
      late_.push_back(q);
      if (late_.size() > 256) late_.pop_front();
    }
    if (q->best) {
      RecordHit best = *q->best;
      lk.unlock();
      if (held && CompareIpnsRecords(held->record, best.record) >= 0) {
        // The network has nothing newer: what we hold is confirmed, fresh again.
        RecordHit h = *held;
        h.received = NowUnixNanos();
        StoreRecordLater(name, h);
        return h;
      }
      // Written behind the answer (an LMDB commit costs more than the lookup); LoadRecord sees
      // it at once in this process.
      StoreRecordLater(name, best);
      return best;
    }
    if (q->errors.empty() && q->pending == 0)
      return MakeError(Errc::kNotFound, "no IPNS record found for " + id);
    std::string msg = "could not resolve /ipns/" + id + ": ";
    if (q->errors.empty()) msg += "no source answered in time";
    for (size_t i = 0; i < q->errors.size(); ++i) msg += (i ? "; " : "") + q->errors[i];
    bool timed_out = q->errors.empty();
    return MakeError(timed_out ? Errc::kTimeout : Errc::kUnavailable, msg);
  }
}

Result<NameSys::RecordHit> NameSys::ResolveRecord(const IpnsName& name, const ResolveOptions& opts) {
  HarvestLate();
  const UnixNanos now = NowUnixNanos();
  std::optional<RecordHit> held = LoadRecord(name);
  auto serve_held = [&](bool stale) -> Result<RecordHit> {
    RecordHit h = *held;
    h.source = "cache:" + h.source;
    h.stale = stale;
    h.expired = h.record.eol <= now;
    std::lock_guard<std::mutex> lk(stats_mu_);
    if (h.expired) stats_.expired_serves++;
    else if (stale) stats_.stale_serves++;
    else stats_.cache_hits++;
    return h;
  };
  const bool usable = held && (held->record.eol > now || settings_.serve_expired);
  if (settings_.offline) {
    if (usable) return serve_held(now >= held->received + RecordTtl(held->record, now));
    if (held) return MakeError(Errc::kUnavailable, "the cached IPNS record for " + name.ToString() + " expired at " +
                                                       held->record.validity + " (offline; set ipns.serve_expired to use it)");
    return MakeError(Errc::kNotFound, "no IPNS record for " + name.ToString() + " is cached (offline)");
  }
  if (held && !opts.nocache && held->record.eol > now) {
    if (now < held->received + RecordTtl(held->record, now)) return serve_held(false);
    // Stale: answer now, refresh behind.
    // Workers are joined before the NameSys is torn down, so `this` outlives the task.
    RefreshInBackground(RecKey(name), [this, name] {
      auto before = LoadRecord(name);
      auto r = FetchRecord(name, before);
      {
        std::lock_guard<std::mutex> lk(stats_mu_);
        stats_.refreshes++;
      }
      if (r.ok() && before && r->record.value != before->record.value) {
        std::lock_guard<std::mutex> lk(change_mu_);
        if (on_change_) on_change_(name.ToString());
      }
    });
    return serve_held(true);
  }
  auto fetched = FetchRecord(name, held);
  if (fetched.ok()) return fetched;
  if (usable && fetched.error().code != Errc::kNotFound) {
    spdlog::info("ipns: serving the last verified record for {}: {}", name.ToString(), fetched.error().message);
    return serve_held(true);
  }
  if (usable) return serve_held(true);  // the sources lost it; ours is still valid
  return fetched.take_error();
}

std::optional<NameSys::DnsEntry> NameSys::LoadDns(const std::string& domain) {
  auto txn = repo_->BeginRead({db_});
  if (!txn.ok()) return std::nullopt;
  std::string key = DnsKey(domain);
  auto v = txn->Get(db_, AsBytes(key));
  if (!v.ok() || !*v || (*v)->size() < 12) return std::nullopt;
  ByteView b = **v;
  DnsEntry e;
  e.received = static_cast<UnixNanos>(GetU64(b));
  e.ttl_s = uint32_t{b[8]} | uint32_t{b[9]} << 8 | uint32_t{b[10]} << 16 | uint32_t{b[11]} << 24;
  e.value.assign(reinterpret_cast<const char*>(b.data() + 12), b.size() - 12);
  if (!CheckValuePath(e.value).ok()) return std::nullopt;
  return e;
}

Status NameSys::StoreDns(const std::string& domain, const DnsEntry& e) {
  if (repo_->read_only()) return Status::Ok();
  Bytes v;
  PutU64(v, static_cast<uint64_t>(e.received));
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(e.ttl_s >> (8 * i)));
  Append(v, AsBytes(e.value));
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  std::string key = DnsKey(domain);
  IPFSKIT_TRY_STATUS(txn.Put(db_, AsBytes(key), v));
  return txn.Commit();
}

void NameSys::DropDns(const std::string& domain) {
  if (repo_->read_only()) return;
  auto txn = repo_->BeginWrite();
  if (!txn.ok()) return;
  std::string key = DnsKey(domain);
  if (txn->Del(db_, AsBytes(key)).ok()) (void)txn->Commit();
}

Result<NameSys::DnsEntry> NameSys::FetchDns(const std::string& domain) {
  {
    std::lock_guard<std::mutex> lk(stats_mu_);
    stats_.dnslink_lookups++;
  }
  DnsResolver& r = dns_->For(domain);
  auto txt = r.LookupTxt("_dnslink." + domain, std::chrono::milliseconds(settings_.dns_timeout_ms));
  if (!txt.ok()) {
    Count(&IpnsStats::resolutions, std::string("dns:") + (txt.error().code == Errc::kNotFound ? "none" : "error"));
    if (txt.error().code == Errc::kNotFound)
      return MakeError(Errc::kNotFound, "no DNSLink record found for " + domain + " (TXT _dnslink." + domain + ": NXDOMAIN)");
    return MakeError(txt.error().code, "DNSLink lookup of " + domain + " via " + r.Describe() + ": " + txt.error().message);
  }
  auto path = ParseDnslink(domain, txt->records);
  Count(&IpnsStats::resolutions, std::string("dns:") + (path.ok() ? "ok" : "none"));
  if (!path.ok()) return path.take_error();
  DnsEntry e;
  e.value = *path;
  e.ttl_s = txt->ttl_s;
  e.received = NowUnixNanos();
  return e;
}

Result<std::string> NameSys::ResolveDnslink(const std::string& domain, const ResolveOptions& opts,
                                            IpnsResolution* first) {
  const UnixNanos now = NowUnixNanos();
  auto held = LoadDns(domain);
  auto fill = [&](const DnsEntry& e, bool stale, bool expired, const std::string& source) {
    if (!first) return;
    first->is_dnslink = true;
    first->value = e.value;
    first->source = source;
    first->stale = stale;
    first->expired = expired;
    first->received = e.received;
  };
  int64_t ttl = 0;
  if (held) {
    ttl = held->ttl_s > 0 ? int64_t{held->ttl_s} * 1000000000 : settings_.default_ttl_ms * kNsPerMs;
    if (settings_.max_cache_ttl_ms >= 0) ttl = std::min<int64_t>(ttl, settings_.max_cache_ttl_ms * kNsPerMs);
  }
  const bool within_stale = held && now < held->received + settings_.dns_max_stale_ms * kNsPerMs;
  const bool usable = held && (within_stale || settings_.serve_expired);
  auto serve = [&](bool stale) -> Result<std::string> {
    std::lock_guard<std::mutex> lk(stats_mu_);
    if (!within_stale) stats_.expired_serves++;
    else if (stale) stats_.stale_serves++;
    else stats_.cache_hits++;
    fill(*held, stale, !within_stale, "cache:dns");  // as records: "cache:" + where it came from
    return held->value;
  };
  if (settings_.offline) {
    if (usable) return serve(now >= held->received + ttl);
    return MakeError(Errc::kNotFound, "no DNSLink value for " + domain + " is cached (offline)");
  }
  if (held && !opts.nocache && within_stale) {
    if (now < held->received + ttl) return serve(false);
    std::string old = held->value;
    RefreshInBackground(DnsKey(domain), [this, domain, old] {
      auto r = FetchDns(domain);
      {
        std::lock_guard<std::mutex> lk(stats_mu_);
        stats_.refreshes++;
      }
      // No DNSLink, or a broken one (two records): the domain's answer, so the value goes.
      const bool gone = !r.ok() && (r.error().code == Errc::kNotFound || r.error().code == Errc::kInvalidArgument);
      if (r.ok()) {
        (void)StoreDns(domain, *r);
      } else if (gone) {
        DropDns(domain);
      }
      if ((r.ok() && r->value != old) || gone) {
        std::lock_guard<std::mutex> lk(change_mu_);
        if (on_change_) on_change_(domain);
      }
    });
    return serve(true);
  }
  auto fetched = FetchDns(domain);
  if (fetched.ok()) {
    if (auto st = StoreDns(domain, *fetched); !st.ok())
      spdlog::warn("ipns: could not cache the DNSLink value of {}: {}", domain, st.error().message);
    fill(*fetched, false, false, "dns:" + dns_->For(domain).Describe());
    return fetched->value;
  }
  // The domain says it has no DNSLink (or a broken one): that is an answer, not an outage.
  if (fetched.error().code == Errc::kNotFound || fetched.error().code == Errc::kInvalidArgument) {
    if (held) DropDns(domain);
    return fetched.take_error();
  }
  if (usable) {
    spdlog::info("ipns: serving the last DNSLink value of {}: {}", domain, fetched.error().message);
    return serve(true);
  }
  return fetched.take_error();
}

Result<IpnsResolution> NameSys::Resolve(std::string_view text, const ResolveOptions& opts) {
  std::string path(text);
  if (StartsWith(path, "ipns://")) path = "/ipns/" + path.substr(7);
  if (StartsWith(path, "/ipfs/")) {
    IPFSKIT_TRY_STATUS(CheckValuePath(path));
    IpnsResolution r;
    r.path = r.value = path;
    return r;
  }
  if (StartsWith(path, "/ipns/")) path = path.substr(6);
  else if (!path.empty() && path[0] == '/')
    return MakeError(Errc::kInvalidArgument, "invalid path \"" + std::string(text) + "\": must start with /ipns/");
  IpnsResolution res;
  for (int hop = 0; hop < kMaxHops; ++hop) {
    size_t slash = path.find('/');
    std::string name = path.substr(0, slash);
    std::string rest = slash == std::string::npos ? "" : path.substr(slash + 1);
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    IPFSKIT_ASSIGN_OR_RETURN(IpnsTarget target, ParseIpnsTarget(name));
    std::string value;
    if (auto* n = std::get_if<IpnsName>(&target)) {
      IPFSKIT_ASSIGN_OR_RETURN(RecordHit hit, ResolveRecord(*n, opts));
      value = hit.record.value;
      if (hop == 0) {
        res.value = value;
        res.sequence = hit.record.sequence;
        res.eol = hit.record.eol;
        res.validity = hit.record.validity;
        res.source = hit.source;
        res.stale = hit.stale;
        res.expired = hit.expired;
        res.received = hit.received;
      }
    } else {
      IPFSKIT_ASSIGN_OR_RETURN(value, ResolveDnslink(std::get<std::string>(target), opts, hop == 0 ? &res : nullptr));
    }
    IPFSKIT_TRY_STATUS(CheckValuePath(value));
    std::string next = JoinPath(value, rest);
    if (!opts.recursive || StartsWith(next, "/ipfs/")) {
      res.path = next;
      return res;
    }
    path = next.substr(6);  // "/ipns/…"
  }
  return MakeError(Errc::kInvalidArgument, "resolving /ipns/" + std::string(text) + " took more than 32 IPNS/DNSLink hops");
}

void NameSys::RefreshInBackground(const std::string& key, std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(bg_mu_);
  if (stopping_ || refreshing_.count(key)) return;
  refreshing_.insert(key);
  bg_queue_.emplace_back(key, std::move(fn));
  // Up to 4 workers, started on demand; each task's network waits are bounded by the timeouts.
  if (bg_threads_.size() < 4 && bg_idle_ == 0) bg_threads_.emplace_back([this] { BackgroundWorker(); });
  bg_cv_.notify_one();
}

void NameSys::BackgroundWorker() {
  std::unique_lock<std::mutex> lk(bg_mu_);
  for (;;) {
    ++bg_idle_;
    bg_cv_.wait(lk, [&] { return stopping_ || !bg_queue_.empty(); });
    --bg_idle_;
    if (stopping_) return;
    auto [key, fn] = std::move(bg_queue_.front());
    bg_queue_.pop_front();
    lk.unlock();
    fn();
    lk.lock();
    refreshing_.erase(key);
  }
}

Result<IpnsRecord> NameSys::PutRecord(const IpnsName& name, ByteView raw, const std::string& source, bool force) {
  IpnsReject why = IpnsReject::kNone;
  auto rec = ValidateIpnsRecord(raw, name, NowUnixNanos(), &why);
  if (!rec.ok()) {
    Count(&IpnsStats::rejected, IpnsRejectName(why));
    return rec.take_error();
  }
  IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
  std::string key = RecKey(name);
  IPFSKIT_ASSIGN_OR_RETURN(auto cur, txn.Get(db_, AsBytes(key)));
  if (cur && !force) {
    if (auto old = DecodeHit(*cur)) {
      auto held = ValidateIpnsRecord(old->raw, name, 0);
      if (held.ok() && held->raw != rec->raw && held->sequence >= rec->sequence) {
        Count(&IpnsStats::rejected, IpnsRejectName(IpnsReject::kRollback));
        return MakeError(Errc::kInvalidArgument, "the record's sequence " + std::to_string(rec->sequence) +
                                                     " is not higher than the stored " + std::to_string(held->sequence) +
                                                     " (use --force to store it anyway)");
      }
    }
  }
  RecordHit h{*rec, source, NowUnixNanos(), false, false};
  IPFSKIT_TRY_STATUS(txn.Put(db_, AsBytes(key), EncodeHit(h)));
  IPFSKIT_TRY_STATUS(txn.Commit());
  return *rec;
}

Result<PublishResult> NameSys::Publish(const std::string& value, const PublishOptions& opts) {
  IPFSKIT_TRY_STATUS(CheckValuePath(value));
  if (opts.lifetime <= 0) return MakeError(Errc::kInvalidArgument, "--lifetime must be positive");
  uint64_t ttl = opts.ttl_ns.value_or(std::min<uint64_t>(kDefaultIpnsTtlNs, static_cast<uint64_t>(opts.lifetime)));
  if (ttl > static_cast<uint64_t>(opts.lifetime)) return MakeError(Errc::kInvalidArgument, "--ttl must not be longer than --lifetime");
  const bool can_push = !settings_.offline && (!settings_.publishers.empty() || !settings_.kubo_api.empty());
  if (!can_push && !opts.allow_offline)
    return MakeError(Errc::kUnavailable, settings_.offline ? "cannot publish while offline; use --allow-offline to publish locally"
                                                           : "no IPNS publisher configured (ipns.publishers); use --allow-offline to publish locally");
  PrivateKey key;
  if (opts.key == "self") {
    IPFSKIT_ASSIGN_OR_RETURN(key, keystore_->Self());
  } else {
    IPFSKIT_ASSIGN_OR_RETURN(key, keystore_->Get(opts.key));
  }
  IpnsName name = IpnsName::FromPublicKey(key.Public());
  Bytes raw;
  PublishResult out;
  {
    std::lock_guard<std::mutex> lk(publish_mu_);
    // Read, sign and store in one write transaction: two processes publishing at once get
    // consecutive sequences, never the same one for different values.
    IPFSKIT_ASSIGN_OR_RETURN(RepoTxn txn, repo_->BeginWrite());
    std::string k = RecKey(name);
    IPFSKIT_ASSIGN_OR_RETURN(auto cur, txn.Get(db_, AsBytes(k)));
    std::optional<IpnsRecord> held;
    if (cur)
      if (auto old = DecodeHit(*cur))
        if (auto r = ValidateIpnsRecord(old->raw, name, 0); r.ok()) held = std::move(*r);
    uint64_t seq = 0;
    if (opts.sequence) {
      if (held && *opts.sequence <= held->sequence)
        return MakeError(Errc::kInvalidArgument, "--sequence " + std::to_string(*opts.sequence) +
                                                     " must be higher than the current " + std::to_string(held->sequence));
      seq = *opts.sequence;
    } else if (held) {
      seq = held->value == value ? held->sequence : held->sequence + 1;
    }
    IpnsRecordParams p;
    p.value = value;
    p.sequence = seq;
    p.eol = NowUnixNanos() + opts.lifetime;
    p.ttl_ns = ttl;
    p.v1compat = opts.v1compat;
    IPFSKIT_ASSIGN_OR_RETURN(raw, CreateIpnsRecord(key, p));
    IPFSKIT_ASSIGN_OR_RETURN(IpnsRecord rec, ValidateIpnsRecord(raw, name, NowUnixNanos()));
    RecordHit h{rec, "local", NowUnixNanos(), false, false};
    IPFSKIT_TRY_STATUS(txn.Put(db_, AsBytes(k), EncodeHit(h)));
    IPFSKIT_TRY_STATUS(txn.Commit());
    out.name = name;
    out.value = value;
    out.sequence = seq;
    out.eol = p.eol;
  }
  if (can_push) out.pushes = Push(name, raw);
  std::lock_guard<std::mutex> lk(stats_mu_);
  stats_.publishes++;
  for (const auto& p : out.pushes)
    if (!p.status.ok()) stats_.publish_failures++;
  return out;
}

std::vector<PushResult> NameSys::Push(const IpnsName& name, ByteView raw) {
  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    int left = 0;
    std::vector<PushResult> results;
  };
  auto p = std::make_shared<Pending>();
  const std::string id = name.ToString();
  std::vector<std::pair<std::string, HttpRequest>> reqs;
  for (const auto& u : settings_.publishers) {
    HttpRequest r;
    r.method = "PUT";
    r.url = u + "/routing/v1/ipns/" + id;
    r.headers = {std::string("Content-Type: ") + kRecordType};
    r.body = Bytes(raw.begin(), raw.end());
    reqs.emplace_back("routing:" + u, std::move(r));
  }
  if (!settings_.kubo_api.empty()) {
    const std::string boundary = "ipfskit-ipns-record-boundary";
    HttpRequest r;
    r.method = "POST";
    r.url = settings_.kubo_api + "/api/v0/routing/put?arg=/ipns/" + id + "&allow-offline=true";
    r.headers = {"Content-Type: multipart/form-data; boundary=" + boundary};
    std::string head = "--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"record\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n";
    r.body = ToBytes(head);
    Append(r.body, raw);
    Append(r.body, AsBytes("\r\n--" + boundary + "--\r\n"));
    reqs.emplace_back("kubo:" + settings_.kubo_api, std::move(r));
  }
  p->left = static_cast<int>(reqs.size());
  for (auto& [label, r] : reqs) {
    r.timeout = std::chrono::milliseconds(settings_.timeout_ms);
    r.connect_timeout = std::min(r.timeout, std::chrono::milliseconds(3000));
    http_->Start(std::move(r), [p, label = label](Result<HttpResponse> res) {
      Status st;
      if (!res.ok()) st = res.error();
      else if (res->status < 200 || res->status >= 300)
        st = MakeError(Errc::kHttp, "HTTP " + std::to_string(res->status) + ": " +
                                        std::string(reinterpret_cast<const char*>(res->body.data()),
                                                    std::min<size_t>(res->body.size(), 200)));
      std::lock_guard<std::mutex> lk(p->mu);
      p->results.push_back({label, st});
      p->left--;
      p->cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lk(p->mu);
  p->cv.wait_for(lk, std::chrono::milliseconds(settings_.timeout_ms + 1000), [&] { return p->left == 0; });
  auto results = p->results;
  std::sort(results.begin(), results.end(), [](const PushResult& a, const PushResult& b) { return a.target < b.target; });
  return results;
}

Result<size_t> NameSys::Republish(UnixNanos within) {
  IPFSKIT_ASSIGN_OR_RETURN(auto keys, keystore_->List());
  size_t n = 0;
  const UnixNanos now = NowUnixNanos();
  for (const auto& k : keys) {
    auto held = LoadRecord(k.id);
    if (!held || held->record.eol - now > within) continue;
    IPFSKIT_ASSIGN_OR_RETURN(PrivateKey key, keystore_->Get(k.name));
    IpnsRecordParams p;
    p.value = held->record.value;
    p.sequence = held->record.sequence;  // Kubo: same sequence, new EOL
    p.eol = std::max(held->record.eol, now + settings_.record_lifetime_ms * kNsPerMs);
    p.ttl_ns = held->record.ttl_ns;
    p.v1compat = held->record.has_v1;
    IPFSKIT_ASSIGN_OR_RETURN(Bytes raw, CreateIpnsRecord(key, p));
    IPFSKIT_ASSIGN_OR_RETURN(IpnsRecord rec, ValidateIpnsRecord(raw, k.id, now));
    IPFSKIT_TRY_STATUS(StoreRecord(k.id, RecordHit{rec, "local", now, false, false}));
    if (!settings_.offline) Push(k.id, raw);
    ++n;
  }
  std::lock_guard<std::mutex> lk(stats_mu_);
  stats_.republishes += n;
  return n;
}

std::vector<std::string> NameSys::RecentNames(size_t max) {
  std::vector<std::string> out;
  auto txn = repo_->BeginRead({db_});
  if (!txn.ok()) return out;
  (void)txn->ForEach(db_, [&](ByteView key, ByteView) {
    std::string_view k = AsChars(key);
    if (StartsWith(k, "rec/")) {
      if (auto n = IpnsName::FromMultihash(key.subspan(4)); n.ok()) out.push_back(n->ToString());
    } else if (StartsWith(k, "dns/")) {
      out.emplace_back(k.substr(4));
    }
    return out.size() < max;
  });
  return out;
}

}  // namespace ipfskit
