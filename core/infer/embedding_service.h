// EmbeddingService: "embed these inputs with that model", wherever the work runs. /infer
// (fuse/areas/infer_area) and the embeddings API (core/serve/embeddings_handler) talk to this,
// not to an engine: LocalEmbeddings runs jobs on this process's InferenceEngine,
// RemoteEmbeddings (core/infer/remote_embeddings.h) sends them to `ipfskit serve --api` nodes and
// falls back to a local service.
//
// Contract of every implementation:
// - Submit checks the job against limits() at once (kInvalidArgument: too many inputs, an input
//   or the job too large; kNoSpace: too many jobs in flight) and may return model errors
//   (kNotFound for a key that is neither a CID nor an alias). When it returns ok, `done` runs
//   exactly once, later, on a thread of the service (never on the caller's thread inside
//   Submit), with the embeddings or an error; when it returns an error, `done` never runs.
// - Every method may be called from any thread. A callback must not block for long: it holds
//   one of the service's threads.
// - Destroying a service fails its queued jobs with kCancelled and joins its threads; callbacks
//   that run then must not touch the service.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/infer/engine.h"

namespace ipfskit::infer {

class EmbeddingService {
 public:
  virtual ~EmbeddingService() = default;
  virtual Status Submit(const std::string& key, std::vector<std::string> inputs, JobCallback done) = 0;
  // The model's description (loads it where the service runs jobs locally).
  virtual Result<ModelInfo> GetModel(const std::string& key) = 0;
  // The limits Submit enforces (ParseJobInput and /infer's job size use them too).
  virtual const EngineLimits& limits() const = 0;
  // For /.ipfskit/stats and the API's stats: counts, and where jobs ran.
  virtual nlohmann::json StatsJson() const = 0;

  // Submit and wait (bounded by the service: every job completes or fails).
  std::future<Result<EmbeddingResult>> Submit(const std::string& key, std::vector<std::string> inputs);
};

// The engine's statistics as /.ipfskit/stats shows them.
nlohmann::json EngineStatsJson(const InferenceEngine& engine);

// Jobs on an InferenceEngine in this process. The engine is made by `make_engine` on first use
// (the first Submit, GetModel or engine() call), so that `ipfskit serve` starts at once even where
// the backend (CUDA probing) or the models take time; StatsJson does not make it.
class LocalEmbeddings : public EmbeddingService {
 public:
  using EngineFactory = std::function<std::shared_ptr<InferenceEngine>()>;
  LocalEmbeddings(EngineFactory make_engine, EngineLimits limits);
  explicit LocalEmbeddings(std::shared_ptr<InferenceEngine> engine);

  Status Submit(const std::string& key, std::vector<std::string> inputs, JobCallback done) override;
  using EmbeddingService::Submit;
  Result<ModelInfo> GetModel(const std::string& key) override;
  const EngineLimits& limits() const override { return limits_; }
  nlohmann::json StatsJson() const override;
  // The engine (made now if it was not yet).
  std::shared_ptr<InferenceEngine> engine();

 private:
  EngineFactory make_engine_;
  EngineLimits limits_;
  mutable std::mutex mu_;
  std::shared_ptr<InferenceEngine> engine_;
};

// The config's "infer" section (see core/config/config.h for the file):
//   "aliases": {"minilm": "bafy…"}, "memory_bytes", "max_job_bytes",
//   "remote": ["http://gpu-node:5080", …], "remote_timeout_ms" (30000),
//   "remote_connect_timeout_ms" (2000), "remote_backoff_ms" (30000), "remote_token" (a bearer
//   token sent to the remotes), "remote_threads" (8), "remote_max_inputs" (512 per request).
struct InferSettings {
  std::map<std::string, std::string> aliases;
  EngineLimits limits;
  std::vector<std::string> remote;
  int64_t remote_timeout_ms = 30000;
  int64_t remote_connect_timeout_ms = 2000;
  int64_t remote_backoff_ms = 30000;
  std::string remote_token;
  size_t remote_threads = 8;
  size_t remote_max_inputs = 512;
};
// kInvalidArgument naming the key for a value of the wrong type.
Result<InferSettings> InferSettingsFromConfig(const nlohmann::json& raw_config);

}  // namespace ipfskit::infer
