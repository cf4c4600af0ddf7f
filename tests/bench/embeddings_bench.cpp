// The embeddings API's overhead over a direct engine call, for a one-sentence input:
//   embeddings_bench MODEL_DIR [ROUNDS]
// Per round, in alternating order: InferenceEngine::Submit().get() directly, and POST
// /v1/embeddings (float, then base64) through HttpServer + EmbeddingsHandler on 127.0.0.1 with one
// keep-alive libcurl connection. Prints p50/p99 in ms of each and of the per-round difference.
// The model's time varies by more than the API costs on a loaded machine, so the API is also
// timed alone: the same server and handler over a service that answers at once with a fixed
// embedding of the model's dimension (HTTP + JSON + the handler's wait, no forward pass).
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "accel/backends.h"
#include "core/infer/embedding_service.h"
#include "core/infer/model_files.h"
#include "core/serve/embeddings_handler.h"
#include "core/serve/http_server.h"

using namespace ipfskit;
using Clock = std::chrono::steady_clock;

namespace {

// Answers every job at once (on a thread of its own, as a real service does) with zeros.
class FixedService : public infer::EmbeddingService {
 public:
  explicit FixedService(int dim) : dim_(dim) {
    worker_ = std::thread([this] {
      std::unique_lock<std::mutex> l(mu_);
      for (;;) {
        cv_.wait(l, [&] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        auto [n, done] = std::move(jobs_.front());
        jobs_.pop_front();
        l.unlock();
        infer::EmbeddingResult r;
        r.dim = dim_;
        r.embeddings.assign(n * dim_, 0.125f);
        r.token_counts.assign(n, 13);
        r.truncated.assign(n, 0);
        done(std::move(r));
        l.lock();
      }
    });
  }
  ~FixedService() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  Status Submit(const std::string&, std::vector<std::string> inputs, infer::JobCallback done) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      jobs_.emplace_back(inputs.size(), std::move(done));
    }
    cv_.notify_all();
    return Status::Ok();
  }
  using EmbeddingService::Submit;
  Result<infer::ModelInfo> GetModel(const std::string&) override { return MakeError(Errc::kUnsupported, "fixed"); }
  const infer::EngineLimits& limits() const override { return limits_; }
  nlohmann::json StatsJson() const override { return {}; }

 private:
  int dim_;
  infer::EngineLimits limits_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<std::pair<size_t, infer::JobCallback>> jobs_;
  std::thread worker_;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * v.size()))];
}

size_t Collect(char* d, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(d, s * n);
  return s * n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [ROUNDS]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  int rounds = argc > 2 ? std::atoi(argv[2]) : 500;
  auto engine = std::make_shared<infer::InferenceEngine>(
      accel::MakeDefaultBackend(), [dir](const std::string&) -> Result<std::shared_ptr<const infer::BertModel>> {
        infer::DirectoryModelFiles files(dir);
        return infer::LoadBertModel(files);
      });
  auto handler = std::make_shared<EmbeddingsHandler>(std::make_shared<infer::LocalEmbeddings>(engine), EmbeddingsApiOptions{});
  PrefixRouter router;
  AddEmbeddingsRoutes(router, handler);
  HttpServerOptions so;
  so.port = 0;
  so.max_body = 4 << 20;
  so.methods = {"GET", "HEAD", "POST"};
  HttpServer server(so, router);
  if (Status st = server.Start(); !st.ok()) {
    std::fprintf(stderr, "server: %s\n", st.error().message.c_str());
    return 1;
  }
  auto info = engine->GetModel("m");
  if (!info.ok()) {
    std::fprintf(stderr, "engine: %s\n", info.error().message.c_str());
    return 1;
  }
  auto fixed_handler = std::make_shared<EmbeddingsHandler>(std::make_shared<FixedService>(info->output_dim), EmbeddingsApiOptions{});
  PrefixRouter fixed_router;
  AddEmbeddingsRoutes(fixed_router, fixed_handler);
  HttpServer fixed_server(so, fixed_router);
  if (Status st = fixed_server.Start(); !st.ok()) return 1;
  const std::string fixed_url = "http://" + fixed_server.address() + "/v1/embeddings";
  const std::string text = "how fast is a single short query through the file system";
  const std::string url = "http://" + server.address() + "/v1/embeddings";
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* h = curl_easy_init();
  curl_slist* hl = curl_slist_append(nullptr, "Content-Type: application/json");
  hl = curl_slist_append(hl, "Expect:");
  std::string resp;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  auto post = [&](const std::string& body, bool fixed = false) {
    resp.clear();
    curl_easy_setopt(h, CURLOPT_URL, fixed ? fixed_url.c_str() : url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, long(body.size()));
    long code = 0;
    if (curl_easy_perform(h) != CURLE_OK || (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
      std::fprintf(stderr, "request failed (%ld): %s\n", code, resp.c_str());
      std::exit(1);
    }
  };
  const std::string body_f = nlohmann::json{{"model", "m"}, {"input", text}}.dump();
  const std::string body_b = nlohmann::json{{"model", "m"}, {"input", text}, {"encoding_format", "base64"}}.dump();
  auto direct = [&] {
    auto r = engine->Submit("m", {text}).get();
    if (!r.ok()) {
      std::fprintf(stderr, "engine: %s\n", r.error().message.c_str());
      std::exit(1);
    }
  };
  for (int i = 0; i < 30; i++) direct(), post(body_f), post(body_b);  // load, warm caches and the connection
  std::vector<double> d_ms, f_ms, b_ms, fo, bo, xf, xb;
  for (int i = 0; i < rounds; i++) {
    double td = 0, tf = 0, tb = 0;
    auto timed = [](auto&& fn) {
      auto t0 = Clock::now();
      fn();
      return Ms(Clock::now() - t0);
    };
    if (i % 2) {
      td = timed(direct);
      tf = timed([&] { post(body_f); });
      tb = timed([&] { post(body_b); });
    } else {
      tb = timed([&] { post(body_b); });
      tf = timed([&] { post(body_f); });
      td = timed(direct);
    }
    xf.push_back(timed([&] { post(body_f, true); }));
    xb.push_back(timed([&] { post(body_b, true); }));
    d_ms.push_back(td), f_ms.push_back(tf), b_ms.push_back(tb), fo.push_back(tf - td), bo.push_back(tb - td);
  }
  curl_slist_free_all(hl);
  curl_easy_cleanup(h);
  server.Stop();
  fixed_server.Stop();
  std::printf("%-34s %9s %9s\n", "latency per call (ms)", "p50", "p99");
  std::printf("%-34s %9.3f %9.3f\n", "engine Submit().get() direct", Pct(d_ms, .5), Pct(d_ms, .99));
  std::printf("%-34s %9.3f %9.3f\n", "POST /v1/embeddings float", Pct(f_ms, .5), Pct(f_ms, .99));
  std::printf("%-34s %9.3f %9.3f\n", "POST /v1/embeddings base64", Pct(b_ms, .5), Pct(b_ms, .99));
  std::printf("%-34s %9.3f %9.3f\n", "overhead float (per-round diff)", Pct(fo, .5), Pct(fo, .99));
  std::printf("%-34s %9.3f %9.3f\n", "overhead base64 (per-round diff)", Pct(bo, .5), Pct(bo, .99));
  std::printf("%-34s %9.3f %9.3f\n", "API alone, float (no forward pass)", Pct(xf, .5), Pct(xf, .99));
  std::printf("%-34s %9.3f %9.3f\n", "API alone, base64 (no forward pass)", Pct(xb, .5), Pct(xb, .99));
  std::printf("rounds %d, backend %s\n", rounds, engine->backend().name().c_str());
  return 0;
}
