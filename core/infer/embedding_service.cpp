#include "core/infer/embedding_service.h"

namespace ipfskit::infer {

std::future<Result<EmbeddingResult>> EmbeddingService::Submit(const std::string& key,
                                                              std::vector<std::string> inputs) {
  auto p = std::make_shared<std::promise<Result<EmbeddingResult>>>();
  auto f = p->get_future();
  Status st = Submit(key, std::move(inputs), [p](Result<EmbeddingResult> r) { p->set_value(std::move(r)); });
  if (!st.ok()) p->set_value(st.error());
  return f;
}

nlohmann::json EngineStatsJson(const InferenceEngine& e) {
  auto s = e.stats();
  return nlohmann::json{{"jobs_done", s.jobs_done},         {"jobs_failed", s.jobs_failed},
                        {"inputs_done", s.inputs_done},     {"tokens_done", s.tokens_done},
                        {"batches", s.batches},             {"models_loaded", s.models_loaded},
                        {"models_evicted", s.models_evicted}, {"models_resident", s.models_resident},
                        {"jobs_in_flight", s.jobs_in_flight}, {"backend", e.backend().name()},
                        {"precision", e.backend().precision()}};
}

LocalEmbeddings::LocalEmbeddings(EngineFactory make_engine, EngineLimits limits)
    : make_engine_(std::move(make_engine)), limits_(limits) {}

LocalEmbeddings::LocalEmbeddings(std::shared_ptr<InferenceEngine> engine)
    : limits_(engine->limits()), engine_(std::move(engine)) {}

std::shared_ptr<InferenceEngine> LocalEmbeddings::engine() {
  std::lock_guard<std::mutex> l(mu_);
  if (!engine_) engine_ = make_engine_();
  return engine_;
}

Status LocalEmbeddings::Submit(const std::string& key, std::vector<std::string> inputs, JobCallback done) {
  return engine()->Submit(key, std::move(inputs), std::move(done));
}

Result<ModelInfo> LocalEmbeddings::GetModel(const std::string& key) { return engine()->GetModel(key); }

nlohmann::json LocalEmbeddings::StatsJson() const {
  std::shared_ptr<InferenceEngine> e;
  {
    std::lock_guard<std::mutex> l(mu_);
    e = engine_;
  }
  if (!e) return nlohmann::json{{"engine", "not started"}};
  return EngineStatsJson(*e);
}

namespace {

template <typename T>
Status ReadUnsigned(const nlohmann::json& j, const char* name, T* out) {
  if (!j.contains(name)) return Status::Ok();
  if (!j[name].is_number_unsigned())
    return MakeError(Errc::kInvalidArgument, std::string("infer.") + name + " must be a non-negative integer");
  *out = j[name].get<T>();
  return Status::Ok();
}

}  // namespace

Result<InferSettings> InferSettingsFromConfig(const nlohmann::json& raw) {
  InferSettings s;
  if (!raw.is_object() || !raw.contains("infer")) return s;
  const nlohmann::json& ic = raw["infer"];
  if (!ic.is_object()) return MakeError(Errc::kInvalidArgument, "infer must be an object");
  if (ic.contains("aliases") && ic["aliases"].is_object())
    for (auto it = ic["aliases"].begin(); it != ic["aliases"].end(); ++it)
      if (it.value().is_string()) s.aliases[it.key()] = it.value().get<std::string>();
  IPFSKIT_TRY_STATUS(ReadUnsigned(ic, "memory_bytes", &s.limits.model_memory_bytes));
  IPFSKIT_TRY_STATUS(ReadUnsigned(ic, "max_job_bytes", &s.limits.max_job_bytes));
  if (ic.contains("remote")) {
    const auto& r = ic["remote"];
    if (!r.is_array()) return MakeError(Errc::kInvalidArgument, "infer.remote must be a list of URLs");
    for (const auto& u : r) {
      if (!u.is_string()) return MakeError(Errc::kInvalidArgument, "infer.remote must be a list of URLs");
      std::string url = u.get<std::string>();
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
        return MakeError(Errc::kInvalidArgument, "infer.remote: " + url + " is not an http(s) URL");
      while (!url.empty() && url.back() == '/') url.pop_back();
      s.remote.push_back(url);
    }
  }
  IPFSKIT_TRY_STATUS(ReadUnsigned(ic, "remote_timeout_ms", &s.remote_timeout_ms));
  IPFSKIT_TRY_STATUS(ReadUnsigned(ic, "remote_connect_timeout_ms", &s.remote_connect_timeout_ms));
  IPFSKIT_TRY_STATUS(ReadUnsigned(ic, "remote_backoff_ms", &s.remote_backoff_ms));
  IPFSKIT_TRY_STATUS(ReadUnsigned(ic, "remote_threads", &s.remote_threads));
  IPFSKIT_TRY_STATUS(ReadUnsigned(ic, "remote_max_inputs", &s.remote_max_inputs));
  if (s.remote_threads == 0) s.remote_threads = 1;
  if (s.remote_max_inputs == 0) s.remote_max_inputs = 1;
  if (ic.contains("remote_token")) {
    if (!ic["remote_token"].is_string()) return MakeError(Errc::kInvalidArgument, "infer.remote_token must be a string");
    s.remote_token = ic["remote_token"].get<std::string>();
  }
  return s;
}

}  // namespace ipfskit::infer
