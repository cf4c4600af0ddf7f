#include "core/infer/engine.h"
#include "core/util/log.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/util/json.h"

namespace ipfskit::infer {

struct InferenceEngine::Model {
  enum class State { kLoading, kReady, kFailed };
  State state = State::kLoading;
  Error error{Errc::kInternal, ""};
  std::chrono::steady_clock::time_point retry_at;  // kFailed: when the next Acquire loads again
  std::unique_ptr<BertRunner> runner;
  ModelInfo info;
  size_t bytes = 0;
};

struct InferenceEngine::Job {
  std::shared_ptr<Model> model;
  std::vector<std::string> inputs;
  std::vector<Encoding> encodings;
  bool tokenized = false;
  size_t next = 0;  // inputs before this one are scheduled
  size_t done = 0;
  std::optional<Error> error;
  EmbeddingResult result;
  JobCallback callback;
};

std::string ModelInfo::ToJson() const {
  nlohmann::json j = {{"model", key},
                      {"source", source},
                      {"architecture", architecture},
                      {"hidden_size", hidden_size},
                      {"layers", layers},
                      {"heads", heads},
                      {"intermediate_size", intermediate_size},
                      {"vocab_size", vocab_size},
                      {"dim", output_dim},
                      {"max_seq_length", max_seq_length},
                      {"pooling", pooling},
                      {"normalize", normalize},
                      {"weights_dtype", weights_dtype},
                      {"backend", backend},
                      {"precision", precision},
                      {"memory_bytes", memory_bytes}};
  return j.dump(2) + "\n";
}

InferenceEngine::InferenceEngine(std::shared_ptr<Backend> backend, ModelLoader loader,
                                 EngineLimits limits)
    : backend_(std::move(backend)), loader_(std::move(loader)), limits_(limits) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

InferenceEngine::~InferenceEngine() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

namespace {

// Loads and prepares a model; an exception from the loader or the backend becomes an error
// here, so that it can neither leave the entry "loading" for ever nor reach a FUSE callback.
Result<std::unique_ptr<BertRunner>> LoadAndPrepare(const ModelLoader& loader, const std::string& key,
                                                   const std::shared_ptr<Backend>& backend,
                                                   std::mutex& backend_mu) {
  try {
    IPFSKIT_ASSIGN_OR_RETURN(auto loaded, loader(key));
    std::lock_guard<std::mutex> bl(backend_mu);
    return BertRunner::Create(backend, loaded);
  } catch (const std::exception& e) {
    return MakeError(Errc::kInternal, std::string("loading failed with an exception: ") + e.what());
  } catch (...) {
    return MakeError(Errc::kInternal, "loading failed with an unknown exception");
  }
}

}  // namespace

Result<std::shared_ptr<InferenceEngine::Model>> InferenceEngine::Acquire(const std::string& key) {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> l(mu_);
  const auto deadline = Clock::now() + limits_.model_load_wait;
  std::shared_ptr<Model> waited;  // the load this call waited for, if any
  for (;;) {
    if (stopping_) return MakeError(Errc::kCancelled, "inference engine stopped");
    // Whoever waited for a load that failed gets that load's error, back-off or not.
    if (waited && waited->state == Model::State::kFailed) return waited->error;
    auto it = models_.find(key);
    if (it == models_.end()) break;
    auto m = it->second;
    if (m->state == Model::State::kReady) {
      lru_.remove(key);
      lru_.push_front(key);
      return m;
    }
    if (m->state == Model::State::kFailed) {
      if (Clock::now() < m->retry_at) return m->error;
      models_.erase(it);  // the back-off is over: load again
      break;
    }
    waited = m;  // another thread is loading it
    if (cv_.wait_until(l, deadline) == std::cv_status::timeout && m->state == Model::State::kLoading)
      return MakeError(Errc::kTimeout, "model " + key + " is still loading after " +
                                           std::to_string(limits_.model_load_wait.count()) + " ms");
  }
  auto m = std::make_shared<Model>();
  models_[key] = m;
  l.unlock();

  // Load and prepare without the engine lock: this takes seconds for big models.
  Result<std::unique_ptr<BertRunner>> runner = LoadAndPrepare(loader_, key, backend_, backend_mu_);
  l.lock();
  if (!runner.ok()) {
    Error e = runner.error();
    e.message = "model " + key + ": " + e.message;
    spdlog::warn("infer: cannot load {}", e.message);
    m->state = Model::State::kFailed;
    m->error = e;
    m->retry_at = Clock::now() + limits_.model_retry_after;
    // The entry stays in models_ for the back-off (nothing else replaces a loading entry).
    cv_.notify_all();
    return e;
  }
  m->runner = std::move(*runner);
  const BertModel& bm = m->runner->model();
  m->bytes = m->runner->weight_bytes() + bm.tokenizer.vocab_size() * 32;
  ModelInfo& i = m->info;
  i.key = key;
  i.source = bm.source;
  i.hidden_size = bm.config.hidden_size;
  i.layers = bm.config.num_layers;
  i.heads = bm.config.num_heads;
  i.intermediate_size = bm.config.intermediate_size;
  i.vocab_size = bm.config.vocab_size;
  i.output_dim = bm.output_dim();
  i.max_seq_length = bm.max_seq_length;
  i.pooling = bm.pooling.Describe();
  i.normalize = bm.normalize;
  i.weights_dtype = bm.weights_dtype;
  i.backend = backend_->name();
  i.precision = backend_->precision();
  i.memory_bytes = m->bytes;
  m->state = Model::State::kReady;
  lru_.push_front(key);
  stats_.models_loaded++;
  EvictLocked();
  cv_.notify_all();
  return m;
}

void InferenceEngine::EvictLocked() {
  auto total = [&] {
    size_t n = 0;
    for (auto& [k, m] : models_)
      if (m->state == Model::State::kReady) n += m->bytes;
    return n;
  };
  // The most recent model always stays, even alone over the bound. Jobs still holding an
  // evicted model finish with it; its memory goes when the last one does.
  while (lru_.size() > 1 && total() > limits_.model_memory_bytes) {
    std::string victim = lru_.back();
    lru_.pop_back();
    models_.erase(victim);
    stats_.models_evicted++;
  }
}

Result<ModelInfo> InferenceEngine::GetModel(const std::string& key) {
  IPFSKIT_ASSIGN_OR_RETURN(auto m, Acquire(key));
  return m->info;
}

Status InferenceEngine::Submit(const std::string& key, std::vector<std::string> inputs,
                               JobCallback done) {
  if (inputs.size() > limits_.max_inputs_per_job)
    return MakeError(Errc::kInvalidArgument, "job has " + std::to_string(inputs.size()) +
                                                 " inputs; the limit is " +
                                                 std::to_string(limits_.max_inputs_per_job));
  size_t bytes = 0;
  for (size_t i = 0; i < inputs.size(); i++) {
    if (inputs[i].size() > limits_.max_input_bytes)
      return MakeError(Errc::kInvalidArgument,
                       "input " + std::to_string(i + 1) + " is " + std::to_string(inputs[i].size()) +
                           " bytes; the limit is " + std::to_string(limits_.max_input_bytes));
    bytes += inputs[i].size();
  }
  if (bytes > limits_.max_job_bytes)
    return MakeError(Errc::kInvalidArgument, "job input is " + std::to_string(bytes) +
                                                 " bytes; the limit is " +
                                                 std::to_string(limits_.max_job_bytes));
  {
    std::lock_guard<std::mutex> l(mu_);
    if (in_flight_ >= limits_.max_jobs_in_flight)
      return MakeError(Errc::kNoSpace, "too many inference jobs in flight (limit " +
                                           std::to_string(limits_.max_jobs_in_flight) + ")");
    in_flight_++;  // reserved before the (slow) model load so the limit holds under load
  }
  auto m = Acquire(key);
  if (!m.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    in_flight_--;
    return m.take_error();
  }
  auto job = std::make_shared<Job>();
  job->model = std::move(*m);
  job->inputs = std::move(inputs);
  job->callback = std::move(done);
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return Status::Ok();
}

std::future<Result<EmbeddingResult>> InferenceEngine::Submit(const std::string& key,
                                                             std::vector<std::string> inputs) {
  auto p = std::make_shared<std::promise<Result<EmbeddingResult>>>();
  auto f = p->get_future();
  Status st = Submit(key, std::move(inputs),
                     [p](Result<EmbeddingResult> r) { p->set_value(std::move(r)); });
  if (!st.ok()) p->set_value(st.error());
  return f;
}

EngineStats InferenceEngine::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  EngineStats s = stats_;
  s.jobs_in_flight = in_flight_;
  s.models_resident = 0;
  s.model_bytes = 0;
  for (auto& [k, m] : models_)
    if (m->state == Model::State::kReady) {
      s.models_resident++;
      s.model_bytes += m->bytes;
    }
  return s;
}

void InferenceEngine::RunCallback(Job& j, Result<EmbeddingResult> r) {
  // A callback that throws must not take the worker thread (and the process) with it.
  try {
    j.callback(std::move(r));
  } catch (...) {
  }
}

void InferenceEngine::WorkerLoop() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> round;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        auto pending = std::move(queue_);
        queue_.clear();
        in_flight_ -= pending.size();
        l.unlock();
        for (auto& j : pending) RunCallback(*j, MakeError(Errc::kCancelled, "inference engine stopped"));
        return;
      }
      // All queued jobs of the oldest job's model, in arrival order.
      Model* model = queue_.front()->model.get();
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->model.get() == model) {
          round.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
    }
    try {
      RunRound(round);
    } catch (const std::exception& e) {  // bad_alloc, or a backend that throws
      for (auto& j : round)
        if (!j->error) j->error = MakeError(Errc::kInternal, std::string("inference failed: ") + e.what());
    }
    std::vector<std::shared_ptr<Job>> finished, unfinished;
    for (auto& j : round)
      (j->error || j->done == j->inputs.size() ? finished : unfinished).push_back(std::move(j));
    {
      std::lock_guard<std::mutex> l(mu_);
      // Unfinished jobs keep their place ahead of newer ones.
      queue_.insert(queue_.begin(), unfinished.begin(), unfinished.end());
      in_flight_ -= finished.size();
      for (auto& j : finished) {
        if (j->error) {
          stats_.jobs_failed++;
        } else {
          stats_.jobs_done++;
          stats_.inputs_done += j->inputs.size();
        }
      }
    }
    for (auto& j : finished) {
      if (j->error) RunCallback(*j, *j->error);
      else RunCallback(*j, std::move(j->result));
    }
  }
}

void InferenceEngine::RunRound(std::vector<std::shared_ptr<Job>>& jobs) {
  BertRunner& runner = *jobs.front()->model->runner;
  const BertModel& m = runner.model();
  const int dim = m.output_dim();
  for (auto& j : jobs) {
    if (j->tokenized) continue;
    j->encodings.resize(j->inputs.size());
    tbb::parallel_for(size_t(0), j->inputs.size(), [&](size_t i) {
      j->encodings[i] = m.tokenizer.Encode(j->inputs[i], m.max_seq_length);
    });
    j->tokenized = true;
    j->result.dim = dim;
    j->result.embeddings.assign(j->inputs.size() * dim, 0.f);
    j->result.token_counts.resize(j->inputs.size());
    j->result.truncated.resize(j->inputs.size());
    for (size_t i = 0; i < j->inputs.size(); i++) {
      j->result.token_counts[i] = int32_t(j->encodings[i].ids.size());
      j->result.truncated[i] = j->encodings[i].truncated;
    }
  }
  // Take inputs from the jobs in order up to the round budget, so a huge job cannot hold back
  // the jobs behind it for long.
  struct Item {
    Job* job;
    size_t index;
    size_t len;
  };
  std::vector<Item> items;
  size_t tokens = 0;
  for (auto& j : jobs) {
    while (j->next < j->inputs.size() && (tokens < limits_.round_token_budget || items.empty())) {
      size_t len = j->encodings[j->next].ids.size();
      items.push_back({j.get(), j->next++, len});
      tokens += len;
    }
  }
  // Longest first: batches of similar length (ragged batches need no padding, but the attention
  // work per batch is then balanced).
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.len > b.len; });
  std::vector<float> out;
  for (size_t start = 0; start < items.size();) {
    size_t end = start, batch_tokens = 0;
    while (end < items.size() && (end == start || batch_tokens + items[end].len <= limits_.batch_token_budget)) {
      batch_tokens += items[end].len;
      end++;
    }
    std::vector<std::span<const int32_t>> seqs;
    for (size_t k = start; k < end; k++) seqs.emplace_back(items[k].job->encodings[items[k].index].ids);
    out.resize(seqs.size() * dim);
    Status st;
    {
      std::lock_guard<std::mutex> bl(backend_mu_);
      st = runner.Run(seqs, out.data());
    }
    for (size_t k = start; k < end; k++) {
      Job* j = items[k].job;
      if (!st.ok()) {
        if (!j->error) j->error = st.error();
        continue;
      }
      std::memcpy(j->result.embeddings.data() + items[k].index * dim, out.data() + (k - start) * dim,
                  dim * sizeof(float));
      j->done++;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      stats_.batches++;
      stats_.tokens_done += batch_tokens;
    }
    start = end;
  }
}

Result<std::vector<std::string>> ParseJobInput(std::string_view text, const EngineLimits& limits) {
  if (text.size() > limits.max_job_bytes)
    return MakeError(Errc::kInvalidArgument, "job input is " + std::to_string(text.size()) +
                                                 " bytes; the limit is " +
                                                 std::to_string(limits.max_job_bytes));
  std::vector<std::string> out;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == text.npos ? text.npos : nl - pos);
    pos = nl == text.npos ? text.size() : nl + 1;
    line_no++;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits.max_input_bytes)
      return MakeError(Errc::kInvalidArgument, "line " + std::to_string(line_no) + " is " +
                                                   std::to_string(line.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(limits.max_input_bytes));
    size_t first = line.find_first_not_of(" \t");
    if (first != line.npos && line[first] == '{') {
      auto parsed = ParseUntrustedJson(line);
      const nlohmann::json j = parsed.ok() ? std::move(*parsed) : nlohmann::json();
      if (j.is_object()) {
        auto t = j.find("text");
        if (t == j.end() || !t->is_string())
          return MakeError(Errc::kInvalidArgument,
                           "line " + std::to_string(line_no) + ": JSON object without a string \"text\"");
        out.push_back(t->get<std::string>());
        continue;
      }
    }
    out.emplace_back(line);
    if (out.size() > limits.max_inputs_per_job)
      return MakeError(Errc::kInvalidArgument, "more than " + std::to_string(limits.max_inputs_per_job) +
                                                   " inputs in one job");
  }
  return out;
}

std::string RenderJsonl(const EmbeddingResult& r) {
  std::string s;
  s.reserve(r.size() * (r.dim * 12 + 64));
  char buf[32];
  for (size_t i = 0; i < r.size(); i++) {
    s += "{\"index\":" + std::to_string(i) + ",\"embedding\":[";
    for (int d = 0; d < r.dim; d++) {
      if (d) s += ',';
      float v = r.embeddings[i * r.dim + d];
      auto res = std::to_chars(buf, buf + sizeof buf, v);
      s.append(buf, res.ptr);
    }
    s += "],\"tokens\":" + std::to_string(r.token_counts[i]) +
         ",\"truncated\":" + (r.truncated[i] ? "true" : "false") + "}\n";
  }
  return s;
}

Bytes RenderNpy(const EmbeddingResult& r) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(r.size()) + ", " + std::to_string(r.dim) + "), }";
  // magic(6) + version(2) + header length(2) + header, padded with spaces, ending in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  Bytes out;
  out.reserve(10 + header.size() + r.embeddings.size() * 4);
  const uint8_t magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.insert(out.end(), magic, magic + 8);
  out.push_back(uint8_t(header.size() & 0xff));
  out.push_back(uint8_t(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  const uint8_t* f = reinterpret_cast<const uint8_t*>(r.embeddings.data());
  out.insert(out.end(), f, f + r.embeddings.size() * 4);  // x86 and ARM Linux are little-endian
  return out;
}

}  // namespace ipfskit::infer
