// The embeddings API end to end: `ipfskit serve --api` answering the npm `openai` client
// (tests/js/openai_embed.mjs) with what /infer of a real mount gives for the same text and model,
// and a mount whose "infer.remote" sends its jobs to another repo's `ipfskit serve --api`, then
// falls back to its own engine when that server is killed, answers garbage or hangs. Every
// address is 127.0.0.1.
#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/fakes/fake_http_server.h"
#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

std::string ReadAll(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Q(const std::string& s) { return "'" + s + "'"; }

// GET with libcurl (the CI root has no curl tool).
std::string HttpGet(const std::string& url) {
  std::string body;
  CURL* h = curl_easy_init();
  auto collect = +[](char* d, size_t s, size_t n, void* out) -> size_t {
    static_cast<std::string*>(out)->append(d, s * n);
    return s * n;
  };
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_slist* hl = curl_slist_append(nullptr, "Authorization: Bearer tok-1");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_perform(h);
  curl_slist_free_all(hl);
  curl_easy_cleanup(h);
  return body;
}

std::vector<float> ParseNpy(const std::string& b, int* n, int* d) {
  if (b.size() < 10 || b.substr(0, 6) != "\x93NUMPY") {
    ADD_FAILURE() << "not a .npy file: " << b.size() << " bytes";
    return {};
  }
  uint16_t hlen = static_cast<uint8_t>(b[8]) | (static_cast<uint8_t>(b[9]) << 8);
  std::string header = b.substr(10, hlen);
  sscanf(header.c_str() + header.find("'shape': (") + 10, "%d, %d", n, d);
  std::vector<float> v((b.size() - 10 - hlen) / 4);
  std::memcpy(v.data(), b.data() + 10 + hlen, v.size() * 4);
  return v;
}

std::string ReadResult(const std::string& path) {
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!fs::exists(path) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  return ReadAll(path);
}

float MaxErr(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  float e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::fabs(a[i] - b[i]));
  return e;
}

// `ipfskit serve --api 127.0.0.1:0` over a repo, in the background.
class ServeProcess {
 public:
  ServeProcess(const std::string& repo, const std::string& dir) : out_(dir + "/serve.out") {
    std::string pidf = dir + "/serve.pid";
    std::string cmd = "(" + Q(CliBinary()) + " --repo " + Q(repo) +
                      " --offline --json serve --listen 127.0.0.1:0 --api 127.0.0.1:0 > " + Q(out_) + " 2>" +
                      Q(dir + "/serve.err") + " & echo $! > " + Q(pidf) + ")";
    EXPECT_EQ(RunCommand(cmd), 0);
    pid_ = std::atoi(ReadFile(pidf).c_str());
    for (int i = 0; i < 200 && api_.empty(); i++) {
      std::this_thread::sleep_for(50ms);
      std::string line = ReadFile(out_);
      if (line.find('\n') == std::string::npos) continue;
      json j = json::parse(line.substr(0, line.find('\n')), nullptr, false);
      if (j.is_object() && j.contains("API")) api_ = j["API"];
    }
    EXPECT_FALSE(api_.empty()) << ReadFile(out_) << ReadFile(dir + "/serve.err");
  }
  ~ServeProcess() { Stop(SIGTERM); }
  const std::string& api() const { return api_; }
  void Stop(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    for (int i = 0; i < 200 && ::kill(pid_, 0) == 0; i++) std::this_thread::sleep_for(25ms);
    pid_ = 0;
  }

 private:
  std::string out_, api_;
  pid_t pid_ = 0;
};

class EmbeddingsMount : public MountFixture {
 protected:
  using Model = BertModel;
  Model MakeModel(const std::string& name, const std::string& flags) { return MakeBertModel(name, flags); }
  // Writes the model's inputs as job `name` and reads its .npy.
  std::vector<float> RunJob(const Model& m, const std::string& name, int* n = nullptr) {
    std::string dir = mnt_ + "/infer/" + m.cid;
    ShOk("cp " + Q(m.dir + "/inputs.txt") + " " + Q(dir + "/" + name));
    int rows = 0, d = 0;
    auto v = ParseNpy(ReadResult(dir + "/" + name + ".npy"), &rows, &d);
    EXPECT_EQ(d, m.dim);
    if (n) *n = rows;
    return v;
  }
};

TEST_F(EmbeddingsMount, OpenAiClientGetsWhatInferGives) {
  Model m = MakeModel("m", "--seed 41 --sentences 12");
  // Tokens on: the client's apiKey is the bearer token.
  { std::ofstream(repo_ + "/config.json") << R"({"serve": {"embeddings": {"tokens": ["tok-1"]}}})"; }
  Mount();
  auto infer = RunJob(m, "job");
  ASSERT_EQ(infer.size(), m.expected.size());
  EXPECT_LE(MaxErr(infer, m.expected), 1e-4f);  // PyTorch
  ServeProcess serve(repo_, tmp_);  // the same repo, shared with the mount
  ASSERT_FALSE(serve.api().empty());
  // serve makes its engine on the first embeddings request, not at start.
  json before = json::parse(HttpGet(serve.api() + "/embeddings/stats"), nullptr, false);
  ASSERT_TRUE(before.is_object());
  EXPECT_EQ(before["service"]["engine"], "not started") << before.dump();
  std::string out;
  int rc = RunCommand("cd " + Q(SourceDir() + "/tests/js") + " && node openai_embed.mjs " + Q(serve.api() + "/v1") +
                          " tok-1 " + m.cid + " " + Q(m.dir + "/inputs.txt") + " 2>&1",
                      &out);
  ASSERT_EQ(rc, 0) << out;
  json j = json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], m.cid);
  for (const char* kind : {"default", "float"}) {
    SCOPED_TRACE(kind);
    ASSERT_EQ(j[kind].size(), size_t(m.n));
    std::vector<float> got;
    for (const auto& row : j[kind]) {
      ASSERT_EQ(row.size(), size_t(m.dim));
      for (const auto& x : row) got.push_back(x.get<float>());
    }
    // One job of the same inputs on the same engine code: the same batch, the same floats.
    EXPECT_LE(MaxErr(got, infer), 1e-6f);
  }
  ASSERT_EQ(j["single"].size(), size_t(m.dim));
  std::vector<float> single;
  for (const auto& x : j["single"]) single.push_back(x.get<float>());
  std::vector<float> first(infer.begin(), infer.begin() + m.dim);
  EXPECT_LE(MaxErr(single, first), 1e-5f);  // a batch of one: other padding/blocking, same model
  // usage.prompt_tokens is the sum of the per-input token counts /infer reports.
  int tokens = 0;
  std::istringstream jl(ReadAll(mnt_ + "/infer/" + m.cid + "/job.jsonl"));
  for (std::string line; std::getline(jl, line);) tokens += json::parse(line)["tokens"].get<int>();
  EXPECT_EQ(j["usage"]["prompt_tokens"], tokens);
  EXPECT_EQ(j["usage"]["total_tokens"], tokens);
  // The client sees our errors as its typed errors.
  EXPECT_EQ(j["bad_model"]["status"], 404) << j["bad_model"];
  EXPECT_EQ(j["bad_model"]["code"], "model_not_found");
  EXPECT_EQ(j["bad_key"]["status"], 401) << j["bad_key"];
  EXPECT_EQ(j["bad_key"]["name"], "AuthenticationError");
}

TEST_F(EmbeddingsMount, RemoteInferRunsOnTheServerThenFallsBackWhenItDies) {
  Model m = MakeModel("m", "--seed 42 --sentences 16");
  // The remote node: another repo holding the same model folder (the same CID).
  const std::string srv = tmp_ + "/srv";
  ShOk(Q(CliBinary()) + " --repo " + Q(srv) + " init");
  EXPECT_EQ(ShOk(Q(CliBinary()) + " --repo " + Q(srv) + " add -Qr " + Q(m.dir)), m.cid);
  { std::ofstream(srv + "/config.json") << R"({"serve": {"embeddings": {"tokens": ["tok-1"]}}})"; }
  auto serve = std::make_unique<ServeProcess>(srv, tmp_);
  ASSERT_FALSE(serve->api().empty());
  {
    std::ofstream(repo_ + "/config.json") << json{{"infer",
                                                   {{"remote", {serve->api()}},
                                                    {"remote_token", "tok-1"},
                                                    {"remote_timeout_ms", 5000},
                                                    {"remote_backoff_ms", 600000}}}}
                                                 .dump();
  }
  Mount();
  // What this node's own engine gives, without a mount (and without remotes: the CLI is local).
  int n = 0, d = 0;
  ShOk(Cli("infer " + m.cid + " --format npy < " + Q(m.dir + "/inputs.txt") + " > " + Q(tmp_ + "/local.npy")));
  auto local = ParseNpy(ReadAll(tmp_ + "/local.npy"), &n, &d);
  ASSERT_EQ(local.size(), m.expected.size());

  auto remote = RunJob(m, "job1");
  EXPECT_LE(MaxErr(remote, m.expected), 1e-4f);
  EXPECT_LE(MaxErr(remote, local), 1e-6f);  // the same job on the same engine code, elsewhere
  json st = MountStats()["infer"];
  EXPECT_EQ(st["remote"]["jobs_remote"], 1) << st.dump(2);
  EXPECT_EQ(st["remote"]["fallbacks"], 0);
  EXPECT_EQ(st["remote"]["remotes"][0]["inputs"], m.n);
  EXPECT_EQ(st["models_loaded"], 0);  // the mount itself never loaded the model
  json ss = json::parse(HttpGet(serve->api() + "/embeddings/stats"), nullptr, false);
  ASSERT_TRUE(ss.is_object());
  EXPECT_EQ(ss["service"]["jobs_done"], 1) << ss.dump(2);
  EXPECT_EQ(ss["service"]["inputs_done"], m.n);
  // .jsonl carries the remote's token counts.
  std::string jsonl = ReadAll(mnt_ + "/infer/" + m.cid + "/job1.jsonl");
  auto first = json::parse(jsonl.substr(0, jsonl.find('\n')));
  EXPECT_GT(first["tokens"].get<int>(), 2);

  // kill -9 the server: the next job runs here, within the connect failure's time.
  serve->Stop(SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  auto fallback = RunJob(m, "job2");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  EXPECT_LE(MaxErr(fallback, local), 1e-6f);
  st = MountStats()["infer"];
  EXPECT_EQ(st["remote"]["jobs_remote"], 1) << st.dump(2);
  EXPECT_EQ(st["remote"]["jobs_local"], 1);
  EXPECT_EQ(st["remote"]["fallbacks"], 1);
  EXPECT_EQ(st["remote"]["remotes"][0]["failures"], 1);
  EXPECT_EQ(st["remote"]["remotes"][0]["down"], true);
  EXPECT_EQ(st["models_loaded"], 1);
}

TEST_F(EmbeddingsMount, GarbageAndHangingRemotesFallBackInBoundedTime) {
  Model m = MakeModel("m", "--seed 43 --sentences 10");
  FakeHttpServer garbage([](const FakeRequest&) {
    FakeResponse r;
    r.content_type = "application/json";
    r.body = R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"x"})";
    return r;
  });
  FakeHttpServer hang([](const FakeRequest&) {
    FakeResponse r;
    r.mode = FakeResponse::Mode::kHang;
    return r;
  });
  {
    std::ofstream(repo_ + "/config.json") << json{{"infer",
                                                   {{"remote", {garbage.url(), hang.url()}},
                                                    {"remote_timeout_ms", 1500},
                                                    {"remote_backoff_ms", 600000}}}}
                                                 .dump();
  }
  Mount();
  auto t0 = std::chrono::steady_clock::now();
  auto got = RunJob(m, "job1");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LE(MaxErr(got, m.expected), 1e-4f);
  EXPECT_GE(took, 1400ms);  // it waited for the hanging remote's timeout, no more
  EXPECT_LT(took, 30s);
  EXPECT_EQ(garbage.requests(), 1);
  EXPECT_EQ(hang.requests(), 1);
  json st = MountStats()["infer"]["remote"];
  EXPECT_EQ(st["fallbacks"], 1) << st.dump(2);
  EXPECT_EQ(st["remotes"][0]["failures"], 1);
  EXPECT_NE(st["remotes"][0]["last_error"].get<std::string>().find("embeddings for"), std::string::npos) << st.dump(2);
  EXPECT_EQ(st["remotes"][1]["failures"], 1);
  // Both are down now: the next job does not wait for them.
  t0 = std::chrono::steady_clock::now();
  got = RunJob(m, "job2");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1400ms);
  EXPECT_LE(MaxErr(got, m.expected), 1e-4f);
  EXPECT_EQ(garbage.requests() + hang.requests(), 2);
  EXPECT_EQ(MountStats()["infer"]["remote"]["fallbacks"], 2);
}

}  // namespace
}  // namespace ipfskit::testing
