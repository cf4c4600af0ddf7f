// InferenceEngine: the one object the mount (/infer) and the CLI (`ipfskit infer`) talk to.
// Models are loaded by key (a CID or an alias, resolved by the injected loader), prepared on the
// injected backend and kept within a memory bound, least recently used evicted first. Jobs (lists
// of input strings) are queued; one worker thread merges the inputs of concurrent jobs into
// ragged batches by token budget, sorted by length, and completes each job once with its
// embeddings or an error.
//
// Thread-safety: every public method may be called from any thread. Callbacks run on the worker
// thread (or on the caller's thread when Submit fails); they must not call back into the engine
// synchronously with a lock held by the caller.
//
// Failures: no exception leaves the engine (callers are FUSE callbacks and the worker thread).
// A loader or backend that throws counts as a failed load (kInternal naming the exception); a
// failed load wakes every caller waiting for it with its error and is remembered for
// EngineLimits::model_retry_after. A throw while running a batch fails that round's jobs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/infer/backend.h"
#include "core/infer/bert_forward.h"
#include "core/infer/bert_model.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit::infer {

struct EngineLimits {
  size_t max_job_bytes = 64 << 20;    // all inputs of one job together
  size_t max_input_bytes = 1 << 20;   // one input (line)
  size_t max_inputs_per_job = 1'000'000;
  size_t max_jobs_in_flight = 256;    // queued + running
  size_t batch_token_budget = 16384;  // tokens per forward pass
  size_t round_token_budget = 131072; // tokens taken from the queue per round (fairness)
  size_t model_memory_bytes = size_t(4) << 30;  // loaded models (host + backend), LRU beyond
  // A model that failed to load is remembered this long: Acquire returns the same error at
  // once instead of reading the folder again; after it, the next Acquire loads again (the
  // folder may have become reachable, or an alias may point elsewhere).
  std::chrono::milliseconds model_retry_after{2000};
  // The longest a caller waits for another thread's load of the same model (kTimeout after).
  std::chrono::milliseconds model_load_wait{std::chrono::minutes(5)};
};

struct EmbeddingResult {
  int dim = 0;
  std::vector<float> embeddings;      // inputs × dim, row-major
  std::vector<int32_t> token_counts;  // tokens used per input ([CLS] and [SEP] included)
  std::vector<uint8_t> truncated;     // 1 where the input was cut to max_seq_length
  size_t size() const { return token_counts.size(); }
};

// What /infer/<model>/model.json shows.
struct ModelInfo {
  std::string key;
  std::string source;
  std::string architecture = "bert";
  int hidden_size = 0, layers = 0, heads = 0, intermediate_size = 0, vocab_size = 0;
  int output_dim = 0;
  size_t max_seq_length = 0;
  std::string pooling;
  bool normalize = false;
  std::string weights_dtype;
  std::string backend, precision;
  size_t memory_bytes = 0;
  std::string ToJson() const;
};

struct EngineStats {
  uint64_t jobs_done = 0, jobs_failed = 0, inputs_done = 0, tokens_done = 0, batches = 0;
  uint64_t models_loaded = 0, models_evicted = 0;
  size_t models_resident = 0, model_bytes = 0, jobs_in_flight = 0;
};

using ModelLoader = std::function<Result<std::shared_ptr<const BertModel>>(const std::string& key)>;
using JobCallback = std::function<void(Result<EmbeddingResult>)>;

class InferenceEngine {
 public:
  InferenceEngine(std::shared_ptr<Backend> backend, ModelLoader loader, EngineLimits limits = {});
  // Fails queued jobs with kCancelled and joins the worker.
  ~InferenceEngine();
  InferenceEngine(const InferenceEngine&) = delete;
  InferenceEngine& operator=(const InferenceEngine&) = delete;

  // Loads (once; concurrent callers wait for the same load) and returns the model's description.
  Result<ModelInfo> GetModel(const std::string& key);
  // Queues a job. Limits are checked here: kInvalidArgument (input too large), kNoSpace (too many
  // jobs in flight). Model load errors are returned here too. `done` runs exactly once when the
  // returned status is ok, never otherwise.
  Status Submit(const std::string& key, std::vector<std::string> inputs, JobCallback done);
  std::future<Result<EmbeddingResult>> Submit(const std::string& key,
                                              std::vector<std::string> inputs);

  EngineStats stats() const;
  const EngineLimits& limits() const { return limits_; }
  Backend& backend() const { return *backend_; }

 private:
  struct Model;
  struct Job;
  Result<std::shared_ptr<Model>> Acquire(const std::string& key);
  void EvictLocked();
  void WorkerLoop();
  static void RunCallback(Job& job, Result<EmbeddingResult> result);
  void RunRound(std::vector<std::shared_ptr<Job>>& jobs);

  std::shared_ptr<Backend> backend_;
  ModelLoader loader_;
  EngineLimits limits_;

  mutable std::mutex mu_;  // guards everything below; never held during a forward pass
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Model>> models_;
  std::list<std::string> lru_;  // front = most recent
  std::deque<std::shared_ptr<Job>> queue_;
  size_t in_flight_ = 0;
  EngineStats stats_;
  std::mutex backend_mu_;  // one user of the backend at a time (prepare or run)
  std::thread worker_;
};

// Splits a job file into inputs: one per line; a line that is a JSON object with a string "text"
// field contributes that field. A final newline does not add an empty input; other empty lines
// are inputs. Errors name the line (1-based).
Result<std::vector<std::string>> ParseJobInput(std::string_view text, const EngineLimits& limits);

// {"index":0,"embedding":[...],"tokens":12,"truncated":false} per line. Floats print in their
// shortest round-trip form.
std::string RenderJsonl(const EmbeddingResult& r);
// NumPy .npy v1.0: '<f4', C order, shape (N, D); header padded to a multiple of 64 bytes.
Bytes RenderNpy(const EmbeddingResult& r);

}  // namespace ipfskit::infer
