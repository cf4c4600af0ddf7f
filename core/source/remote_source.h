// RemoteSource: one network endpoint that serves raw blocks (a Kubo RPC API or a trustless
// gateway). One Fetch is one HTTP attempt: no retries here (SourceChain retries across sources),
// the block's multihash is checked before it is returned, and the outcome feeds this source's
// counters and health (latency EWMA, failure EWMA, exponential backoff with jitter).
//
// Thread-safe. Errors: kNotFound (the source answered that it lacks the block), kTimeout,
// kHttp, kNetwork, kHashMismatch, kTruncated, kMalformed.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/source/http_client.h"
#include "core/store/block_store.h"

namespace ipfskit {

using SteadyClock = std::chrono::steady_clock;

struct RemoteOptions {
  std::chrono::milliseconds request_timeout{15000};
  std::chrono::milliseconds connect_timeout{3000};
  // Stall detection: below low_speed_bytes/s for low_speed_seconds ends the attempt.
  long low_speed_bytes = 1024;
  long low_speed_seconds = 5;
  // Backoff of a failing source: base * 2^(consecutive failures - 1), capped, jittered ±50%.
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{60000};
};

// Counters per source and per error cause. Plain data, convertible to JSON (source_stats.h).
struct SourceStats {
  std::string url;
  std::string kind;  // "kubo" or "gateway"
  uint64_t requests = 0;
  uint64_t ok = 0;
  uint64_t not_found = 0;
  uint64_t timeouts = 0;
  uint64_t http_errors = 0;
  uint64_t hash_mismatches = 0;
  uint64_t truncated = 0;
  uint64_t network_errors = 0;
  uint64_t malformed = 0;
  uint64_t other_errors = 0;
  std::map<long, uint64_t> http_status;  // every non-2xx status seen
  uint64_t bytes = 0;
  uint64_t car_requests = 0;
  uint64_t car_blocks = 0;
  double latency_ewma_ms = 0;
  double failure_ewma = 0;
  uint64_t consecutive_failures = 0;
  uint64_t backoffs = 0;          // times this source was put in backoff
  int64_t backoff_remaining_ms = 0;
};

class RemoteSource : public BlockGetter {
 public:
  RemoteSource(std::string base_url, std::shared_ptr<HttpClient> http, RemoteOptions options);
  ~RemoteSource() override = default;

  const std::string& url() const { return url_; }
  virtual const char* kind() const = 0;

  // One attempt, bounded by the request timeout and by `deadline`.
  Result<Block> Fetch(const Cid& cid, SteadyClock::time_point deadline);

  // BlockGetter: one attempt with the request timeout. Has is always false (no local state).
  Result<Block> Get(const Cid& cid) override;
  bool Has(const Cid&) override { return false; }

  // Health, for ordering sources. Lower score is better.
  bool BackedOff(SteadyClock::time_point now) const;
  SteadyClock::time_point backoff_until() const;
  double Score() const;
  SourceStats Stats() const;

 protected:
  virtual HttpRequest BlockRequest(const Cid& cid) const = 0;
  // The error for a response whose status is not 200 (kNotFound where the source says it does
  // not have the block; kHttp otherwise).
  virtual Error StatusError(const Cid& cid, const HttpResponse& resp) const = 0;

  HttpRequest BaseRequest(std::string url, SteadyClock::time_point deadline) const;
  // Updates counters and health for one finished attempt (err == nullptr: success).
  void Record(const Error* err, long http_status, std::chrono::microseconds latency, uint64_t bytes);
  void RecordCar(uint64_t blocks);

  std::string url_;  // without trailing slash
  std::shared_ptr<HttpClient> http_;
  RemoteOptions options_;

 private:
  mutable std::mutex mu_;
  SourceStats stats_;
  SteadyClock::time_point backoff_until_{};
};

}  // namespace ipfskit
