// PinningService: the state behind the Pinning Services API (pinning_handler.h): pin requests,
// kept in the repo's LMDB, fetched in the background through the node's block source and then
// pinned recursively in the repo.
//
// A request's life: Add() records it `queued` (committed before Add returns) and queues it; a
// worker takes it (`pinning`), walks its whole DAG depth-first through `blocks` (each block
// verified by the source chain), writes the blocks it lacks into the repo under a lease, and
// pins the root recursively (`pinned`). A block no source can give ends it `failed`, with the
// reason in info["error"]; nothing is pinned then. Progress (blocks and bytes so far) is in
// info["blocks_fetched"] / info["bytes_fetched"] while it runs and after it ends.
//
// Persistence: database "pinsvc" in the repo's environment, key "r/" + requestid, value the
// record as JSON (requestid, cid, name, origins, meta, created_ns, status, info, pinned_before).
// Progress counters are written with each status change only. At Start(), records `queued` or
// `pinning` (a previous process stopped or died) are queued again; their blocks already in the
// repo are not fetched twice.
//
// Remove(): the record goes; the CID is unpinned in the repo only when no other request for the
// same CID is `pinned` and the CID was not pinned in the repo before the first request for it
// (pinned_before, recorded at Add from the repo or from an earlier request for the same CID).
// A pin made with `ipfskit pin add` after a request pinned the CID cannot be told apart (the
// repo keeps one pin per CID): removing the request unpins it.
// A request removed while being fetched is cancelled at its next block; it never gets pinned.
//
// Origins: each origin that is an HTTP multiaddr (/ip4|/ip6|/dns|/dns4|/dns6/HOST/tcp/PORT/http
// or /https, optionally followed by /p2p/...) is used as an extra trustless gateway for that
// request, tried before the node's own sources. Other origins (libp2p peers) are kept and
// echoed, but not dialled: ipfskit has no libp2p.
//
// Threads: `workers` fetch threads. Every public method is thread-safe.
// Lock order: mu_ is the only lock of the service. It is held across the small LMDB write
// transactions that persist a record (and around Repo::Pin/Unpin, so a removal and a worker's
// final pin are atomic with respect to each other), never across a block fetch. Nothing takes
// mu_ while it holds an LMDB transaction.
//
// Lifetime: the repo and the block getter must outlive the service. Stop() (and the destructor)
// ends the workers: each stops at its next block, so the wait is bounded by one block fetch
// (the source chain's overall timeout). A stopped fetch stays `pinning` in the database and
// resumes at the next Start().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/store/block_store.h"
#include "core/store/repo.h"

namespace ipfskit {

enum class PinState { kQueued, kPinning, kPinned, kFailed };
const char* PinStateName(PinState s);
std::optional<PinState> ParsePinState(std::string_view s);

// One pin request, as the API shows it.
struct PinRequest {
  std::string requestid;
  std::string cid;  // as the client gave it (validated)
  std::string name;
  std::vector<std::string> origins;
  std::map<std::string, std::string> meta;
  int64_t created_ns = 0;  // Unix ns; unique and increasing within a service
  PinState status = PinState::kQueued;
  std::map<std::string, std::string> info;
  bool pinned_before = false;  // the CID was pinned in the repo before any request for it
};

struct PinningOptions {
  size_t workers = 2;
  size_t max_active = 1000;      // queued + pinning requests; Add past it is kUnavailable
  size_t max_requests = 100000;  // all requests kept; Add past it is kUnavailable
  // Build a block getter for a request's HTTP origins (gateway base URLs, "http://host:port").
  // The default builds GatewaySources on one shared HttpClient; null disables origins.
  std::function<std::shared_ptr<BlockGetter>(const std::vector<std::string>& urls)> origin_getter;
  bool use_origins = true;
};

// Query of List (GET /pins). Empty vectors/strings: no filter on that field.
struct PinQuery {
  std::vector<Cid> cids;
  std::string name;
  enum class Match { kExact, kIExact, kPartial, kIPartial } match = Match::kExact;
  std::vector<PinState> statuses;  // empty: any
  std::optional<int64_t> before_ns, after_ns;
  std::map<std::string, std::string> meta;  // every pair must be in the request's meta
  size_t limit = 10;
};

struct PinList {
  size_t count = 0;                 // all matches
  std::vector<PinRequest> results;  // the newest `limit` of them, newest first
};

class PinningService {
 public:
  // Opens (creating) the "pinsvc" database and loads every record. Workers start at Start().
  static Result<std::unique_ptr<PinningService>> Open(std::shared_ptr<Repo> repo,
                                                      std::shared_ptr<BlockGetter> blocks,
                                                      PinningOptions options = {});
  ~PinningService();
  PinningService(const PinningService&) = delete;
  PinningService& operator=(const PinningService&) = delete;

  void Start();  // starts the workers and queues unfinished requests; idempotent
  void Stop();   // see the lifetime note above; idempotent

  // The request is validated by the caller except for `cid`, which must parse.
  // kInvalidArgument for a bad CID, kUnavailable when a bound is reached, kIo/kNoSpace from LMDB.
  Result<PinRequest> Add(const std::string& cid, std::string name, std::vector<std::string> origins,
                         std::map<std::string, std::string> meta);
  // Replaces `requestid` with a new request (new id, new created), as POST /pins/{id}.
  // kNotFound when there is no such request.
  Result<PinRequest> Replace(const std::string& requestid, const std::string& cid, std::string name,
                             std::vector<std::string> origins, std::map<std::string, std::string> meta);
  std::optional<PinRequest> Get(const std::string& requestid);
  PinList List(const PinQuery& q);
  // kNotFound when there is no such request.
  Status Remove(const std::string& requestid);

  // Waits until the request leaves queued/pinning, or the timeout (for tests and the CLI).
  std::optional<PinRequest> WaitDone(const std::string& requestid, std::chrono::milliseconds timeout);

 private:
  PinningService() = default;
  Status PersistLocked(const PinRequest& r);
  Status EraseLocked(const std::string& requestid);
  Result<PinRequest> AddLocked(const Cid& cid, const std::string& cid_text, std::string name,
                               std::vector<std::string> origins, std::map<std::string, std::string> meta,
                               std::optional<bool> pinned_before);
  void RemoveLocked(std::map<std::string, PinRequest>::iterator it);
  void Worker();
  void Fetch(const std::string& requestid);
  std::shared_ptr<BlockGetter> OriginGetter(const std::vector<std::string>& origins);

  std::shared_ptr<Repo> repo_;
  std::shared_ptr<BlockGetter> blocks_;
  PinningOptions options_;
  RepoDb db_;

  std::mutex mu_;  // see the lock order at the top
  std::condition_variable cv_;       // queue_ and stop_ changes
  std::condition_variable done_cv_;  // a request reached pinned/failed or went away
  std::map<std::string, PinRequest> requests_;    // by requestid
  std::map<int64_t, std::string> by_created_;     // created_ns -> requestid
  std::deque<std::string> queue_;                 // queued requestids, oldest first
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> cancel_;  // being fetched
  size_t active_ = 0;                             // queued + pinning
  int64_t last_created_ns_ = 0;
  bool started_ = false;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  std::shared_ptr<void> origin_http_;  // the shared HttpClient of origin gateways
};

// "/ip4/1.2.3.4/tcp/8080/http" -> "http://1.2.3.4:8080"; nullopt for any other multiaddr.
std::optional<std::string> HttpMultiaddrToUrl(std::string_view maddr);

}  // namespace ipfskit
