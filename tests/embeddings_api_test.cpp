// The embeddings API (core/serve/embeddings_handler) over a real HttpServer on 127.0.0.1 with a
// real InferenceEngine and a tiny BERT built by PyTorch (tests/py/make_bert.py), driven by libcurl:
// answers equal the engine's own output bit for bit (float and base64), PyTorch's within 1e-4,
// every error path has its status and JSON shape, tokens are enforced, concurrent clients batch.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "accel/backends.h"
#include "core/infer/embedding_service.h"
#include "core/infer/model_files.h"
#include "core/infer/remote_embeddings.h"
#include "core/serve/embeddings_handler.h"
#include "core/serve/http_server.h"
#include "core/util/base64.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

struct Reply {
  long code = 0;
  std::string body;
  std::string headers;
  json Json() const { return json::parse(body, nullptr, false); }
};

Reply Http(const std::string& method, const std::string& url, const std::string& body,
           const std::vector<std::string>& headers = {}) {
  Reply r;
  CURL* h = curl_easy_init();
  curl_slist* hl = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& x : headers) hl = curl_slist_append(hl, x.c_str());
  auto collect = +[](char* d, size_t s, size_t n, void* out) -> size_t {
    static_cast<std::string*>(out)->append(d, s * n);
    return s * n;
  };
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.code);
  curl_slist_free_all(hl);
  curl_easy_cleanup(h);
  return r;
}

std::string ReadAll(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The numbers of a JSON list whose '[' `c` has just passed, read with strtof (exactly what the
// text says as float32; nlohmann would go through double); `c` ends past the ']'. Anything that
// is not a number ends the list early, so the comparison that follows fails.
std::vector<float> ReadFloatList(const char*& c) {
  std::vector<float> v;
  while (*c && *c != ']') {
    char* end = nullptr;
    v.push_back(std::strtof(c, &end));
    if (end == c) break;
    c = end;
    if (*c == ',') c++;
  }
  if (*c == ']') c++;
  return v;
}

// The float lists of every "embedding":[...] in `body`.
std::vector<std::vector<float>> RawFloatLists(const std::string& body) {
  std::vector<std::vector<float>> out;
  const std::string key = "\"embedding\":[";
  for (size_t p = body.find(key); p != std::string::npos; p = body.find(key, p)) {
    p += key.size();
    const char* c = body.c_str() + p;
    out.push_back(ReadFloatList(c));
  }
  return out;
}

// /embed answers: [[...],[...]].
std::vector<std::vector<float>> TeiLists(const std::string& body) {
  std::vector<std::vector<float>> out;
  const char* c = body.c_str();
  if (*c != '[') return out;
  c++;
  while (*c == '[') {
    c++;
    out.push_back(ReadFloatList(c));
    if (*c == ',') c++;
  }
  return out;
}

std::vector<float> FromBase64(const std::string& s) {
  auto b = Base64Decode(s);
  if (!b) return {};
  std::vector<float> v(b->size() / 4);
  std::memcpy(v.data(), b->data(), v.size() * 4);  // little-endian host (x86-64, aarch64)
  return v;
}

bool BitEqual(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * 4) == 0; }

float MaxErr(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

struct RefModel {
  std::string dir;
  std::vector<std::string> inputs;
  std::vector<float> expected;
  json meta;
  int dim = 0;
};

// A service that fails on purpose: Submit refuses, the job fails, or the job never ends.
class FailingService : public infer::EmbeddingService {
 public:
  enum Mode { kRefuseNoSpace, kFailInternal, kNeverAnswer };
  explicit FailingService(Mode m) : mode_(m) {}
  ~FailingService() override {
    for (auto& cb : held_) cb(MakeError(Errc::kCancelled, "gone"));
  }
  Status Submit(const std::string&, std::vector<std::string>, infer::JobCallback done) override {
    if (mode_ == kRefuseNoSpace) return MakeError(Errc::kNoSpace, "too many inference jobs in flight (limit 1)");
    if (mode_ == kFailInternal) {
      std::thread([done] { done(MakeError(Errc::kInternal, "backend exploded")); }).detach();
      return Status::Ok();
    }
    std::lock_guard<std::mutex> l(mu_);
    held_.push_back(std::move(done));
    return Status::Ok();
  }
  using EmbeddingService::Submit;
  Result<infer::ModelInfo> GetModel(const std::string&) override { return MakeError(Errc::kInternal, "no"); }
  const infer::EngineLimits& limits() const override { return limits_; }
  nlohmann::json StatsJson() const override { return json::object(); }

 private:
  Mode mode_;
  infer::EngineLimits limits_;
  std::mutex mu_;
  std::vector<infer::JobCallback> held_;
};

// One handler behind one server on 127.0.0.1:0.
struct Api {
  std::shared_ptr<EmbeddingsHandler> handler;
  std::unique_ptr<HttpServer> server;
  std::string url;
  Api(std::shared_ptr<infer::EmbeddingService> service, EmbeddingsApiOptions o, size_t max_body = 64 << 10) {
    handler = std::make_shared<EmbeddingsHandler>(std::move(service), std::move(o));
    PrefixRouter router;
    AddEmbeddingsRoutes(router, handler);
    HttpServerOptions so;
    so.port = 0;
    so.max_body = max_body;
    so.methods = {"GET", "HEAD", "POST", "DELETE"};
    server = std::make_unique<HttpServer>(so, router);
    Status st = server->Start();
    EXPECT_TRUE(st.ok()) << st.error().message;
    url = "http://" + server->address();
  }
};

class EmbeddingsApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ref_ = new RefModel;
    ref_->dir = testing::MakeTempDir("emb_api_model");
    // No Normalize module, so that /embed's normalize=true and =false differ.
    std::string cmd = "/usr/bin/python3 " + testing::SourceDir() + "/tests/py/make_bert.py --out " + ref_->dir +
                      " --pooling mean --normalize 0 --sentences 60 --max-seq-length 32 --seed 31 2>/dev/null";
    ASSERT_EQ(testing::RunCommand(cmd), 0) << cmd;
    std::istringstream in(ReadAll(ref_->dir + "/inputs.txt"));
    for (std::string line; std::getline(in, line);) ref_->inputs.push_back(line);
    std::string e = ReadAll(ref_->dir + "/expected.f32");
    ref_->expected.resize(e.size() / 4);
    std::memcpy(ref_->expected.data(), e.data(), e.size());
    ref_->meta = json::parse(ReadAll(ref_->dir + "/expected.json"));
    ref_->dim = ref_->meta["dim"];
  }
  static void TearDownTestSuite() {
    fs::remove_all(ref_->dir);
    delete ref_;
  }
  void SetUp() override {
    infer::EngineLimits limits;
    limits.max_input_bytes = 4096;
    std::string dir = ref_->dir;
    engine_ = std::make_shared<infer::InferenceEngine>(
        accel::MakeCpuBackend(),
        [dir](const std::string& key) -> Result<std::shared_ptr<const infer::BertModel>> {
          if (key != "tiny" && key != "bafytiny") return MakeError(Errc::kNotFound, "no model " + key);
          infer::DirectoryModelFiles files(dir);
          return infer::LoadBertModel(files);
        },
        limits);
    service_ = std::make_shared<infer::LocalEmbeddings>(engine_);
  }
  EmbeddingsApiOptions Options() {
    EmbeddingsApiOptions o;
    o.aliases = {{"tiny", "bafytiny"}};
    o.max_inputs = 64;
    return o;
  }
  std::vector<std::string> Inputs(size_t from, size_t n) {
    return std::vector<std::string>(ref_->inputs.begin() + from, ref_->inputs.begin() + from + n);
  }
  infer::EmbeddingResult Direct(const std::vector<std::string>& in) {
    auto r = engine_->Submit("tiny", in).get();
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : infer::EmbeddingResult{};
  }

  static RefModel* ref_;
  std::shared_ptr<infer::InferenceEngine> engine_;
  std::shared_ptr<infer::LocalEmbeddings> service_;
};
RefModel* EmbeddingsApi::ref_ = nullptr;

TEST_F(EmbeddingsApi, FloatAndBase64EqualTheEngineBitForBit) {
  Api api(service_, Options());
  auto in = Inputs(0, 12);
  auto direct = Direct(in);
  ASSERT_EQ(direct.dim, ref_->dim);
  // Each request is the only job in the engine, as the direct call was: the same batch.
  for (const char* fmt : {"float", "base64"}) {
    SCOPED_TRACE(fmt);
    Reply r = Http("POST", api.url + "/v1/embeddings", json{{"model", "tiny"}, {"input", in}, {"encoding_format", fmt}}.dump());
    ASSERT_EQ(r.code, 200) << r.body;
    EXPECT_NE(r.headers.find("application/json"), std::string::npos);
    json j = r.Json();
    EXPECT_EQ(j["object"], "list");
    EXPECT_EQ(j["model"], "tiny");
    ASSERT_EQ(j["data"].size(), in.size());
    auto raw = RawFloatLists(r.body);
    for (size_t i = 0; i < in.size(); i++) {
      EXPECT_EQ(j["data"][i]["object"], "embedding");
      EXPECT_EQ(j["data"][i]["index"], i);
      std::vector<float> v = std::string(fmt) == "base64" ? FromBase64(j["data"][i]["embedding"].get<std::string>()) : raw.at(i);
      ASSERT_EQ(v.size(), size_t(ref_->dim));
      EXPECT_TRUE(BitEqual(v.data(), direct.embeddings.data() + i * ref_->dim, ref_->dim)) << "input " << i;
      EXPECT_LE(MaxErr(v.data(), ref_->expected.data() + i * ref_->dim, ref_->dim), 1e-4f);  // PyTorch
      EXPECT_EQ(j["data"][i]["tokens"], ref_->meta["tokens"][i]);
    }
  }
}

TEST_F(EmbeddingsApi, StringAndArrayInputAndUsageTokens) {
  Api api(service_, Options());
  Reply one = Http("POST", api.url + "/v1/embeddings", json{{"model", "tiny"}, {"input", ref_->inputs[3]}}.dump());
  ASSERT_EQ(one.code, 200) << one.body;
  Reply arr = Http("POST", api.url + "/v1/embeddings", json{{"model", "tiny"}, {"input", {ref_->inputs[3]}}}.dump());
  ASSERT_EQ(arr.code, 200) << arr.body;
  EXPECT_EQ(one.body, arr.body);
  EXPECT_EQ(one.Json()["data"].size(), 1u);
  EXPECT_EQ(one.Json()["usage"]["prompt_tokens"], ref_->meta["tokens"][3]);
  // The CID works as well as the alias; usage sums the inputs' tokens ([CLS] and [SEP] included).
  auto in = Inputs(5, 7);
  Reply many = Http("POST", api.url + "/v1/embeddings", json{{"model", "bafytiny"}, {"input", in}, {"user", "u1"}}.dump());
  ASSERT_EQ(many.code, 200) << many.body;
  int sum = 0;
  for (int i = 5; i < 12; i++) sum += ref_->meta["tokens"][i].get<int>();
  EXPECT_EQ(many.Json()["usage"]["prompt_tokens"], sum);
  EXPECT_EQ(many.Json()["usage"]["total_tokens"], sum);
  EXPECT_EQ(many.Json()["model"], "bafytiny");
}

TEST_F(EmbeddingsApi, ErrorsHaveTheirStatusAndOpenAiShape) {
  auto o = Options();
  o.max_inputs = 8;
  Api api(service_, o);
  auto post = [&](const std::string& body) { return Http("POST", api.url + "/v1/embeddings", body); };
  struct Case {
    std::string body;
    long code;
    std::string param;
  };
  std::string too_long(5000, 'a');
  std::vector<Case> cases = {
      {"{not json", 400, ""},
      {"[1,2]", 400, ""},
      {R"({"input":"x"})", 400, "model"},
      {R"({"model":"tiny"})", 400, "input"},
      {R"({"model":"tiny","input":[]})", 400, "input"},
      {R"({"model":"tiny","input":""})", 400, "input"},
      {R"({"model":"tiny","input":["a",""]})", 400, "input"},
      {R"({"model":"tiny","input":[1,2,3]})", 400, "input"},
      {R"({"model":"tiny","input":[[1,2],[3]]})", 400, "input"},
      {R"({"model":"tiny","input":{"a":1}})", 400, "input"},
      {json{{"model", "tiny"}, {"input", std::vector<std::string>(9, "x")}}.dump(), 400, "input"},
      {json{{"model", "tiny"}, {"input", too_long}}.dump(), 400, "input"},  // over max_input_bytes
      {R"({"model":"tiny","input":"x","encoding_format":"int8"})", 400, "encoding_format"},
      {R"({"model":"tiny","input":"x","dimensions":7})", 400, "dimensions"},
      {R"({"model":"nosuch","input":"x"})", 404, "model"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 80));
    Reply r = post(c.body);
    EXPECT_EQ(r.code, c.code) << r.body;
    json j = r.Json();
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string() && !j["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(j["error"]["type"].is_string());
    EXPECT_TRUE(j["error"].contains("code"));
    if (!c.param.empty()) {
      EXPECT_EQ(j["error"]["param"], c.param);
    }
  }
  EXPECT_EQ(post(R"({"model":"tiny","input":[1,2]})").Json()["error"]["code"], "not_supported");
  EXPECT_EQ(post(R"({"model":"nosuch","input":"x"})").Json()["error"]["code"], "model_not_found");
  // The model's own dimension is accepted.
  EXPECT_EQ(post(json{{"model", "tiny"}, {"input", "x"}, {"dimensions", ref_->dim}}.dump()).code, 200);
  // Wrong method, unknown path under the API.
  Reply get = Http("GET", api.url + "/v1/embeddings", "");
  EXPECT_EQ(get.code, 405);
  EXPECT_NE(get.headers.find("Allow: POST"), std::string::npos) << get.headers;
  EXPECT_EQ(Http("POST", api.url + "/v1/models", "{}").code, 405);
  // A body over the server's max_body (64 KiB here) is 413 before the handler runs.
  std::string big = json{{"model", "tiny"}, {"input", std::string(100 << 10, 'a')}}.dump();
  EXPECT_EQ(post(big).code, 413);
  auto s = api.handler->StatsJson();
  EXPECT_GE(s["client_errors"].get<int>(), int(cases.size()));
}

TEST_F(EmbeddingsApi, EngineFailuresAre503And500AndATimeoutIs504) {
  auto o = Options();
  o.timeout = 300ms;
  {
    Api api(std::make_shared<FailingService>(FailingService::kRefuseNoSpace), o);
    Reply r = Http("POST", api.url + "/v1/embeddings", R"({"model":"tiny","input":"x"})");
    EXPECT_EQ(r.code, 503) << r.body;
    EXPECT_EQ(r.Json()["error"]["type"], "server_error");
    Reply t = Http("POST", api.url + "/embed", R"({"inputs":"x"})");
    EXPECT_EQ(t.code, 503) << t.body;
    EXPECT_EQ(t.Json()["error_type"], "overloaded");
  }
  {
    Api api(std::make_shared<FailingService>(FailingService::kFailInternal), o);
    Reply r = Http("POST", api.url + "/v1/embeddings", R"({"model":"tiny","input":"x"})");
    EXPECT_EQ(r.code, 500) << r.body;
    EXPECT_NE(r.Json()["error"]["message"].get<std::string>().find("backend exploded"), std::string::npos);
  }
  {
    auto never = std::make_shared<FailingService>(FailingService::kNeverAnswer);
    Api api(never, o);
    auto t0 = std::chrono::steady_clock::now();
    Reply r = Http("POST", api.url + "/v1/embeddings", R"({"model":"tiny","input":"x"})");
    EXPECT_EQ(r.code, 504) << r.body;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_EQ(api.handler->StatsJson()["timeouts"], 1);
  }
  // The real engine's queue limit: kNoSpace from Submit is 503.
  infer::EngineLimits lim;
  lim.max_jobs_in_flight = 0;
  std::string dir = ref_->dir;
  auto full = std::make_shared<infer::InferenceEngine>(
      accel::MakeCpuBackend(),
      [dir](const std::string&) -> Result<std::shared_ptr<const infer::BertModel>> {
        infer::DirectoryModelFiles files(dir);
        return infer::LoadBertModel(files);
      },
      lim);
  Api api(std::make_shared<infer::LocalEmbeddings>(full), o);
  EXPECT_EQ(Http("POST", api.url + "/v1/embeddings", R"({"model":"tiny","input":"x"})").code, 503);
}

TEST_F(EmbeddingsApi, BearerTokensWhenConfigured) {
  auto o = Options();
  o.tokens = {"s3cret", "other"};
  Api api(service_, o);
  const std::string body = R"({"model":"tiny","input":"hello"})";
  Reply none = Http("POST", api.url + "/v1/embeddings", body);
  EXPECT_EQ(none.code, 401);
  EXPECT_EQ(none.Json()["error"]["code"], "invalid_api_key");
  EXPECT_NE(none.headers.find("WWW-Authenticate: Bearer"), std::string::npos);
  EXPECT_EQ(Http("POST", api.url + "/v1/embeddings", body, {"Authorization: Bearer wrong"}).code, 401);
  EXPECT_EQ(Http("POST", api.url + "/v1/embeddings", body, {"Authorization: Basic s3cret"}).code, 401);
  EXPECT_EQ(Http("POST", api.url + "/v1/embeddings", body, {"Authorization: Bearer s3cret"}).code, 200);
  EXPECT_EQ(Http("POST", api.url + "/v1/embeddings", body, {"Authorization: bearer other"}).code, 200);
  EXPECT_EQ(Http("GET", api.url + "/v1/models", "").code, 401);
  EXPECT_EQ(Http("GET", api.url + "/embeddings/stats", "").code, 401);
  Reply tei = Http("POST", api.url + "/embed?model=tiny", R"({"inputs":"hello"})");
  EXPECT_EQ(tei.code, 401);
  EXPECT_EQ(tei.Json()["error_type"], "unauthorized");
  EXPECT_EQ(Http("POST", api.url + "/embed?model=tiny", R"({"inputs":"hello"})", {"Authorization: Bearer s3cret"}).code, 200);
}

TEST_F(EmbeddingsApi, TeiEmbedNormalizeAndTruncate) {
  auto o = Options();
  Api api(service_, o);
  auto in = Inputs(0, 6);
  auto direct = Direct(in);
  const int d = ref_->dim;
  // The model's own output (no Normalize module) with normalize=false, bit for bit.
  Reply raw = Http("POST", api.url + "/embed?model=tiny", json{{"inputs", in}, {"normalize", false}, {"truncate", true}}.dump());
  ASSERT_EQ(raw.code, 200) << raw.body;
  auto lists = TeiLists(raw.body);
  ASSERT_EQ(lists.size(), in.size());
  for (size_t i = 0; i < in.size(); i++) {
    ASSERT_EQ(lists[i].size(), size_t(d));
    EXPECT_TRUE(BitEqual(lists[i].data(), direct.embeddings.data() + i * d, d)) << i;
  }
  // Default normalize=true: unit length, the same direction. The only alias is the default model.
  Reply norm = Http("POST", api.url + "/embed", json{{"inputs", in}, {"truncate", true}}.dump());
  ASSERT_EQ(norm.code, 200) << norm.body;
  auto nl = TeiLists(norm.body);
  ASSERT_EQ(nl.size(), in.size());
  for (size_t i = 0; i < in.size(); i++) {
    double n2 = 0, raw2 = 0;
    for (int k = 0; k < d; k++) n2 += double(nl[i][k]) * nl[i][k], raw2 += double(lists[i][k]) * lists[i][k];
    EXPECT_NEAR(n2, 1.0, 1e-5);
    EXPECT_GT(std::fabs(raw2 - 1.0), 1e-3) << "the test model must not normalise by itself";
    for (int k = 0; k < d; k++) EXPECT_NEAR(nl[i][k], lists[i][k] / std::sqrt(raw2), 1e-6);
  }
  // A single string; the model from the body. (truncate: some test sentences are over 32 tokens.)
  Reply one = Http("POST", api.url + "/embed", json{{"inputs", in[0]}, {"model", "bafytiny"}, {"normalize", false}, {"truncate", true}}.dump());
  ASSERT_EQ(one.code, 200) << one.body;
  ASSERT_EQ(TeiLists(one.body).size(), 1u);
  // Alone in its batch it is bit-equal to a lone direct run; beside other inputs it differs in
  // the last bits (other GEMM shapes), within the engine's mixed-batch bound.
  auto alone = Direct({in[0]});
  EXPECT_TRUE(BitEqual(TeiLists(one.body)[0].data(), alone.embeddings.data(), d));
  float mixed = MaxErr(alone.embeddings.data(), direct.embeddings.data(), d);
  EXPECT_LE(mixed, 1e-5f);
  std::cout << "batch of 1 vs batch of 6, max |diff|: " << mixed << "\n";
  // Over max_seq_length (32 tokens): 413 with truncate=false (TEI's default), 200 with true.
  std::string longer;
  for (int i = 0; i < 80; i++) longer += ref_->inputs[i % ref_->inputs.size()].substr(0, 6) + " ";
  Reply cut = Http("POST", api.url + "/embed", json{{"inputs", longer}}.dump());
  EXPECT_EQ(cut.code, 413) << cut.body;
  EXPECT_EQ(cut.Json()["error_type"], "validation");
  EXPECT_EQ(Http("POST", api.url + "/embed", json{{"inputs", longer}, {"truncate", true}}.dump()).code, 200);
  // /v1 truncates as sentence-transformers does and says so per item.
  Reply v1 = Http("POST", api.url + "/v1/embeddings", json{{"model", "tiny"}, {"input", longer}}.dump());
  ASSERT_EQ(v1.code, 200);
  EXPECT_EQ(v1.Json()["data"][0]["truncated"], true);
  EXPECT_EQ(v1.Json()["data"][0]["tokens"], 32);
  // TEI-shaped errors.
  Reply e1 = Http("POST", api.url + "/embed", "nope");
  EXPECT_EQ(e1.code, 400);
  EXPECT_TRUE(e1.Json()["error"].is_string());
  EXPECT_EQ(e1.Json()["error_type"], "validation");
  Reply e2 = Http("POST", api.url + "/embed", R"({"inputs":[]})");
  EXPECT_EQ(e2.code, 400);
  EXPECT_EQ(e2.Json()["error_type"], "empty");
  Reply e3 = Http("POST", api.url + "/embed?model=nosuch", R"({"inputs":"x"})");
  EXPECT_EQ(e3.code, 404);
  EXPECT_EQ(Http("POST", api.url + "/embed", R"({"inputs":"x","normalize":"yes"})").code, 400);
  // Two aliases and no default: the model must be named.
  auto o2 = Options();
  o2.aliases["other"] = "bafyother";
  Api api2(service_, o2);
  EXPECT_EQ(Http("POST", api2.url + "/embed", R"({"inputs":"x"})").code, 400);
  o2.default_model = "tiny";
  Api api3(service_, o2);
  EXPECT_EQ(Http("POST", api3.url + "/embed", R"({"inputs":"x"})").code, 200);
}

TEST_F(EmbeddingsApi, ModelsListsTheAliases) {
  auto o = Options();
  o.aliases["other"] = "bafyother";
  Api api(service_, o);
  Reply r = Http("GET", api.url + "/v1/models", "");
  ASSERT_EQ(r.code, 200) << r.body;
  json j = r.Json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["id"], "other");
  EXPECT_EQ(j["data"][1]["id"], "tiny");
  EXPECT_EQ(j["data"][1]["object"], "model");
  EXPECT_EQ(j["data"][1]["cid"], "bafytiny");
}

TEST_F(EmbeddingsApi, ConcurrentClientsGetTheirOwnAnswersAndBatch) {
  Api api(service_, Options());
  // Keep the worker busy with one big job so that the clients' jobs queue up behind it and
  // share rounds. Its own batch count is measured alone first (it depends on its token counts
  // only).
  std::vector<std::string> busy;
  for (int k = 0; k < 40; k++) busy.insert(busy.end(), ref_->inputs.begin(), ref_->inputs.end());
  uint64_t b0 = engine_->stats().batches;
  ASSERT_TRUE(engine_->Submit("tiny", busy).get().ok());
  const uint64_t busy_batches = engine_->stats().batches - b0;
  const uint64_t batches0 = engine_->stats().batches;
  auto busy_job = engine_->Submit("tiny", busy);
  constexpr int kClients = 20;
  std::vector<float> errs(kClients, 1.0f);
  std::vector<long> codes(kClients, 0);
  std::vector<std::thread> ts;
  for (int c = 0; c < kClients; c++) {
    ts.emplace_back([&, c] {
      std::vector<size_t> idx;
      for (size_t i = c; i < ref_->inputs.size(); i += 7) idx.push_back(i);
      std::vector<std::string> in;
      for (size_t i : idx) in.push_back(ref_->inputs[i]);
      Reply r = Http("POST", api.url + "/v1/embeddings",
                     json{{"model", "tiny"}, {"input", in}, {"encoding_format", c % 2 ? "base64" : "float"}}.dump());
      codes[c] = r.code;
      if (r.code != 200) return;
      json j = r.Json();
      auto raw = RawFloatLists(r.body);
      float e = 0;
      for (size_t n = 0; n < idx.size(); n++) {
        std::vector<float> v = c % 2 ? FromBase64(j["data"][n]["embedding"].get<std::string>()) : raw.at(n);
        if (v.size() != size_t(ref_->dim)) return;
        e = std::max(e, MaxErr(v.data(), ref_->expected.data() + idx[n] * ref_->dim, ref_->dim));
      }
      errs[c] = e;
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(busy_job.get().ok());
  for (int c = 0; c < kClients; c++) {
    EXPECT_EQ(codes[c], 200) << c;
    // Batched with other clients' inputs: within 1e-4 of PyTorch (the engine test's bound for
    // mixed batches), not bit-equal to a lone run.
    EXPECT_LE(errs[c], 1e-4f) << c;
  }
  // 20 requests, one job each: unbatched they would take 20 batches of their own.
  const uint64_t client_batches = engine_->stats().batches - batches0 - busy_batches;
  EXPECT_LT(client_batches, uint64_t(kClients));
  std::cout << "20 requests ran in " << client_batches << " batches\n";
  EXPECT_EQ(api.handler->StatsJson()["ok"], kClients);
}

TEST(ParseOpenAiEmbeddings, ChecksTheShape) {
  using infer::ParseOpenAiEmbeddings;
  float a[2] = {1.5f, -2.0f}, b[2] = {0.25f, 3.0f};
  std::string ea = Base64Encode(ByteView(reinterpret_cast<const uint8_t*>(a), 8));
  std::string eb = Base64Encode(ByteView(reinterpret_cast<const uint8_t*>(b), 8));
  // Items in any order, base64 or floats, with ipfskit's tokens/truncated.
  std::string good = R"({"data":[{"index":1,"embedding":")" + eb + R"(","tokens":4},{"index":0,"embedding":[1.5,-2],"truncated":true}]})";
  auto r = ParseOpenAiEmbeddings(good, 2, 0);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->dim, 2);
  EXPECT_EQ(r->embeddings, (std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f}));
  EXPECT_EQ(r->token_counts, (std::vector<int32_t>{0, 4}));
  EXPECT_EQ(r->truncated, (std::vector<uint8_t>{1, 0}));
  EXPECT_FALSE(ParseOpenAiEmbeddings(good, 2, 3).ok());  // a dimension other than the known one
  const char* bad[] = {
      "not json",
      R"({"object":"list"})",
      R"({"data":[{"index":0,"embedding":[1,2]}]})",                                // 1 for 2
      R"({"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]})",  // repeated
      R"({"data":[{"index":0,"embedding":[1,2]},{"index":2,"embedding":[1,2]}]})",  // out of range
      R"({"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}]})",
      R"({"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[]}]})",
      R"({"data":[{"index":0,"embedding":"@@@"},{"index":1,"embedding":[1,2]}]})",
      R"({"data":[{"index":0,"embedding":"AAA="},{"index":1,"embedding":[1,2]}]})",  // 2 bytes
      R"({"data":[{"index":0,"embedding":[1,"x"]},{"index":1,"embedding":[1,2]}]})",
      R"({"data":[{"index":0,"embedding":[1,1e999]},{"index":1,"embedding":[1,2]}]})",
      R"({"data":[{"embedding":[1,2]},{"index":1,"embedding":[1,2]}]})",
  };
  for (const char* b : bad) EXPECT_FALSE(ParseOpenAiEmbeddings(b, 2, 0).ok()) << b;
  float inf = INFINITY;
  std::string einf = Base64Encode(ByteView(reinterpret_cast<const uint8_t*>(&inf), 4));
  EXPECT_FALSE(ParseOpenAiEmbeddings(R"({"data":[{"index":0,"embedding":")" + einf + R"("}]})", 1, 0).ok());
  EXPECT_EQ(Base64Encode(AsBytes("ab")), "YWI=");
  EXPECT_EQ(Base64Encode(AsBytes("abc")), "YWJj");
  EXPECT_EQ(Base64Encode(AsBytes("a")), "YQ==");
}

// RemoteEmbeddings in-process: a remote that is our own API over another engine, remotes that
// fail in each way, and the local engine behind them.
TEST_F(EmbeddingsApi, RemoteRunsThereAndFallsBackLocally) {
  // The remote: its own engine over the same model folder.
  std::string dir = ref_->dir;
  auto remote_engine = std::make_shared<infer::InferenceEngine>(
      accel::MakeCpuBackend(),
      [dir](const std::string&) -> Result<std::shared_ptr<const infer::BertModel>> {
        infer::DirectoryModelFiles files(dir);
        return infer::LoadBertModel(files);
      });
  auto remote_api = std::make_unique<Api>(std::make_shared<infer::LocalEmbeddings>(remote_engine), Options(), 4 << 20);
  const std::string cid = "bafkqaaa";  // a valid CID (the identity of ""): remotes get CIDs only
  infer::RemoteOptions ro;
  ro.urls = {remote_api->url};
  ro.aliases = {{"tiny", cid}};
  ro.timeout = 5s;
  ro.backoff = 60s;
  ro.threads = 2;
  std::atomic<int> local_loads{0};
  auto local_engine = std::make_shared<infer::InferenceEngine>(
      accel::MakeCpuBackend(),
      [dir, &local_loads](const std::string&) -> Result<std::shared_ptr<const infer::BertModel>> {
        local_loads++;
        infer::DirectoryModelFiles files(dir);
        return infer::LoadBertModel(files);
      });
  auto local = std::make_shared<infer::LocalEmbeddings>(local_engine);
  auto in = Inputs(10, 9);
  auto direct = Direct(in);
  {
    infer::RemoteEmbeddings svc(ro, local);
    auto r = svc.Submit("tiny", in).get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->dim, ref_->dim);
    EXPECT_TRUE(BitEqual(r->embeddings.data(), direct.embeddings.data(), direct.embeddings.size()));
    EXPECT_EQ(r->token_counts, direct.token_counts);
    EXPECT_EQ(local_loads.load(), 0);  // nothing ran here
    EXPECT_EQ(remote_engine->stats().jobs_done, 1u);
    auto st = svc.StatsJson();
    EXPECT_EQ(st["remote"]["jobs_remote"], 1);
    EXPECT_EQ(st["remote"]["remotes"][0]["inputs"], in.size());
    // An empty input goes local at once (the API refuses empty strings); not a fallback.
    auto e = svc.Submit("tiny", std::vector<std::string>{"", "x"}).get();
    ASSERT_TRUE(e.ok()) << e.error().message;
    EXPECT_EQ(svc.StatsJson()["remote"]["jobs_local"], 1);
    EXPECT_EQ(svc.StatsJson()["remote"]["fallbacks"], 0);
    // Submit checks the key and the limits at once.
    EXPECT_EQ(svc.Submit("tiny", std::vector<std::string>(infer::EngineLimits{}.max_inputs_per_job + 1, "x"),
                         [](Result<infer::EmbeddingResult>) {})
                  .error()
                  .code,
              Errc::kInvalidArgument);
    EXPECT_EQ(svc.Submit("nosuch", in, [](Result<infer::EmbeddingResult>) {}).error().code, Errc::kNotFound);
  }
  {
    // A job larger than one request goes in several, in order, to the same remote.
    auto chunked = ro;
    chunked.max_inputs_per_request = 4;
    infer::RemoteEmbeddings svc(chunked, local);
    const uint64_t jobs0 = remote_engine->stats().jobs_done;
    const uint64_t local0 = local_engine->stats().jobs_done;
    auto r = svc.Submit("tiny", in).get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(remote_engine->stats().jobs_done - jobs0, 3u);  // 4 + 4 + 1
    ASSERT_EQ(r->embeddings.size(), direct.embeddings.size());
    // Other batches than the direct run's: within the mixed-batch bound, not bit-equal.
    EXPECT_LE(MaxErr(r->embeddings.data(), direct.embeddings.data(), direct.embeddings.size()), 1e-5f);
    EXPECT_EQ(r->token_counts, direct.token_counts);
    EXPECT_EQ(local_engine->stats().jobs_done, local0);  // nothing ran here
  }
  // The remote is gone (connection refused): local, and the remote is down for the back-off.
  std::string gone_url = remote_api->url;
  remote_api.reset();
  testing::FakeHttpServer garbage([&](const testing::FakeRequest&) {
    testing::FakeResponse r;
    r.content_type = "application/json";
    r.body = R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}]})";  // 1 for 9
    return r;
  });
  testing::FakeHttpServer error500([&](const testing::FakeRequest&) {
    testing::FakeResponse r;
    r.status = 500;
    r.body = "oops";
    return r;
  });
  testing::FakeHttpServer hang([&](const testing::FakeRequest&) {
    testing::FakeResponse r;
    r.mode = testing::FakeResponse::Mode::kHang;
    return r;
  });
  ro.urls = {gone_url, garbage.url(), error500.url(), hang.url()};
  ro.timeout = 800ms;
  {
    infer::RemoteEmbeddings svc(ro, local);
    auto t0 = std::chrono::steady_clock::now();
    auto r = svc.Submit("tiny", in).get();
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(BitEqual(r->embeddings.data(), direct.embeddings.data(), direct.embeddings.size()));
    EXPECT_LT(took, 10s);
    EXPECT_GE(took, 700ms);  // it did wait for the hanging one
    auto st = svc.StatsJson()["remote"];
    EXPECT_EQ(st["fallbacks"], 1);
    EXPECT_EQ(st["jobs_remote"], 0);
    for (int i = 0; i < 4; i++) {
      EXPECT_EQ(st["remotes"][i]["failures"], 1) << i;
      EXPECT_EQ(st["remotes"][i]["down"], true) << i;
      EXPECT_FALSE(st["remotes"][i]["last_error"].get<std::string>().empty());
    }
    EXPECT_NE(st["remotes"][2]["last_error"].get<std::string>().find("500"), std::string::npos);
    // All down: the next job goes local at once, without asking any of them.
    int asked = garbage.requests() + error500.requests() + hang.requests();
    t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(svc.Submit("tiny", in).get().ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 700ms);
    EXPECT_EQ(garbage.requests() + error500.requests() + hang.requests(), asked);
    st = svc.StatsJson()["remote"];
    EXPECT_EQ(st["fallbacks"], 2);
    EXPECT_EQ(st["remotes"][1]["skipped"], 1);
  }
  // A 404 (the remote lacks the model) is tried past but not held against the remote.
  testing::FakeHttpServer lacks([&](const testing::FakeRequest&) {
    testing::FakeResponse r;
    r.status = 404;
    r.body = R"({"error":{"message":"no model"}})";
    return r;
  });
  ro.urls = {lacks.url()};
  infer::RemoteEmbeddings svc(ro, local);
  ASSERT_TRUE(svc.Submit("tiny", in).get().ok());
  ASSERT_TRUE(svc.Submit("tiny", in).get().ok());
  EXPECT_EQ(lacks.requests(), 2);
  EXPECT_EQ(svc.StatsJson()["remote"]["remotes"][0]["down"], false);
}

}  // namespace
}  // namespace ipfskit
