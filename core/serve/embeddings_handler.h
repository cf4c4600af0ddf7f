// The embeddings API of `ipfskit serve --api`, over an EmbeddingService (in `serve`, the local
// InferenceEngine, made on the first request):
//
//   POST /v1/embeddings   OpenAI-compatible. {"model": CID or alias, "input": string | [string],
//                         "encoding_format": "float" (default) | "base64" (little-endian float32,
//                         standard base64 with padding, as OpenAI), "dimensions" (only the
//                         model's own), "user" (ignored)}. Answers {"object":"list","data":[{
//                         "object":"embedding","index":i,"embedding":[...]|"base64",
//                         "tokens":n,"truncated":b}],"model":...,"usage":{"prompt_tokens",
//                         "total_tokens"}}; "tokens"/"truncated" per item are ipfskit's addition
//                         (clients ignore them; infer.remote reads them). Inputs longer than the
//                         model's max_seq_length are truncated, as sentence-transformers and
//                         /infer do. Token-id arrays as input are 400 (not supported).
//   GET  /v1/models       the configured aliases, OpenAI's list shape ({"id": alias, "cid"}).
//   POST /embed           text-embeddings-inference style: {"inputs": string | [string],
//                         "normalize": bool (true), "truncate": bool (false, as TEI)} answers
//                         [[floats], ...]. The model: ?model=KEY, else the body's "model", else
//                         "serve.embeddings.default_model", else the only alias when there is
//                         exactly one; 400 otherwise. truncate=false and an input over
//                         max_seq_length tokens: 413 {"error_type":"validation"}, as TEI.
//                         normalize=true L2-normalises; normalize=false returns the model's
//                         output as is (already normalised when its modules.json says so).
//   GET  /embeddings/stats  requests and errors by status, and the service's StatsJson.
//
// Errors are JSON: {"error":{"message","type","param","code"}} on /v1, {"error","error_type"} on
// /embed. 400 bad JSON, a missing or empty input, too many inputs, an input or request over the
// engine's limits, a wrong "dimensions"/"encoding_format"; 401 without a valid bearer token when
// tokens are configured; 404 a model that is neither a CID nor an alias, or whose folder no
// source has; 405 wrong method; 413 a body over the server's max_body (the server answers it);
// 503 the engine's queue is full (kNoSpace) or it is stopping; 504 no answer within `timeout`
// (the job itself still runs to its end in the engine); 500 anything else.
//
// Threads: Handle runs on the server's connection thread and blocks until its job is done or
// `timeout` passes; concurrent requests are concurrent jobs, which the engine batches together.
// Handle is const and thread-safe; the handler must outlive the server that calls it (the
// router holds a shared_ptr to it).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/infer/embedding_service.h"
#include "core/serve/http_server.h"

namespace ipfskit {

struct EmbeddingsApiOptions {
  std::map<std::string, std::string> aliases;  // listed by GET /v1/models
  std::string default_model;                   // /embed without ?model=
  std::vector<std::string> tokens;             // bearer tokens; empty: no authentication
  size_t max_inputs = 2048;                    // per request (OpenAI's limit)
  std::chrono::milliseconds timeout{120000};   // the longest a request waits for its job
};

// The config's "serve": {"embeddings": {"tokens": [...], "default_model": KEY, "max_inputs": N,
// "timeout_ms": N}} plus infer.aliases. kInvalidArgument naming the key on a wrong type.
Result<EmbeddingsApiOptions> EmbeddingsApiOptionsFromConfig(const nlohmann::json& raw_config);

class EmbeddingsHandler {
 public:
  EmbeddingsHandler(std::shared_ptr<infer::EmbeddingService> service, EmbeddingsApiOptions options);
  ServerResponse Handle(const ServerRequest& req) const;
  nlohmann::json StatsJson() const;

 private:
  ServerResponse OpenAiEmbeddings(const ServerRequest& req) const;
  ServerResponse Models() const;
  ServerResponse TeiEmbed(const ServerRequest& req) const;
  bool Authorized(const ServerRequest& req) const;
  // Runs the job, bounded by options_.timeout.
  Result<infer::EmbeddingResult> Run(const std::string& model, std::vector<std::string> inputs) const;
  ServerResponse Count(ServerResponse r) const;

  std::shared_ptr<infer::EmbeddingService> service_;
  EmbeddingsApiOptions options_;
  mutable std::atomic<uint64_t> requests_{0}, inputs_{0}, ok_{0}, client_errors_{0}, server_errors_{0},
      timeouts_{0};
};

// Adds /v1/embeddings, /v1/models, /embed and /embeddings/stats to `router`.
void AddEmbeddingsRoutes(PrefixRouter& router, std::shared_ptr<EmbeddingsHandler> handler);

}  // namespace ipfskit
