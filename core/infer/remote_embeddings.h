// RemoteEmbeddings: an EmbeddingService that runs each job on the first healthy remote
// `ipfskit serve --api` node (the config's "infer.remote") through its OpenAI-compatible
// POST /v1/embeddings, and on the local service when no remote delivers.
//
// Per job, in order: every remote not marked down, then the local service. A remote attempt
// fails on a network error, the timeout (connect and total, HttpRequest's), an HTTP status other
// than 200, or an answer of the wrong shape (not JSON, not one embedding per input, differing or
// zero dimensions, a dimension other than one seen before for the model, a non-finite float).
// A failure other than a 4xx answer about the request (400, 404, 413, 422) marks the remote down
// for `backoff`: until then it is skipped, after that it is tried again. Every attempt, failure
// and fallback is counted per remote (StatsJson, shown in /.ipfskit/stats under infer.remote).
//
// What goes over the wire: {"model": <CID>, "input": [...], "encoding_format": "base64"}, in
// requests of at most max_inputs_per_request inputs (a job is done by one remote: a failed
// request sends the whole job to the next one); `timeout` bounds each request; an
// alias is resolved here (remotes need not know our aliases). A job with an empty input or text
// that is not valid UTF-8 goes local at once (OpenAI's API refuses empty strings; JSON would
// alter the text). Token counts and truncated flags come from
// the answer's per-item "tokens"/"truncated" (ipfskit's servers send them; OpenAI's do not);
// without them tokens are 0 and truncated false (usage gives only totals, and counting here
// would need the model's tokenizer loaded locally, which is what going remote avoids).
//
// Threads: `threads` dispatcher threads, each taking one queued job at a time and doing its
// remote attempts synchronously over one shared HttpClient (its own curl thread, connection
// reuse). The local fallback's callback runs on the local service's thread, a remote result's on
// the dispatcher thread. So at most `threads` jobs are on the wire at once; the remote batches
// them with its other clients' jobs. Submit only queues (kNoSpace past
// limits().max_jobs_in_flight).
//
// Lifetime: the destructor fails queued jobs with kCancelled and joins the dispatchers; a
// dispatcher inside a remote attempt finishes it first (at most `timeout`). `local` is shared
// and outlives every job this service hands it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/infer/embedding_service.h"
#include "core/source/http_client.h"

namespace ipfskit::infer {

struct RemoteOptions {
  std::vector<std::string> urls;  // "http://host:port", tried in this order
  std::map<std::string, std::string> aliases;
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds backoff{30000};
  std::string token;  // sent as "Authorization: Bearer <token>" when not empty
  size_t threads = 8;
  // One job goes to a remote as requests of at most this many inputs / bytes of text, one after
  // another (within `serve`'s bounds: serve.embeddings.max_inputs 2048, a 4 MiB body).
  size_t max_inputs_per_request = 512;
  size_t max_request_bytes = size_t{2} << 20;
};

RemoteOptions RemoteOptionsFromSettings(const InferSettings& s);

// Checks an /v1/embeddings answer against the request and turns it into a result. `want_dim`
// 0: any dimension (all items must agree). kMalformed naming what is wrong.
Result<EmbeddingResult> ParseOpenAiEmbeddings(std::string_view body, size_t inputs, int want_dim);

class RemoteEmbeddings : public EmbeddingService {
 public:
  RemoteEmbeddings(RemoteOptions options, std::shared_ptr<EmbeddingService> local);
  ~RemoteEmbeddings() override;

  Status Submit(const std::string& key, std::vector<std::string> inputs, JobCallback done) override;
  using EmbeddingService::Submit;
  // Described by the local service (loads the model here).
  Result<ModelInfo> GetModel(const std::string& key) override { return local_->GetModel(key); }
  const EngineLimits& limits() const override { return local_->limits(); }
  // The local service's figures plus "remote": {"jobs_remote", "jobs_local", "fallbacks",
  // "remotes": [{"url", "jobs", "inputs", "attempts", "failures", "skipped", "down",
  // "last_error"}]}.
  nlohmann::json StatsJson() const override;

 private:
  struct Remote {
    std::string url;
    uint64_t jobs = 0, inputs = 0, attempts = 0, failures = 0, skipped = 0;
    std::chrono::steady_clock::time_point down_until{};
    std::string last_error;
  };
  struct Job {
    std::string key, cid;
    std::vector<std::string> inputs;
    JobCallback done;
  };
  void DispatchLoop();
  void Run(Job& job);
  Result<EmbeddingResult> TryRemote(const std::string& url, const std::string& body, size_t inputs, int want_dim,
                                    bool* mark_down);

  RemoteOptions options_;
  std::shared_ptr<EmbeddingService> local_;
  HttpClient http_;

  mutable std::mutex mu_;  // guards everything below; never held during a transfer or callback
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<Job> queue_;
  size_t in_flight_ = 0;  // queued + running
  std::vector<Remote> remotes_;
  std::map<std::string, int> dims_;  // model CID -> dimension remotes answered with
  uint64_t jobs_remote_ = 0, jobs_local_ = 0, fallbacks_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace ipfskit::infer
