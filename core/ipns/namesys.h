// NameSys: IPNS and DNSLink resolution with a persistent cache, and publishing with our keys.
//
// Resolution of /ipns/<name>[/path]:
//   - a key name (k51…, 12D3KooW…, any spelling; see name.h) is looked up as a signed record.
//     Every configured source is asked in parallel, each with its own timeout: delegated routing
//     (GET <router>/routing/v1/ipns/<k51…>), trustless gateways (GET <gw>/ipns/<k51…>
//     ?format=ipns-record) and Kubo (POST /api/v0/name/get). Every record is verified locally
//     (record.h); a 404 or a 200 that is not a record (IPIP-0513) means "no record there". The
//     answer is the best valid record (boxo's order) once the first good one is in and the grace
//     window has passed, or when every source has answered: the slowest source never sets the
//     latency. A better record that arrives after the answer still replaces the cached one.
//   - never backwards: a valid record with a lower sequence than the one held is refused and
//     counted (kRollback); so is a same-sequence record with an earlier EOL.
//   - a domain goes to DNSLink (TXT _dnslink.<domain>, dns.h), resolver chosen by suffix.
//   - a value under /ipns is resolved again, up to 32 hops; the rest of the path is appended.
//
// Cache (LMDB database "ipns" in the repo, so it survives restarts and is shared with the CLI):
//   rec/<name multihash>  the best verified record held, when and where it was received;
//   dns/<domain>          the DNSLink value, its TTL, when it was received.
//   Fresh for TTL = min(record TTL (1 min if none), EOL − now, max_cache_ttl); DNSLink: the answer
//   TTL (1 min if 0), capped likewise. Fresh: no network. Stale: the cached value is served at
//   once and a background refresh starts (stale-while-revalidate). No cache, or --nocache: the
//   sources are asked and waited for. When every source fails, the last verified value is served
//   until its EOL (stale-if-error; DNSLink: for dns_max_stale), and after that only with
//   serve_expired. Offline: the cache only, whatever its age (EOL and serve_expired still apply).
//   A DNSLink domain that answers NXDOMAIN, has no dnslink TXT or more than one is gone: its entry
//   is dropped.
//
// Publishing signs a record with one of our keys (keystore.h) with Kubo's sequence rules (same
// value keeps the sequence, a new value adds one, --sequence must be higher), stores it in the
// cache (so it resolves at once, offline too) and pushes it to every publisher
// (PUT <router>/routing/v1/ipns/<k51…>) and to Kubo (routing/put), reporting each result.
//
// Thread safety: every method may be called from any thread. The cache is read and written in
// LMDB transactions of their own; nothing is held across network waits. Lifetime: background
// refreshes run on up to 4 worker threads the NameSys owns (tasks hold only weak references);
// Shutdown() (or the destructor, which must not run on a worker) drops queued tasks and joins
// the workers, bounded by the source timeouts.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/ipns/dns.h"
#include "core/ipns/keystore.h"
#include "core/ipns/record.h"
#include "core/store/repo.h"

namespace ipfskit {

class HttpClient;

// Config keys (the contract): "ipns": {"routers": [...], "publishers": [...],
// "max_cache_ttl": "1h" | ms, "serve_expired": false, "timeout_ms": 5000, "grace_ms": 10,
// "kubo": true, "republish_period": "4h", "record_lifetime": "48h", "dns_max_stale": "168h"},
// "dns": {"resolvers": {"example.org.": "https://…/dns-query", ".": "system"}, "timeout_ms": 5000}.
// Durations are Go duration strings or integer milliseconds. Gateways (top-level "gateways") are
// asked for records too; Kubo when "kubo_api" is set explicitly and ipns.kubo is true.
struct IpnsSettings {
  std::vector<std::string> routers;
  std::vector<std::string> publishers;
  std::vector<std::string> gateways;
  std::string kubo_api;  // empty: Kubo is not asked
  bool offline = false;
  bool serve_expired = false;
  int64_t max_cache_ttl_ms = -1;  // <0: no cap
  int64_t timeout_ms = 5000;      // per source request
  int64_t grace_ms = 10;          // after the first good record (a better late one is still cached)
  int64_t default_ttl_ms = 60000; // a record or answer without TTL
  int64_t republish_period_ms = 4LL * 3600 * 1000;
  int64_t record_lifetime_ms = 48LL * 3600 * 1000;
  int64_t dns_max_stale_ms = 7LL * 24 * 3600 * 1000;
  int64_t dns_timeout_ms = 5000;
  std::map<std::string, std::string> dns_resolvers;  // suffix -> spec (dns.h)
};
Result<IpnsSettings> IpnsSettingsFromConfig(const Config& config);
// A Go duration ("48h", "5m", "300ms") or integer milliseconds.
Result<int64_t> ParseDurationMs(const nlohmann::json& v, const std::string& key);

struct IpnsResolution {
  std::string path;       // the final /ipfs/… path, rest appended
  std::string value;      // the first hop's value (record value or DNSLink path)
  bool is_dnslink = false;
  uint64_t sequence = 0;  // first hop, for records
  UnixNanos eol = 0;      // first hop, for records
  std::string validity;   // first hop's RFC 3339 EOL
  std::string source;     // where the first hop came from: "routing:URL", "gateway:URL", "dns:<resolver>",
                          // "cache:<that>" for a record, "cache:dns" for a DNSLink value, ...
  bool stale = false;     // served past its TTL (a refresh may be running, or every source failed)
  bool expired = false;   // served past its EOL (serve_expired)
  UnixNanos received = 0; // when the first hop's value was received
};

struct ResolveOptions {
  bool recursive = true;  // false: one hop (Kubo's -r=false)
  bool nocache = false;   // ask the sources, even when the cache is fresh (the result is cached)
};

struct PublishOptions {
  std::string key = "self";
  UnixNanos lifetime = kDefaultIpnsLifetime;
  std::optional<uint64_t> ttl_ns;  // default 5 min, capped to the lifetime
  std::optional<uint64_t> sequence;
  bool v1compat = true;
  bool allow_offline = false;  // store locally only; no publisher needed
};

struct PushResult {
  std::string target;  // "routing:URL" or "kubo:URL"
  Status status;
};

struct PublishResult {
  IpnsName name;
  std::string value;
  uint64_t sequence = 0;
  UnixNanos eol = 0;
  std::vector<PushResult> pushes;
};

struct IpnsStats {
  std::map<std::string, uint64_t> resolutions;  // "<source kind>:<outcome>" -> count
  uint64_t cache_hits = 0, stale_serves = 0, expired_serves = 0, refreshes = 0, network_lookups = 0;
  std::map<std::string, uint64_t> rejected;     // IpnsRejectName -> count
  uint64_t publishes = 0, publish_failures = 0, republishes = 0;
  uint64_t dnslink_lookups = 0;
  nlohmann::json ToJson() const;
};

class NameSys : public std::enable_shared_from_this<NameSys> {
 public:
  // `http` may be null (a client is made). The keystore is <repo>/keystore.
  static Result<std::shared_ptr<NameSys>> Open(std::shared_ptr<Repo> repo, IpnsSettings settings,
                                               std::shared_ptr<HttpClient> http = nullptr);
  ~NameSys();
  void Shutdown();

  // `text`: "/ipns/<name>[/path]", "<name>[/path]", "ipns://<name>". Errors: kNotFound (no
  // record, no DNSLink), kInvalidArgument (bad name, too deep), kUnavailable (no source
  // answered and nothing usable is cached), kTimeout.
  Result<IpnsResolution> Resolve(std::string_view text, const ResolveOptions& opts = {});

  // The best verified record for `name` (cache rules as above).
  struct RecordHit {
    IpnsRecord record;
    std::string source;
    UnixNanos received = 0;
    bool stale = false, expired = false;
  };
  Result<RecordHit> ResolveRecord(const IpnsName& name, const ResolveOptions& opts = {});
  // What the cache holds for `name` (no network, no TTL check).
  std::optional<RecordHit> Cached(const IpnsName& name);

  // `name put`: verifies `raw` against `name`, refuses a lower sequence than held (unless force),
  // stores it. Returns the stored record.
  Result<IpnsRecord> PutRecord(const IpnsName& name, ByteView raw, const std::string& source, bool force = false);

  // Signs and stores a record for `value` with key opts.key, then pushes it (PublishResult lists
  // each push). Without publishers and !allow_offline: kUnavailable ("no publisher configured;
  // use --allow-offline to publish locally").
  Result<PublishResult> Publish(const std::string& value, const PublishOptions& opts);
  // Re-signs the held record of each of our keys whose EOL is within `period` (same sequence,
  // EOL = now + lifetime) and pushes it. Returns how many were re-signed.
  Result<size_t> Republish(UnixNanos within);

  // Names resolved through this cache (k51… and domains), for `ls /ipns`.
  std::vector<std::string> RecentNames(size_t max = 1000);

  Keystore& keystore() { return *keystore_; }
  const IpnsSettings& settings() const { return settings_; }
  IpnsStats Stats() const;
  // Called (on a background thread) when a refresh finds a new value for a name ("k51…" or a
  // domain). The mount invalidates the kernel's entries.
  void SetOnChange(std::function<void(const std::string& name)> fn);

 private:
  NameSys() = default;
  struct Query;
  struct DnsEntry {
    std::string value;
    uint32_t ttl_s = 0;
    UnixNanos received = 0;
  };
  Result<RecordHit> FetchRecord(const IpnsName& name, const std::optional<RecordHit>& held);
  std::optional<RecordHit> LoadRecord(const IpnsName& name);
  Status StoreRecord(const IpnsName& name, const RecordHit& hit);  // now, in its own txn
  // Queued and written by a worker, many in one txn; LoadRecord sees it at once.
  void StoreRecordLater(const IpnsName& name, const RecordHit& hit);
  void FlushStores();
  Status PutIfBetter(RepoTxn& txn, const IpnsName& name, const RecordHit& hit);
  std::optional<DnsEntry> LoadDns(const std::string& domain);
  Status StoreDns(const std::string& domain, const DnsEntry& e);
  void DropDns(const std::string& domain);
  Result<std::string> ResolveDnslink(const std::string& domain, const ResolveOptions& opts, IpnsResolution* first);
  Result<DnsEntry> FetchDns(const std::string& domain);
  UnixNanos RecordTtl(const IpnsRecord& r, UnixNanos now) const;
  void RefreshInBackground(const std::string& key, std::function<void()> fn);
  std::vector<PushResult> Push(const IpnsName& name, ByteView raw);
  void Count(std::map<std::string, uint64_t> IpnsStats::*field, const std::string& key);

  std::shared_ptr<Repo> repo_;
  RepoDb db_;
  IpnsSettings settings_;
  std::shared_ptr<HttpClient> http_;
  std::unique_ptr<Keystore> keystore_;
  std::unique_ptr<DnsResolverSet> dns_;

  std::mutex mem_mu_;  // verified_, pending_stores_ (taken alone, never around other locks)
  std::map<std::string, IpnsRecord> verified_;  // rec/ key -> the last record verified from LMDB
  std::map<std::string, std::pair<IpnsName, RecordHit>> pending_stores_;
  mutable std::mutex stats_mu_;
  IpnsStats stats_;

  void BackgroundWorker();
  void TakeOutcomesLocked(Query& q);  // q.mu held: moves its outcome counts into the stats
  // Queries that answered before every source did: their late better records get cached.
  void HarvestLate();
  std::mutex late_mu_;
  std::deque<std::shared_ptr<Query>> late_;
  std::mutex bg_mu_;  // refreshing_, bg_queue_, bg_threads_, bg_idle_, stopping_
  std::condition_variable bg_cv_;
  std::set<std::string> refreshing_;
  std::deque<std::pair<std::string, std::function<void()>>> bg_queue_;
  std::vector<std::thread> bg_threads_;
  int bg_idle_ = 0;
  bool stopping_ = false;
  std::mutex publish_mu_;  // one publish at a time in this process (sequence read-modify-write)
  std::mutex change_mu_;
  std::function<void(const std::string&)> on_change_;
};

}  // namespace ipfskit
