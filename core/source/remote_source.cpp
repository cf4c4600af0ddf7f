#include "core/source/remote_source.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace ipfskit {
namespace {

double Jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.5)(rng);
}

constexpr double kAlpha = 0.3;  // EWMA weight of the newest sample

}  // namespace

RemoteSource::RemoteSource(std::string base_url, std::shared_ptr<HttpClient> http, RemoteOptions options)
    : url_(std::move(base_url)), http_(std::move(http)), options_(options) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  stats_.url = url_;
}

HttpRequest RemoteSource::BaseRequest(std::string url, SteadyClock::time_point deadline) const {
  HttpRequest r;
  r.url = std::move(url);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  r.timeout = std::clamp(left, std::chrono::milliseconds(1), options_.request_timeout);
  r.connect_timeout = std::min(options_.connect_timeout, r.timeout);
  r.low_speed_bytes = options_.low_speed_bytes;
  r.low_speed_seconds = options_.low_speed_seconds;
  return r;
}

Result<Block> RemoteSource::Get(const Cid& cid) {
  return Fetch(cid, SteadyClock::now() + options_.request_timeout);
}

Result<Block> RemoteSource::Fetch(const Cid& cid, SteadyClock::time_point deadline) {
  if (cid.is_identity()) return IdentityBlock(cid);
  HttpRequest req = BlockRequest(cid);
  HttpRequest base = BaseRequest(req.url, deadline);
  req.timeout = base.timeout;
  req.connect_timeout = base.connect_timeout;
  req.low_speed_bytes = base.low_speed_bytes;
  req.low_speed_seconds = base.low_speed_seconds;
  req.max_body = (size_t{2} << 20) + 1;  // the block size limit (ipfs-formats.md §2)
  const auto start = SteadyClock::now();
  auto resp = http_->Fetch(std::move(req));
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start);
  if (!resp.ok()) {
    Record(&resp.error(), 0, latency, 0);
    return resp.take_error();
  }
  if (resp->status != 200) {
    Error e = StatusError(cid, *resp);
    Record(&e, resp->status, latency, 0);
    return e;
  }
  if (!cid.Verifies(resp->body)) {
    Error e = MakeError(Errc::kHashMismatch, std::string(kind()) + " " + url_ + " returned " +
                                                 std::to_string(resp->body.size()) +
                                                 " bytes that do not match " + cid.ToString());
    Record(&e, 200, latency, 0);
    return e;
  }
  Record(nullptr, 200, latency, resp->body.size());
  return Block::Owned(std::move(resp->body));
}

void RemoteSource::Record(const Error* err, long http_status, std::chrono::microseconds latency, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  SourceStats& s = stats_;
  ++s.requests;
  if (http_status != 0 && http_status != 200) ++s.http_status[http_status];
  const double ms = latency.count() / 1000.0;
  if (!err) {
    ++s.ok;
    s.bytes += bytes;
    s.latency_ewma_ms = s.ok == 1 ? ms : (1 - kAlpha) * s.latency_ewma_ms + kAlpha * ms;
    s.failure_ewma *= (1 - kAlpha);
    s.consecutive_failures = 0;
    backoff_until_ = {};
    return;
  }
  switch (err->code) {
    case Errc::kNotFound:
      // The source works; it just lacks the block. Not a health failure.
      ++s.not_found;
      return;
    case Errc::kTimeout: ++s.timeouts; break;
    case Errc::kHttp: ++s.http_errors; break;
    case Errc::kHashMismatch: ++s.hash_mismatches; break;
    case Errc::kTruncated: ++s.truncated; break;
    case Errc::kNetwork: ++s.network_errors; break;
    case Errc::kMalformed: ++s.malformed; break;
    case Errc::kCancelled: return;
    default: ++s.other_errors; break;
  }
  // A failure costs at least its own time in the latency estimate, so slow failures rank low.
  s.latency_ewma_ms = (1 - kAlpha) * s.latency_ewma_ms + kAlpha * ms;
  s.failure_ewma = (1 - kAlpha) * s.failure_ewma + kAlpha;
  ++s.consecutive_failures;
  const double factor = std::ldexp(1.0, static_cast<int>(std::min<uint64_t>(s.consecutive_failures - 1, 20)));
  const double base_ms = static_cast<double>(options_.backoff_base.count()) * factor;
  const double ms_backoff = std::min(base_ms, static_cast<double>(options_.backoff_max.count())) * Jitter();
  backoff_until_ = SteadyClock::now() + std::chrono::milliseconds(static_cast<int64_t>(ms_backoff));
  ++s.backoffs;
}

void RemoteSource::RecordCar(uint64_t blocks) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.car_requests;
  stats_.car_blocks += blocks;
}

bool RemoteSource::BackedOff(SteadyClock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return now < backoff_until_;
}

SteadyClock::time_point RemoteSource::backoff_until() const {
  std::lock_guard<std::mutex> lock(mu_);
  return backoff_until_;
}

double RemoteSource::Score() const {
  std::lock_guard<std::mutex> lock(mu_);
  // Expected cost of an attempt: latency, inflated by the recent failure rate.
  return stats_.latency_ewma_ms * (1 + 4 * stats_.failure_ewma) + 1000 * stats_.failure_ewma;
}

SourceStats RemoteSource::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SourceStats s = stats_;
  s.kind = kind();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(backoff_until_ - SteadyClock::now());
  s.backoff_remaining_ms = std::max<int64_t>(0, left.count());
  return s;
}

}  // namespace ipfskit
