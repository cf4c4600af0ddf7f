// SourceChain: the one BlockGetter the reader and the mount use. Order: local repo -> cache ->
// remote sources (Kubo RPC before gateways; within a tier, the best recent latency and failure
// record first; backed-off sources last).
//
// A remote fetch:
//  - is collapsed: concurrent Gets for one CID share a single fetch;
//  - holds one of `max_inflight` slots (demand reads and prefetch share them);
//  - tries each source once per round, retries rounds with exponential backoff and jitter, and
//    never runs past `overall_timeout` (each attempt also has the source's request timeout);
//  - is hedged in its first round: when the source asked has not answered after `hedge_after`
//    (or twice its latency estimate, if longer), the next source is asked too, and the first
//    verified answer wins; a source that fails hands over to the next at once. A source left
//    behind by a hedge ranks after the others until that attempt ends. Hedged attempts run on
//    worker threads (kept between fetches) and may outlive the fetch (the loser runs to its answer or timeout; its
//    outcome still counts in its source's health); the chain's destructor waits for them at
//    most `hedge_drain` and leaves the rest to finish on their own (they share nothing with it);
//  - verifies the block's multihash (in RemoteSource) before it is returned or cached; only
//    verified blocks are put in the cache, and never blocks the local repo already has.
//
// Streams (PrefetchFileRange, PrefetchTree): one CAR request from the best gateway brings many
// blocks (a file's byte range with dag-scope=entity&entity-bytes, or a small directory tree with
// dag-scope=all) into the cache. The blocks a stream is expected to bring are registered as its
// flights when it is queued, so a Get of one of them waits for the stream instead of asking on
// its own. A file stream cut part-way resumes from the first block not yet received (from the
// next gateway when one made no progress), at most `stream_attempts` times; then, and for
// whatever a tree stream did not bring, the flights left are released: their waiters fetch
// block by block. Streams run on `stream_workers` threads, at most `stream_queue` queued (more
// are refused: the caller prefetches block by block), each holding one request slot.
//
// Thread-safe. Get errors: kNotFound when every source answered that it lacks the block (or
// there are no network sources, e.g. offline); otherwise the last attempt's error (kTimeout,
// kHttp, kNetwork, kHashMismatch, kTruncated, ...), with every attempt in the message.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <semaphore>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/cache/block_cache.h"
#include "core/source/gateway.h"
#include "core/source/kubo_rpc.h"

namespace ipfskit {

struct ChainOptions {
  std::chrono::milliseconds overall_timeout{60000};
  int max_rounds = 3;  // passes over the source list before giving up
  std::chrono::milliseconds retry_base{250};
  std::chrono::milliseconds retry_max{4000};
  size_t max_inflight = 16;
  size_t prefetch_workers = 4;
  size_t prefetch_queue = 4096;
  size_t stream_workers = 2;
  size_t stream_queue = 8;
  int stream_attempts = 4;
  uint64_t tree_stream_budget = 64 << 20;  // bytes a tree stream may bring before it is cut
  std::chrono::milliseconds hedge_after{250};  // 0: no hedging, sources one after another
  std::chrono::milliseconds hedge_drain{2000};
};

struct ChainStats {
  bool offline = false;  // no network sources configured
  uint64_t gets = 0;
  uint64_t identity = 0;
  uint64_t local_hits = 0;
  uint64_t cache_hits = 0;
  uint64_t remote_fetches = 0;  // fetches that went to the network (after collapsing)
  uint64_t remote_ok = 0;
  uint64_t collapsed = 0;       // Gets that waited on another Get's fetch
  uint64_t not_found = 0;
  uint64_t failed = 0;
  uint64_t deadline_exceeded = 0;
  uint64_t retry_rounds = 0;
  uint64_t hedged = 0;      // extra requests started because the source asked was slow to answer
  uint64_t hedge_wins = 0;  // fetches that such a request answered first
  uint64_t cache_put_errors = 0;
  uint64_t prefetch_queued = 0;
  uint64_t prefetch_dropped = 0;
  uint64_t prefetch_skipped = 0;  // already local or cached
  uint64_t prefetch_fetched = 0;
  uint64_t prefetch_failed = 0;
  uint64_t car_ranges = 0;
  uint64_t car_blocks = 0;
  uint64_t car_trees = 0;        // directory-tree streams
  uint64_t car_resumes = 0;      // cut streams asked again from their first missing block
  uint64_t car_released = 0;     // expected blocks a stream did not bring (fetched one by one)
  uint64_t stream_refused = 0;   // streams not queued (queue full, no gateway)
  std::vector<SourceStats> sources;  // in current preference order
  std::optional<CacheStats> cache;
};

nlohmann::json ToJson(const SourceStats& s);
nlohmann::json ToJson(const CacheStats& s);
nlohmann::json ToJson(const ChainStats& s);

class SourceChain : public BlockGetter {
 public:
  // local and cache may be null. Remote sources keep their given order as the tie-break.
  SourceChain(std::shared_ptr<BlockGetter> local, std::shared_ptr<BlockCache> cache,
              std::vector<std::shared_ptr<RemoteSource>> remotes, ChainOptions options);
  ~SourceChain() override;

  Result<Block> Get(const Cid& cid) override;
  // Local repo or cache only; never asks the network.
  bool Has(const Cid& cid) override;
  // Queues network fetches (into the cache) for blocks not already local or cached. Never
  // blocks; drops hints when the queue is full.
  void Prefetch(std::span<const Cid> cids) override;

  // Streams bytes [from, to] (to < 0: to the end) of the UnixFS file `root` as one CAR from the
  // best gateway into the cache, trying the next gateway on failure. Needs a cache.
  Status PrefetchRange(const Cid& root, uint64_t from, int64_t to);
  bool PrefetchFileRange(const Cid& file, std::span<const LeafSpan> spans, uint64_t from, int64_t to) override;
  bool PrefetchTree(const Cid& dir, std::span<const Cid> children) override;

  ChainStats Stats();
  const std::vector<std::shared_ptr<RemoteSource>>& remotes() const { return remotes_; }
  const std::shared_ptr<BlockCache>& cache() const { return cache_; }

 private:
  struct Flight;
  struct Stream;
  // Registers flights for `want` (those not local, cached or in flight) and queues the stream;
  // false when it cannot be queued.
  bool QueueStream(std::shared_ptr<Stream> st, std::span<const Cid> want);
  void StreamWorker();
  void RunStream(Stream& st);
  // A file stream delivered the inner node `data` standing for bytes from `off`: registers its
  // children within the range as the stream's (pending, and flights unless local or in flight).
  void ClaimChildren(Stream& st, ByteView data, uint64_t off, uint64_t range_end);
  // Before a file stream's request: a span that is not the stream's own flight may be an inner
  // node standing for leaves of the range (LeafSpansFor puts one there when it was not local),
  // being fetched elsewhere, often by the stream before. Waits for it (bounded) and claims its
  // children in the range, so a reader that gets there first waits for this stream instead of
  // asking block by block (and a stream with no flight of its own still runs).
  void ClaimFromElsewhere(Stream& st, uint64_t range_end, SteadyClock::time_point deadline);
  // Hands a stream's flight its block, or (nullopt) releases it: its waiters fetch on their own.
  void FinishFlight(const Cid& cid, const std::shared_ptr<Flight>& f, std::optional<Block> block);
  std::vector<std::shared_ptr<RemoteSource>> Gateways() const;
  Result<Block> FetchRemote(const Cid& cid, SteadyClock::time_point deadline);
  Result<Block> FetchUncollapsed(const Cid& cid, SteadyClock::time_point deadline);
  // Sources to try in this round: healthy first by (tier, score, index); backed-off sources
  // only after round 0 (or when every source is backed off). *skipped counts those left out.
  std::vector<std::shared_ptr<RemoteSource>> Ordered(int round, size_t* skipped) const;
  void StoreInCache(const Cid& cid, const Block& block);  // the block must own its bytes
  void PrefetchWorker();

  std::shared_ptr<BlockGetter> local_;
  std::shared_ptr<BlockCache> cache_;
  std::vector<std::shared_ptr<RemoteSource>> remotes_;
  ChainOptions options_;
  std::counting_semaphore<1 << 16> slots_;

  std::mutex flights_mu_;
  std::unordered_map<Cid, std::shared_ptr<Flight>> flights_;

  std::mutex pq_mu_;
  std::condition_variable pq_cv_;
  std::deque<Cid> pq_;
  std::unordered_set<Cid> pq_set_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::deque<std::shared_ptr<Stream>> streams_;  // guarded by pq_mu_
  std::vector<std::thread> stream_workers_;

  struct Counters;
  std::unique_ptr<Counters> c_;
};

}  // namespace ipfskit
