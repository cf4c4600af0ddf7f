#include "core/infer/remote_embeddings.h"

#include <cmath>
#include <cstring>

#include "core/infer/unixfs_model_files.h"
#include "core/util/base64.h"
#include "core/util/log.h"

namespace ipfskit::infer {

RemoteOptions RemoteOptionsFromSettings(const InferSettings& s) {
  RemoteOptions o;
  o.urls = s.remote;
  o.aliases = s.aliases;
  o.timeout = std::chrono::milliseconds(s.remote_timeout_ms);
  o.connect_timeout = std::chrono::milliseconds(s.remote_connect_timeout_ms);
  o.backoff = std::chrono::milliseconds(s.remote_backoff_ms);
  o.token = s.remote_token;
  o.threads = s.remote_threads;
  o.max_inputs_per_request = s.remote_max_inputs;
  return o;
}

Result<EmbeddingResult> ParseOpenAiEmbeddings(std::string_view body, size_t inputs, int want_dim) {
  auto bad = [](const std::string& why) { return MakeError(Errc::kMalformed, "bad /v1/embeddings answer: " + why); };
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (!j.contains("data") || !j["data"].is_array()) return bad("no \"data\" list");
  const auto& data = j["data"];
  if (data.size() != inputs)
    return bad(std::to_string(data.size()) + " embeddings for " + std::to_string(inputs) + " inputs");
  EmbeddingResult r;
  r.dim = want_dim;
  r.token_counts.assign(inputs, 0);
  r.truncated.assign(inputs, 0);
  std::vector<uint8_t> seen(inputs, 0);
  for (const auto& item : data) {
    if (!item.is_object() || !item.contains("index") || !item["index"].is_number_unsigned())
      return bad("an item without an index");
    size_t idx = item["index"].get<size_t>();
    if (idx >= inputs || seen[idx]) return bad("index " + std::to_string(idx) + " out of range or repeated");
    seen[idx] = 1;
    if (!item.contains("embedding")) return bad("item " + std::to_string(idx) + " has no embedding");
    const auto& e = item["embedding"];
    std::vector<float> v;
    if (e.is_string()) {
      auto raw = Base64Decode(e.get_ref<const std::string&>());
      if (!raw || raw->size() % 4) return bad("item " + std::to_string(idx) + ": not base64 float32");
      v.resize(raw->size() / 4);
      for (size_t k = 0; k < v.size(); k++) {  // little-endian float32, as OpenAI sends it
        const uint8_t* p = raw->data() + 4 * k;
        uint32_t u = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
        std::memcpy(&v[k], &u, 4);
      }
    } else if (e.is_array()) {
      v.reserve(e.size());
      for (const auto& x : e) {
        if (!x.is_number()) return bad("item " + std::to_string(idx) + ": not a list of numbers");
        v.push_back(x.get<float>());
      }
    } else {
      return bad("item " + std::to_string(idx) + ": embedding is neither a list nor base64");
    }
    if (v.empty()) return bad("item " + std::to_string(idx) + ": empty embedding");
    if (r.dim == 0) {
      r.dim = static_cast<int>(v.size());
      r.embeddings.assign(inputs * v.size(), 0.0f);
    } else if (v.size() != size_t(r.dim)) {
      return bad("item " + std::to_string(idx) + " has dimension " + std::to_string(v.size()) + ", expected " +
                 std::to_string(r.dim));
    }
    if (r.embeddings.empty()) r.embeddings.assign(inputs * r.dim, 0.0f);
    for (float x : v)
      if (!std::isfinite(x)) return bad("item " + std::to_string(idx) + " has a non-finite value");
    std::memcpy(r.embeddings.data() + idx * r.dim, v.data(), v.size() * 4);
    if (item.contains("tokens") && item["tokens"].is_number_integer()) r.token_counts[idx] = item["tokens"].get<int32_t>();
    if (item.contains("truncated") && item["truncated"].is_boolean()) r.truncated[idx] = item["truncated"].get<bool>();
  }
  return r;
}

RemoteEmbeddings::RemoteEmbeddings(RemoteOptions options, std::shared_ptr<EmbeddingService> local)
    : options_(std::move(options)), local_(std::move(local)) {
  for (const auto& u : options_.urls) {
    remotes_.emplace_back();
    remotes_.back().url = u;
  }
  for (size_t i = 0; i < std::max<size_t>(1, options_.threads); i++)
    threads_.emplace_back([this] { DispatchLoop(); });
}

RemoteEmbeddings::~RemoteEmbeddings() {
  std::deque<Job> pending;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    pending.swap(queue_);
    in_flight_ -= pending.size();
  }
  cv_.notify_all();
  for (auto& j : pending) j.done(MakeError(Errc::kCancelled, "embedding service stopped"));
  for (auto& t : threads_) t.join();
}

Status RemoteEmbeddings::Submit(const std::string& key, std::vector<std::string> inputs, JobCallback done) {
  const EngineLimits& lim = limits();
  if (inputs.size() > lim.max_inputs_per_job)
    return MakeError(Errc::kInvalidArgument, "job has " + std::to_string(inputs.size()) + " inputs; the limit is " +
                                                 std::to_string(lim.max_inputs_per_job));
  size_t bytes = 0;
  for (size_t i = 0; i < inputs.size(); i++) {
    if (inputs[i].size() > lim.max_input_bytes)
      return MakeError(Errc::kInvalidArgument, "input " + std::to_string(i + 1) + " is " +
                                                   std::to_string(inputs[i].size()) + " bytes; the limit is " +
                                                   std::to_string(lim.max_input_bytes));
    bytes += inputs[i].size();
  }
  if (bytes > lim.max_job_bytes)
    return MakeError(Errc::kInvalidArgument, "job input is " + std::to_string(bytes) + " bytes; the limit is " +
                                                 std::to_string(lim.max_job_bytes));
  auto cid = ResolveModelKey(key, options_.aliases);
  if (!cid.ok()) return cid.error();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return MakeError(Errc::kCancelled, "embedding service stopped");
    if (in_flight_ >= lim.max_jobs_in_flight)
      return MakeError(Errc::kNoSpace, "too many inference jobs in flight (limit " +
                                           std::to_string(lim.max_jobs_in_flight) + ")");
    in_flight_++;
    queue_.push_back(Job{key, cid->ToString(), std::move(inputs), std::move(done)});
  }
  cv_.notify_one();
  return Status::Ok();
}

void RemoteEmbeddings::DispatchLoop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    Run(job);
    std::lock_guard<std::mutex> l(mu_);
    in_flight_--;
  }
}

void RemoteEmbeddings::Run(Job& job) {
  using Clock = std::chrono::steady_clock;
  // Jobs the API cannot carry as they are go local at once: empty inputs (OpenAI's API refuses
  // them) and text that is not valid UTF-8 (JSON would have to alter it).
  bool local_only = false;
  for (const auto& s : job.inputs) local_only |= s.empty();
  // The job goes in requests of at most max_inputs_per_request inputs and max_request_bytes of
  // text (the server's own bounds: serve.embeddings.max_inputs, its 4 MiB body), one after
  // another to the same remote.
  struct Chunk {
    size_t begin, count;
    std::string body;
  };
  std::vector<Chunk> chunks;
  try {
    for (size_t b = 0; b < job.inputs.size() && !local_only;) {
      size_t e = b, bytes = 0;
      while (e < job.inputs.size() && e - b < options_.max_inputs_per_request &&
             (e == b || bytes + job.inputs[e].size() <= options_.max_request_bytes))
        bytes += job.inputs[e++].size();
      nlohmann::json in(std::vector<std::string>(job.inputs.begin() + b, job.inputs.begin() + e));
      chunks.push_back(Chunk{b, e - b, nlohmann::json{{"model", job.cid}, {"input", in}, {"encoding_format", "base64"}}.dump()});
      b = e;
    }
  } catch (const nlohmann::json::exception&) {
    local_only = true;
  }
  for (size_t i = 0; i < remotes_.size() && !local_only && !job.inputs.empty(); i++) {
    std::string url;
    int want_dim = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) break;
      Remote& r = remotes_[i];
      if (Clock::now() < r.down_until) {
        r.skipped++;
        continue;
      }
      r.attempts++;
      url = r.url;
      if (auto it = dims_.find(job.cid); it != dims_.end()) want_dim = it->second;
    }
    bool mark_down = true;
    Result<EmbeddingResult> res = EmbeddingResult{};
    for (const Chunk& c : chunks) {
      auto part = TryRemote(url, c.body, c.count, want_dim, &mark_down);
      if (!part.ok()) {
        res = part.take_error();
        break;
      }
      want_dim = part->dim;  // every chunk must agree with the first
      if (res->dim == 0) {
        res->dim = part->dim;
        res->embeddings.reserve(job.inputs.size() * part->dim);
      }
      res->embeddings.insert(res->embeddings.end(), part->embeddings.begin(), part->embeddings.end());
      res->token_counts.insert(res->token_counts.end(), part->token_counts.begin(), part->token_counts.end());
      res->truncated.insert(res->truncated.end(), part->truncated.begin(), part->truncated.end());
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      Remote& r = remotes_[i];
      if (res.ok()) {
        r.jobs++;
        r.inputs += job.inputs.size();
        r.last_error.clear();
        dims_[job.cid] = res->dim;
        jobs_remote_++;
      } else {
        r.failures++;
        r.last_error = res.error().message;
        if (mark_down) r.down_until = Clock::now() + options_.backoff;
      }
    }
    if (res.ok()) {
      job.done(std::move(*res));
      return;
    }
    spdlog::warn("infer: remote {} failed{}: {}", url, mark_down ? " (marked down)" : "", res.error().message);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    jobs_local_++;
    // A job a remote could have taken but none did (failed, down, or the service stopping).
    if (!local_only && !job.inputs.empty() && !remotes_.empty()) fallbacks_++;
  }
  JobCallback done = std::move(job.done);
  auto shared_done = std::make_shared<JobCallback>(std::move(done));
  Status st = local_->Submit(job.key, std::move(job.inputs), [shared_done](Result<EmbeddingResult> r) {
    (*shared_done)(std::move(r));
  });
  if (!st.ok()) (*shared_done)(st.error());
}

Result<EmbeddingResult> RemoteEmbeddings::TryRemote(const std::string& url, const std::string& body, size_t inputs,
                                                    int want_dim, bool* mark_down) {
  HttpRequest hr;
  hr.method = "POST";
  hr.url = url + "/v1/embeddings";
  hr.headers = {"Content-Type: application/json", "Accept: application/json"};
  if (!options_.token.empty()) hr.headers.push_back("Authorization: Bearer " + options_.token);
  hr.body.assign(body.begin(), body.end());
  hr.timeout = options_.timeout;
  hr.connect_timeout = options_.connect_timeout;
  // The remote sends nothing while it computes: only the total timeout bounds a request, not
  // HttpClient's low-speed rule (which would cut any job that computes for over 10 s).
  hr.low_speed_bytes = 0;
  // Room for base64 float32 of a dimension up to 16,384 per input, plus the JSON around it.
  hr.max_body = (size_t{4} << 20) + inputs * (size_t{88} << 10);
  auto resp = http_.Fetch(std::move(hr));
  if (!resp.ok()) return resp.take_error();
  if (resp->status != 200) {
    long s = resp->status;
    // The remote works but refuses this request: the next one may do, no back-off.
    *mark_down = !(s == 400 || s == 404 || s == 413 || s == 422);
    std::string msg(AsChars(resp->body).substr(0, 200));
    return MakeError(Errc::kHttp, "HTTP " + std::to_string(s) + ": " + msg);
  }
  return ParseOpenAiEmbeddings(AsChars(resp->body), inputs, want_dim);
}

nlohmann::json RemoteEmbeddings::StatsJson() const {
  nlohmann::json j = local_->StatsJson();
  nlohmann::json rs = nlohmann::json::array();
  std::lock_guard<std::mutex> l(mu_);
  auto now = std::chrono::steady_clock::now();
  for (const auto& r : remotes_)
    rs.push_back({{"url", r.url},
                  {"jobs", r.jobs},
                  {"inputs", r.inputs},
                  {"attempts", r.attempts},
                  {"failures", r.failures},
                  {"skipped", r.skipped},
                  {"down", now < r.down_until},
                  {"last_error", r.last_error}});
  j["remote"] = {{"jobs_remote", jobs_remote_}, {"jobs_local", jobs_local_}, {"fallbacks", fallbacks_}, {"remotes", rs}};
  return j;
}

}  // namespace ipfskit::infer
