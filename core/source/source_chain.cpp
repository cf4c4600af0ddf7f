#include "core/source/source_chain.h"
#include "core/cache/arc_block_cache.h"
#include "core/codec/dagpb.h"
#include "core/codec/unixfs.h"
#include "core/util/log.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <thread>

namespace ipfskit {
namespace {

double Jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.5)(rng);
}

int Tier(const RemoteSource& s) { return std::string_view(s.kind()) == "kubo" ? 0 : 1; }

// What hedged attempts share with the chain: they run on worker threads that may outlive it.
// The workers are kept (a thread per attempt cost 2-3 ms per fetch here in thread start-up and
// teardown); one is started when no idle one is left, and each exits after kWorkerIdle without
// work or, once the chain is gone, when the work queue is empty.
// Lock order: pool_mu and mu are never held together.
struct HedgeShared {
  static constexpr std::chrono::seconds kWorkerIdle{10};
  std::mutex mu;
  std::condition_variable cv;
  int live = 0;  // attempts queued or running
  // Per source (the chain's remotes_ index): attempts left behind by a hedge and still running.
  std::unique_ptr<std::atomic<int>[]> slow;

  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::deque<std::function<void()>> jobs;
  size_t idle = 0;
  bool stopping = false;

  explicit HedgeShared(size_t sources) : slow(new std::atomic<int>[sources]) {
    for (size_t i = 0; i < sources; ++i) slow[i] = 0;
  }
};

void HedgeWorker(std::shared_ptr<HedgeShared> hs) {
  std::unique_lock lock(hs->pool_mu);
  while (true) {
    if (hs->jobs.empty()) {
      if (hs->stopping) return;
      ++hs->idle;
      const bool woke = hs->pool_cv.wait_for(lock, HedgeShared::kWorkerIdle,
                                             [&] { return !hs->jobs.empty() || hs->stopping; });
      --hs->idle;
      if (!woke) return;
      continue;
    }
    std::function<void()> job = std::move(hs->jobs.front());
    hs->jobs.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // what it holds goes here, not under the lock
    lock.lock();
  }
}

// Runs `job` on a hedge worker (inline when no thread can be started).
void SubmitHedgeJob(const std::shared_ptr<HedgeShared>& hs, std::function<void()> job) {
  {
    std::lock_guard lock(hs->pool_mu);
    hs->jobs.push_back(std::move(job));
    if (hs->idle >= hs->jobs.size()) {
      hs->pool_cv.notify_one();
      return;
    }
  }
  try {
    std::thread(HedgeWorker, hs).detach();
  } catch (const std::system_error&) {
    std::unique_lock lock(hs->pool_mu);
    if (hs->jobs.empty()) return;  // a worker took it meanwhile
    std::function<void()> j = std::move(hs->jobs.back());
    hs->jobs.pop_back();
    lock.unlock();
    j();
  }
}

// One hedged fetch: its attempts' outcomes, in the order they end.
struct Race {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<size_t, Result<Block>>> ended;  // (attempt, outcome)
  std::vector<size_t> source_of;                       // attempt -> remotes_ index
  std::vector<bool> running, left_behind;              // per attempt
};

// The failed attempts of one fetch, for its error.
struct AttemptLog {
  std::string text;
  std::optional<Error> last;
  bool all_not_found = true;
  void Add(const Error& e) {
    if (e.code != Errc::kNotFound) all_not_found = false;
    if (!text.empty()) text += "; ";
    text += e.message;
    last = e;
  }
};

// How long the attempt on `src` may go unanswered before the next source is asked too: the
// hedge delay, or twice the source's usual latency where that is longer, capped at four delays.
std::chrono::milliseconds HedgeDelay(const RemoteSource& src, std::chrono::milliseconds hedge_after) {
  const double usual = 2 * src.Stats().latency_ewma_ms;
  const double ms = std::clamp(usual, static_cast<double>(hedge_after.count()), 4.0 * hedge_after.count());
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

// Asks `order` (sources[i] is order[i]'s index in the chain) for `cid`, hedged as the header
// says. The block, or nullopt with the failures in `log` (nullopt with attempts still running
// only when the deadline passed).
std::optional<Block> AskHedged(const Cid& cid, const std::vector<std::shared_ptr<RemoteSource>>& order,
                               const std::vector<size_t>& sources, SteadyClock::time_point deadline,
                               std::chrono::milliseconds hedge_after, const std::shared_ptr<HedgeShared>& hs,
                               std::atomic<uint64_t>& hedged, std::atomic<uint64_t>& wins, AttemptLog& log) {
  auto race = std::make_shared<Race>();
  size_t next = 0, running = 0;
  auto launch = [&] {  // race->mu not held
    const size_t attempt = next++;
    const size_t source = sources[attempt];
    std::shared_ptr<RemoteSource> src = order[attempt];
    {
      std::lock_guard lock(race->mu);
      race->source_of.push_back(source);
      race->running.push_back(true);
      race->left_behind.push_back(false);
    }
    {
      std::lock_guard lock(hs->mu);
      ++hs->live;
    }
    ++running;
    auto run = [race, hs, src, cid, deadline, attempt, source] {
      Result<Block> r = src->Fetch(cid, deadline);
      {
        std::lock_guard lock(race->mu);
        race->running[attempt] = false;
        if (race->left_behind[attempt]) hs->slow[source].fetch_sub(1);
        race->ended.emplace_back(attempt, std::move(r));
      }
      race->cv.notify_all();
      {
        std::lock_guard lock(hs->mu);
        --hs->live;
      }
      hs->cv.notify_all();
    };
    SubmitHedgeJob(hs, std::move(run));
  };
  launch();
  auto hedge_at = SteadyClock::now() + HedgeDelay(*order[0], hedge_after);
  std::unique_lock lock(race->mu);
  while (running > 0) {
    const auto until = next < order.size() ? std::min(hedge_at, deadline) : deadline;
    if (!race->cv.wait_until(lock, until, [&] { return !race->ended.empty(); })) {
      if (SteadyClock::now() >= deadline) break;  // the attempts end by their own timeouts
      // The latest attempt is slow: it keeps running, and the next source is asked too.
      const size_t behind = next - 1;
      if (race->running[behind]) {
        race->left_behind[behind] = true;
        hs->slow[race->source_of[behind]].fetch_add(1);
      }
      hedged.fetch_add(1);
      lock.unlock();
      launch();
      hedge_at = SteadyClock::now() + HedgeDelay(*order[next - 1], hedge_after);
      lock.lock();
      continue;
    }
    auto [attempt, r] = std::move(race->ended.front());
    race->ended.pop_front();
    --running;
    if (r.ok()) {
      if (std::find(race->left_behind.begin(), race->left_behind.begin() + attempt, true) !=
          race->left_behind.begin() + attempt)
        wins.fetch_add(1);
      return std::move(*r);
    }
    log.Add(r.error());
    if (next < order.size()) {  // a failure hands over at once
      lock.unlock();
      launch();
      hedge_at = SteadyClock::now() + HedgeDelay(*order[next - 1], hedge_after);
      lock.lock();
    }
  }
  return std::nullopt;
}

}  // namespace

struct SourceChain::Flight {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool released = false;  // a stream's flight it did not fill: the waiters fetch themselves
  std::optional<Result<Block>> result;
};

// A queued or running CAR stream. Its flights are registered in flights_ until each is filled
// or released; only the stream's thread touches `flights` once it runs.
struct SourceChain::Stream {
  Cid root;
  bool tree = false;
  std::vector<LeafSpan> spans;  // file: the expected blocks in file order
  uint64_t from = 0;            // file: the range [from, to]
  int64_t to = -1;
  std::unordered_map<Cid, std::shared_ptr<Flight>> flights;
  // File streams: the blocks not yet received, by the file offset where their bytes begin (the
  // resume point is the first), and each one's offset.
  std::multimap<uint64_t, Cid> pending;
  std::unordered_map<Cid, uint64_t> offset_of;
};

struct SourceChain::Counters {
  std::atomic<uint64_t> gets{0}, identity{0}, local_hits{0}, cache_hits{0}, remote_fetches{0}, remote_ok{0},
      collapsed{0}, not_found{0}, failed{0}, deadline_exceeded{0}, retry_rounds{0}, cache_put_errors{0},
      prefetch_queued{0}, prefetch_dropped{0}, prefetch_skipped{0}, prefetch_fetched{0}, prefetch_failed{0},
      car_ranges{0}, car_blocks{0}, car_trees{0}, car_resumes{0}, car_released{0}, stream_refused{0},
      hedged{0}, hedge_wins{0};
  std::shared_ptr<HedgeShared> hedges;
};

SourceChain::SourceChain(std::shared_ptr<BlockGetter> local, std::shared_ptr<BlockCache> cache,
                         std::vector<std::shared_ptr<RemoteSource>> remotes, ChainOptions options)
    : local_(std::move(local)),
      cache_(std::move(cache)),
      remotes_(std::move(remotes)),
      options_(options),
      slots_(static_cast<std::ptrdiff_t>(std::max<size_t>(1, options.max_inflight))),
      c_(std::make_unique<Counters>()) {
  c_->hedges = std::make_shared<HedgeShared>(remotes_.size());
}

SourceChain::~SourceChain() {
  {
    // Hedged attempts still running touch only what they share (HedgeShared, their source):
    // waiting is for an orderly exit, not for safety, so it is bounded.
    std::lock_guard lock(c_->hedges->pool_mu);
    c_->hedges->stopping = true;
  }
  c_->hedges->pool_cv.notify_all();
  {
    std::unique_lock lock(c_->hedges->mu);
    c_->hedges->cv.wait_for(lock, options_.hedge_drain, [&] { return c_->hedges->live == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(pq_mu_);
    stopping_ = true;
  }
  pq_cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& t : stream_workers_) t.join();
  // Streams never run: their waiters fetch on their own (and find the chain stopping).
  for (auto& st : streams_)
    for (auto& [cid, f] : st->flights) FinishFlight(cid, f, std::nullopt);
}

Result<Block> SourceChain::Get(const Cid& cid) {
  c_->gets.fetch_add(1);
  if (cid.is_identity()) {
    c_->identity.fetch_add(1);
    return IdentityBlock(cid);
  }
  if (local_) {
    auto r = local_->Get(cid);
    if (r.ok()) {
      c_->local_hits.fetch_add(1);
      return r;
    }
    if (r.error().code != Errc::kNotFound) return r;
  }
  if (cache_) {
    auto r = cache_->Get(cid);
    if (r.ok()) {
      c_->cache_hits.fetch_add(1);
      return r;
    }
  }
  if (remotes_.empty()) {
    c_->not_found.fetch_add(1);
    return MakeError(Errc::kNotFound, "block " + cid.ToString() + " is not local and no network source is configured");
  }
  return FetchRemote(cid, SteadyClock::now() + options_.overall_timeout);
}

bool SourceChain::Has(const Cid& cid) {
  if (cid.is_identity()) return true;
  return (local_ && local_->Has(cid)) || (cache_ && cache_->Has(cid));
}

Result<Block> SourceChain::FetchRemote(const Cid& cid, SteadyClock::time_point deadline) {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> lock(flights_mu_);
    auto it = flights_.find(cid);
    if (it != flights_.end()) {
      flight = it->second;
    } else {
      flight = std::make_shared<Flight>();
      flights_.emplace(cid, flight);
      leader = true;
    }
  }
  if (!leader) {
    c_->collapsed.fetch_add(1);
    std::unique_lock<std::mutex> lock(flight->mu);
    if (!flight->cv.wait_until(lock, deadline, [&] { return flight->done; })) {
      c_->deadline_exceeded.fetch_add(1);
      return MakeError(Errc::kTimeout, "waiting for the fetch of " + cid.ToString() + " ran out of time");
    }
    if (flight->released) {
      lock.unlock();
      return FetchRemote(cid, deadline);  // the flight is gone from flights_: this one leads
    }
    return *flight->result;
  }
  Result<Block> result = FetchUncollapsed(cid, deadline);
  {
    std::lock_guard<std::mutex> lock(flights_mu_);
    flights_.erase(cid);
  }
  {
    std::lock_guard<std::mutex> lock(flight->mu);
    flight->result = result;
    flight->done = true;
  }
  flight->cv.notify_all();
  return result;
}

std::vector<std::shared_ptr<RemoteSource>> SourceChain::Ordered(int round, size_t* skipped) const {
  const auto now = SteadyClock::now();
  struct Item {
    std::shared_ptr<RemoteSource> src;
    bool backed_off;
    bool slow;  // left behind by a hedge, still running
    int tier;
    double score;
    size_t index;
    SteadyClock::time_point until;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < remotes_.size(); ++i) {
    const auto& s = remotes_[i];
    auto until = s->backoff_until();
    items.push_back({s, now < until, c_->hedges->slow[i].load() > 0, Tier(*s), s->Score(), i, until});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.backed_off != b.backed_off) return !a.backed_off;
    if (a.backed_off) return a.until < b.until;  // the soonest to recover first
    if (a.slow != b.slow) return !a.slow;
    if (a.tier != b.tier) return a.tier < b.tier;
    if (a.score != b.score) return a.score < b.score;
    return a.index < b.index;
  });
  const bool any_healthy = !items.empty() && !items.front().backed_off;
  std::vector<std::shared_ptr<RemoteSource>> out;
  *skipped = 0;
  for (auto& it : items) {
    if (it.backed_off && round == 0 && any_healthy) {
      ++*skipped;
      continue;
    }
    out.push_back(it.src);
  }
  return out;
}

void SourceChain::StoreInCache(const Cid& cid, const Block& block) {
  if (!cache_) return;
  if (local_ && local_->Has(cid)) return;  // the repo owns it (pinned or added locally)
  // What reaches here was verified by its source (RemoteSource::Fetch, the CAR reader): the
  // ARC cache need not hash it again, and keeps the block itself (it owns its bytes).
  auto* arc = dynamic_cast<ArcBlockCache*>(cache_.get());
  Status st = arc ? arc->PutVerified(cid, block) : cache_->Put(cid, block.data());
  if (!st.ok()) c_->cache_put_errors.fetch_add(1);
}

Result<Block> SourceChain::FetchUncollapsed(const Cid& cid, SteadyClock::time_point deadline) {
  if (!slots_.try_acquire_until(deadline)) {
    c_->deadline_exceeded.fetch_add(1);
    return MakeError(Errc::kTimeout, "no free request slot for " + cid.ToString() + " before the deadline");
  }
  struct Release {
    std::counting_semaphore<1 << 16>& s;
    ~Release() { s.release(); }
  } release{slots_};
  // Another fetch may have finished (and cached it) between our miss and taking the lead.
  // Probe with Has so this second look is not counted as a second cache miss.
  if (cache_ && cache_->Has(cid)) {
    auto r = cache_->Get(cid);
    if (r.ok()) return r;
  }
  c_->remote_fetches.fetch_add(1);
  AttemptLog log;
  bool out_of_time = false;
  for (int round = 0; round < std::max(1, options_.max_rounds); ++round) {
    if (round > 0) {
      c_->retry_rounds.fetch_add(1);
      const double factor = std::ldexp(1.0, std::min(round - 1, 20));
      const double ms = std::min(static_cast<double>(options_.retry_base.count()) * factor,
                                 static_cast<double>(options_.retry_max.count())) * Jitter();
      auto wake = SteadyClock::now() + std::chrono::milliseconds(static_cast<int64_t>(ms));
      if (wake >= deadline) {
        out_of_time = true;
        break;
      }
      std::this_thread::sleep_until(wake);
    }
    size_t skipped = 0;
    auto order = Ordered(round, &skipped);
    log.all_not_found = true;
    if (round == 0 && order.size() >= 2 && options_.hedge_after.count() > 0) {
      std::vector<size_t> sources;
      for (const auto& src : order)
        sources.push_back(std::find(remotes_.begin(), remotes_.end(), src) - remotes_.begin());
      if (auto b = AskHedged(cid, order, sources, deadline, options_.hedge_after, c_->hedges, c_->hedged,
                             c_->hedge_wins, log)) {
        StoreInCache(cid, *b);
        c_->remote_ok.fetch_add(1);
        return std::move(*b);
      }
    } else {
      for (const auto& src : order) {
        if (SteadyClock::now() >= deadline) break;
        auto r = src->Fetch(cid, deadline);
        if (r.ok()) {
          StoreInCache(cid, *r);
          c_->remote_ok.fetch_add(1);
          return r;
        }
        log.Add(r.error());
      }
    }
    if (SteadyClock::now() >= deadline) break;
    if (log.all_not_found && skipped == 0 && !order.empty()) {
      c_->not_found.fetch_add(1);
      return MakeError(Errc::kNotFound, "no source has " + cid.ToString() + ": " + log.text);
    }
    if (log.all_not_found) continue;  // only backed-off sources are left to ask: no need to wait
  }
  if (out_of_time || SteadyClock::now() >= deadline) {
    c_->deadline_exceeded.fetch_add(1);
    c_->failed.fetch_add(1);
    Error e = MakeError(Errc::kTimeout, "fetching " + cid.ToString() + " ran past the overall timeout" +
                                            (log.text.empty() ? std::string() : ": " + log.text));
    spdlog::debug("sources: {}", e.message);
    return e;
  }
  c_->failed.fetch_add(1);
  if (!log.last) return MakeError(Errc::kNotFound, "no source to ask for " + cid.ToString());
  Error e = MakeError(log.last->code, "every source failed for " + cid.ToString() + ": " + log.text);
  // The caller gets the error (the CLI prints it, the mount counts it in /.ipfskit/stats);
  // the log keeps it at debug level so a CLI error stays one line.
  spdlog::debug("sources: {}", e.message);
  return e;
}

void SourceChain::Prefetch(std::span<const Cid> cids) {
  if (remotes_.empty() || !cache_) return;
  size_t added = 0;
  {
    std::lock_guard<std::mutex> lock(pq_mu_);
    if (stopping_) return;
    if (workers_.empty())
      for (size_t i = 0; i < std::max<size_t>(1, options_.prefetch_workers); ++i)
        workers_.emplace_back([this] { PrefetchWorker(); });
    for (const Cid& cid : cids) {
      if (cid.is_identity() || pq_set_.count(cid)) continue;
      if (pq_.size() >= options_.prefetch_queue) {
        c_->prefetch_dropped.fetch_add(1);
        continue;
      }
      pq_.push_back(cid);
      pq_set_.insert(cid);
      ++added;
    }
  }
  c_->prefetch_queued.fetch_add(added);
  if (added) pq_cv_.notify_all();
}

void SourceChain::PrefetchWorker() {
  for (;;) {
    Cid cid;
    {
      std::unique_lock<std::mutex> lock(pq_mu_);
      pq_cv_.wait(lock, [&] { return stopping_ || !pq_.empty(); });
      if (stopping_) return;
      cid = std::move(pq_.front());
      pq_.pop_front();
      pq_set_.erase(cid);
    }
    if (Has(cid)) {
      c_->prefetch_skipped.fetch_add(1);
      continue;
    }
    auto r = FetchRemote(cid, SteadyClock::now() + options_.overall_timeout);
    (r.ok() ? c_->prefetch_fetched : c_->prefetch_failed).fetch_add(1);
  }
}

Status SourceChain::PrefetchRange(const Cid& root, uint64_t from, int64_t to) {
  if (!cache_) return MakeError(Errc::kUnsupported, "range prefetch needs a cache");
  const auto deadline = SteadyClock::now() + options_.overall_timeout;
  size_t skipped = 0;
  std::optional<Error> last;
  for (const auto& src : Ordered(1, &skipped)) {
    auto* gw = dynamic_cast<GatewaySource*>(src.get());
    if (!gw) continue;
    if (SteadyClock::now() >= deadline) break;
    c_->car_ranges.fetch_add(1);
    auto r = gw->FetchCarRange(
        root, from, to,
        [&](const Cid& cid, ByteView data) -> Status {
          c_->car_blocks.fetch_add(1);
          StoreInCache(cid, Block::Owned(Bytes(data.begin(), data.end())));  // verified by the CAR reader
          return Status::Ok();
        },
        deadline);
    if (r.ok()) return Status::Ok();
    last = r.error();
  }
  if (!last) return MakeError(Errc::kNotFound, "no gateway to fetch a range of " + root.ToString() + " from");
  return *last;
}

std::vector<std::shared_ptr<RemoteSource>> SourceChain::Gateways() const {
  size_t skipped = 0;
  std::vector<std::shared_ptr<RemoteSource>> out;
  for (auto& src : Ordered(1, &skipped))
    if (auto* gw = dynamic_cast<GatewaySource*>(src.get()); gw && gw->serves_car()) out.push_back(src);
  return out;
}

bool SourceChain::PrefetchFileRange(const Cid& file, std::span<const LeafSpan> spans, uint64_t from, int64_t to) {
  if (spans.empty()) return false;
  auto st = std::make_shared<Stream>();
  st->root = file;
  st->spans.assign(spans.begin(), spans.end());
  st->from = from;
  st->to = to;
  std::vector<Cid> want;
  for (const auto& s : spans) want.push_back(s.cid);
  return QueueStream(std::move(st), want);
}

bool SourceChain::PrefetchTree(const Cid& dir, std::span<const Cid> children) {
  auto st = std::make_shared<Stream>();
  st->root = dir;
  st->tree = true;
  return QueueStream(std::move(st), children);
}

bool SourceChain::QueueStream(std::shared_ptr<Stream> st, std::span<const Cid> want) {
  if (!cache_ || Gateways().empty()) {
    c_->stream_refused.fetch_add(1);
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(pq_mu_);
    if (stopping_ || streams_.size() >= options_.stream_queue) {
      c_->stream_refused.fetch_add(1);
      return false;
    }
  }
  {
    std::lock_guard<std::mutex> lock(flights_mu_);
    for (const Cid& cid : want) {
      if (cid.is_identity() || flights_.count(cid) || st->flights.count(cid)) continue;
      if ((local_ && local_->Has(cid)) || cache_->Has(cid)) continue;
      auto f = std::make_shared<Flight>();
      flights_.emplace(cid, f);
      st->flights.emplace(cid, std::move(f));
    }
  }
  {
    std::lock_guard<std::mutex> lock(pq_mu_);
    if (!stopping_) {
      if (stream_workers_.empty())
        for (size_t i = 0; i < std::max<size_t>(1, options_.stream_workers); ++i)
          stream_workers_.emplace_back([this] { StreamWorker(); });
      streams_.push_back(st);
      st.reset();
    }
  }
  if (st) {  // stopping in between: give the flights back
    for (auto& [cid, f] : st->flights) FinishFlight(cid, f, std::nullopt);
    return false;
  }
  pq_cv_.notify_all();
  return true;
}

void SourceChain::FinishFlight(const Cid& cid, const std::shared_ptr<Flight>& f, std::optional<Block> block) {
  {
    std::lock_guard<std::mutex> lock(flights_mu_);
    auto it = flights_.find(cid);
    if (it != flights_.end() && it->second == f) flights_.erase(it);
  }
  {
    std::lock_guard<std::mutex> lock(f->mu);
    if (!block) {
      f->released = true;
    } else {
      f->result = std::move(*block);
    }
    f->done = true;
  }
  f->cv.notify_all();
}

void SourceChain::StreamWorker() {
  for (;;) {
    std::shared_ptr<Stream> st;
    {
      std::unique_lock<std::mutex> lock(pq_mu_);
      pq_cv_.wait(lock, [&] { return stopping_ || !streams_.empty(); });
      if (stopping_) return;  // the destructor releases what is still queued
      st = std::move(streams_.front());
      streams_.pop_front();
    }
    RunStream(*st);
    for (auto& [cid, f] : st->flights) {
      c_->car_released.fetch_add(1);
      FinishFlight(cid, f, std::nullopt);
    }
  }
}

void SourceChain::ClaimChildren(Stream& st, ByteView data, uint64_t off, uint64_t range_end) {
  auto node = DecodePbNode(data);
  if (!node.ok() || node->links.empty() || !node->data) return;
  auto fs = DecodeUnixfs(*node->data);
  if (!fs.ok() || fs->blocksizes.size() != node->links.size()) return;
  uint64_t pos = off + (fs->data ? fs->data->size() : 0);
  std::lock_guard<std::mutex> lock(flights_mu_);
  for (size_t i = 0; i < node->links.size(); ++i) {
    const uint64_t begin = pos, end = pos + fs->blocksizes[i];
    pos = end;
    const Cid& child = node->links[i].hash;
    if (end <= st.from || end == begin) continue;  // before the range (not sent), or no bytes
    if (begin > range_end) break;
    if (child.is_identity() || st.offset_of.count(child)) continue;
    st.offset_of.emplace(child, begin);
    st.pending.emplace(begin, child);
    if (flights_.count(child) || (local_ && local_->Has(child)) || cache_->Has(child)) continue;
    auto f = std::make_shared<Flight>();
    flights_.emplace(child, f);
    st.flights.emplace(child, std::move(f));
  }
}

void SourceChain::ClaimFromElsewhere(Stream& st, uint64_t range_end, SteadyClock::time_point deadline) {
  for (const LeafSpan& sp : st.spans) {
    if (st.flights.count(sp.cid) || sp.cid.codec() != codec::kDagPb) continue;
    std::shared_ptr<Flight> other;
    {
      std::lock_guard<std::mutex> lock(flights_mu_);
      if (auto it = flights_.find(sp.cid); it != flights_.end()) other = it->second;
    }
    std::optional<Block> block;
    if (other) {  // being fetched (often by the stream before this one): wait for it, bounded
      std::unique_lock<std::mutex> lock(other->mu);
      other->cv.wait_until(lock, deadline, [&] { return other->done; });
      if (other->done && !other->released && other->result && other->result->ok()) block = **other->result;
    }
    if (!block) {
      auto b = (local_ && local_->Has(sp.cid)) ? local_->Get(sp.cid) : cache_->Get(sp.cid);
      if (!b.ok()) continue;
      block = std::move(*b);
    }
    ClaimChildren(st, block->data(), sp.offset, range_end);
  }
}

void SourceChain::RunStream(Stream& st) {
  const auto deadline = SteadyClock::now() + options_.overall_timeout;
  if (!slots_.try_acquire_until(deadline)) return;
  struct Release {
    std::counting_semaphore<1 << 16>& s;
    ~Release() { s.release(); }
  } release{slots_};
  for (const auto& sp : st.spans) {
    if (!st.offset_of.emplace(sp.cid, sp.offset).second) continue;
    st.pending.emplace(sp.offset, sp.cid);
  }
  const uint64_t range_end = st.to < 0 ? UINT64_MAX : static_cast<uint64_t>(st.to);
  if (!st.tree) ClaimFromElsewhere(st, range_end, deadline);
  uint64_t bytes = 0, got = 0;
  auto on_block = [&](const Cid& cid, ByteView data) -> Status {
    {
      std::lock_guard<std::mutex> lock(pq_mu_);
      if (stopping_) return MakeError(Errc::kCancelled, "the source chain is stopping");
    }
    c_->car_blocks.fetch_add(1);
    ++got;
    if (auto o = st.offset_of.find(cid); !st.tree && o != st.offset_of.end()) {
      // An inner node: its children in the range become this stream's before the node is
      // handed over, so a reader that walks on from it waits for them rather than asking.
      const uint64_t off = o->second;
      for (auto it = st.pending.lower_bound(off); it != st.pending.end() && it->first == off; ++it)
        if (it->second == cid) {
          st.pending.erase(it);
          break;
        }
      if (cid.codec() == codec::kDagPb) ClaimChildren(st, data, off, range_end);
    }
    // Cached only after its children are claimed: a reader that finds the node in the cache
    // then finds their flights too. One copy of the bytes, shared by the cache and the waiters.
    Block block = Block::Owned(Bytes(data.begin(), data.end()));
    StoreInCache(cid, block);  // verified by the CAR reader
    if (auto it = st.flights.find(cid); it != st.flights.end()) {
      FinishFlight(cid, it->second, std::move(block));
      st.flights.erase(it);
    }
    bytes += data.size();
    if (st.tree && bytes > options_.tree_stream_budget)
      return MakeError(Errc::kCancelled, "tree stream budget reached");
    return Status::Ok();
  };
  auto gateways = Gateways();
  size_t g = 0;
  for (int attempt = 0; attempt < std::max(1, options_.stream_attempts) && g < gateways.size(); ++attempt) {
    if (st.flights.empty() || SteadyClock::now() >= deadline) return;
    auto* gw = static_cast<GatewaySource*>(gateways[g].get());
    const uint64_t received = got;
    const size_t left = st.flights.size();
    Result<GatewaySource::CarResult> r = MakeError(Errc::kInternal, "");
    if (st.tree) {
      c_->car_trees.fetch_add(1);
      r = gw->FetchCar(st.root, "dag-scope=all", on_block, deadline);
    } else {
      if (st.pending.empty()) return;
      if (attempt > 0) c_->car_resumes.fetch_add(1);
      c_->car_ranges.fetch_add(1);
      r = gw->FetchCarRange(st.root, std::max(st.from, st.pending.begin()->first), st.to, on_block, deadline);
    }
    if (r.ok() || st.tree) return;  // a tree stream is not resumed: what is left goes block by block
    spdlog::debug("sources: CAR stream of {} from {} cut: {}", st.root.ToString(), gw->url(), r.error().message);
    if (r.error().code == Errc::kCancelled) return;
    if (r.error().code == Errc::kUnsupported) {
      ++g;
      continue;
    }
    // A gateway that sent a bad block, or nothing, is not asked again for this stream; one that
    // was cut after some progress may resume.
    const Errc code = r.error().code;
    if (code == Errc::kHashMismatch || code == Errc::kMalformed ||
        (got == received && st.flights.size() == left))
      ++g;
  }
}

ChainStats SourceChain::Stats() {
  ChainStats s;
  s.offline = remotes_.empty();
  s.gets = c_->gets;
  s.identity = c_->identity;
  s.local_hits = c_->local_hits;
  s.cache_hits = c_->cache_hits;
  s.remote_fetches = c_->remote_fetches;
  s.remote_ok = c_->remote_ok;
  s.collapsed = c_->collapsed;
  s.not_found = c_->not_found;
  s.failed = c_->failed;
  s.deadline_exceeded = c_->deadline_exceeded;
  s.retry_rounds = c_->retry_rounds;
  s.hedged = c_->hedged;
  s.hedge_wins = c_->hedge_wins;
  s.cache_put_errors = c_->cache_put_errors;
  s.prefetch_queued = c_->prefetch_queued;
  s.prefetch_dropped = c_->prefetch_dropped;
  s.prefetch_skipped = c_->prefetch_skipped;
  s.prefetch_fetched = c_->prefetch_fetched;
  s.prefetch_failed = c_->prefetch_failed;
  s.car_ranges = c_->car_ranges;
  s.car_blocks = c_->car_blocks;
  s.car_trees = c_->car_trees;
  s.car_resumes = c_->car_resumes;
  s.car_released = c_->car_released;
  s.stream_refused = c_->stream_refused;
  size_t skipped = 0;
  for (const auto& src : Ordered(1, &skipped)) s.sources.push_back(src->Stats());
  if (cache_) s.cache = cache_->Stats();
  return s;
}

nlohmann::json ToJson(const SourceStats& s) {
  nlohmann::json status = nlohmann::json::object();
  for (auto& [code, n] : s.http_status) status[std::to_string(code)] = n;
  return {{"url", s.url},
          {"kind", s.kind},
          {"requests", s.requests},
          {"ok", s.ok},
          {"not_found", s.not_found},
          {"errors",
           {{"timeout", s.timeouts},
            {"http", s.http_errors},
            {"hash_mismatch", s.hash_mismatches},
            {"truncated", s.truncated},
            {"network", s.network_errors},
            {"malformed", s.malformed},
            {"other", s.other_errors}}},
          {"http_status", status},
          {"bytes", s.bytes},
          {"car_requests", s.car_requests},
          {"car_blocks", s.car_blocks},
          {"latency_ewma_ms", s.latency_ewma_ms},
          {"failure_ewma", s.failure_ewma},
          {"consecutive_failures", s.consecutive_failures},
          {"backoffs", s.backoffs},
          {"backoff_remaining_ms", s.backoff_remaining_ms}};
}

nlohmann::json ToJson(const CacheStats& s) {
  return {{"hits", s.hits},
          {"misses", s.misses},
          {"hit_ratio", s.hit_ratio},
          {"bytes", s.bytes},
          {"max_bytes", s.max_bytes},
          {"entries", s.entries},
          {"inserts", s.inserts},
          {"evictions", s.evictions},
          {"declined", s.declined},
          {"verification_failures", s.verification_failures},
          {"p", s.p},
          {"pending_bytes", s.pending_bytes},
          {"commits", s.commits},
          {"commit_errors", s.commit_errors},
          {"lists",
           {{"t1", {{"entries", s.t1_entries}, {"bytes", s.t1_bytes}}},
            {"t2", {{"entries", s.t2_entries}, {"bytes", s.t2_bytes}}},
            {"b1", {{"entries", s.b1_entries}, {"bytes", s.b1_bytes}}},
            {"b2", {{"entries", s.b2_entries}, {"bytes", s.b2_bytes}}}}}};
}

nlohmann::json ToJson(const ChainStats& s) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& src : s.sources) sources.push_back(ToJson(src));
  nlohmann::json j = {{"offline", s.offline},
                      {"gets", s.gets},
                      {"identity", s.identity},
                      {"local_hits", s.local_hits},
                      {"cache_hits", s.cache_hits},
                      {"remote_fetches", s.remote_fetches},
                      {"remote_ok", s.remote_ok},
                      {"collapsed", s.collapsed},
                      {"not_found", s.not_found},
                      {"failed", s.failed},
                      {"deadline_exceeded", s.deadline_exceeded},
                      {"retry_rounds", s.retry_rounds},
                      {"hedged", s.hedged},
                      {"hedge_wins", s.hedge_wins},
                      {"cache_put_errors", s.cache_put_errors},
                      {"prefetch",
                       {{"queued", s.prefetch_queued},
                        {"dropped", s.prefetch_dropped},
                        {"skipped", s.prefetch_skipped},
                        {"fetched", s.prefetch_fetched},
                        {"failed", s.prefetch_failed}}},
                      {"car",
                       {{"ranges", s.car_ranges},
                        {"trees", s.car_trees},
                        {"blocks", s.car_blocks},
                        {"resumes", s.car_resumes},
                        {"released", s.car_released},
                        {"refused", s.stream_refused}}},
                      {"sources", sources}};
  j["cache"] = s.cache ? ToJson(*s.cache) : nlohmann::json(nullptr);
  return j;
}

}  // namespace ipfskit
