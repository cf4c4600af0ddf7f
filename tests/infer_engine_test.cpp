// InferenceEngine: concurrent jobs get their own correct results (checked against PyTorch and
// against unbatched runs), limits give clear errors, models are evicted LRU, bad model folders
// are clear errors, and the .npy/.jsonl renderings read back in NumPy.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "accel/backends.h"
#include "core/infer/engine.h"
#include "core/infer/safetensors.h"
#include "tests/support/paths.h"

namespace ipfskit::infer {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct RefModel {
  std::string dir;
  std::vector<std::string> inputs;
  std::vector<float> expected;
  int dim = 0;
  json meta;
};

RefModel MakeModel(const std::string& flags) {
  RefModel r;
  r.dir = ipfskit::testing::MakeTempDir("engine_model");
  std::string cmd = "/usr/bin/python3 " + ipfskit::testing::SourceDir() +
                    "/tests/py/make_bert.py --out " + r.dir + " " + flags + " 2>/dev/null";
  EXPECT_EQ(ipfskit::testing::RunCommand(cmd), 0) << cmd;
  std::istringstream in(ReadFile(r.dir + "/inputs.txt"));
  for (std::string line; std::getline(in, line);) r.inputs.push_back(line);
  std::string e = ReadFile(r.dir + "/expected.f32");
  r.expected.resize(e.size() / 4);
  std::memcpy(r.expected.data(), e.data(), e.size());
  r.meta = json::parse(ReadFile(r.dir + "/expected.json"));
  r.dim = r.meta["dim"];
  return r;
}

ModelLoader DirLoader(std::map<std::string, std::string> dirs, std::atomic<int>* loads = nullptr) {
  return [dirs, loads](const std::string& key) -> Result<std::shared_ptr<const BertModel>> {
    if (loads) (*loads)++;
    auto it = dirs.find(key);
    if (it == dirs.end()) return MakeError(Errc::kNotFound, "no model " + key);
    DirectoryModelFiles files(it->second);
    return LoadBertModel(files);
  };
}

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    mean_ = new RefModel(MakeModel("--pooling mean --sentences 120 --max-seq-length 40 --seed 21"));
    cls_ = new RefModel(MakeModel("--pooling cls --sentences 30 --hidden 96 --heads 3 --seed 22"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(mean_->dir);
    fs::remove_all(cls_->dir);
    delete mean_;
    delete cls_;
  }
  static RefModel* mean_;
  static RefModel* cls_;
};
RefModel* EngineTest::mean_ = nullptr;
RefModel* EngineTest::cls_ = nullptr;

float MaxErr(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST_F(EngineTest, ConcurrentJobsGetTheirOwnResults) {
  EngineLimits limits;
  limits.batch_token_budget = 300;  // many batches, each mixing jobs
  InferenceEngine engine(accel::MakeCpuBackend(), DirLoader({{"mean", mean_->dir}, {"cls", cls_->dir}}),
                         limits);
  constexpr int kThreads = 8, kJobsPerThread = 6;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kJobsPerThread; k++) {
        const RefModel& ref = (t + k) % 3 == 0 ? *cls_ : *mean_;
        std::string key = &ref == cls_ ? "cls" : "mean";
        // A different slice of the inputs for every job, in a rotated order.
        std::vector<size_t> idx;
        for (size_t i = (t * 7 + k) % ref.inputs.size(), n = 0; n < 5 + size_t(t + k) % 17;
             n++, i = (i + 3 + t) % ref.inputs.size())
          idx.push_back(i);
        std::vector<std::string> inputs;
        for (size_t i : idx) inputs.push_back(ref.inputs[i]);
        auto r = engine.Submit(key, inputs).get();
        if (!r.ok()) {
          ADD_FAILURE() << r.error().message;
          failures++;
          continue;
        }
        EXPECT_EQ(r->size(), idx.size());
        EXPECT_EQ(r->dim, ref.dim);
        for (size_t n = 0; n < idx.size(); n++) {
          float err = MaxErr(r->embeddings.data() + n * ref.dim,
                             ref.expected.data() + idx[n] * ref.dim, ref.dim);
          if (err > 1e-5f) {
            ADD_FAILURE() << key << " thread " << t << " job " << k << " input " << idx[n]
                          << " err " << err;
            failures++;
          }
          EXPECT_EQ(r->token_counts[n], ref.meta["tokens"][idx[n]].get<int>());
          EXPECT_EQ(bool(r->truncated[n]), ref.meta["truncated"][idx[n]].get<bool>());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto s = engine.stats();
  EXPECT_EQ(s.jobs_done, uint64_t(kThreads * kJobsPerThread));
  EXPECT_EQ(s.jobs_in_flight, 0u);
  EXPECT_LT(s.batches, s.inputs_done);  // inputs were batched together
}

TEST_F(EngineTest, ModelInfoAndTruncationFlag) {
  InferenceEngine engine(accel::MakeCpuBackend(), DirLoader({{"m", mean_->dir}}));
  auto info = engine.GetModel("m");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->hidden_size, 64);
  EXPECT_EQ(info->max_seq_length, 40u);
  EXPECT_EQ(info->pooling, "mean");
  EXPECT_TRUE(info->normalize);
  auto j = json::parse(info->ToJson());
  EXPECT_EQ(j["dim"], 64);
  EXPECT_EQ(j["backend"].get<std::string>().rfind("cpu", 0), 0u);
  std::string longest;
  for (auto& s : mean_->inputs) longest += s + " ";
  auto r = engine.Submit("m", {longest, "", "short"}).get();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->truncated[0]);
  EXPECT_EQ(r->token_counts[0], 40);
  EXPECT_FALSE(r->truncated[1]);
  EXPECT_EQ(r->token_counts[1], 2);  // an empty line is [CLS] [SEP]
}

TEST_F(EngineTest, LimitsGiveClearErrors) {
  EngineLimits limits;
  limits.max_input_bytes = 100;
  limits.max_job_bytes = 1000;
  limits.max_jobs_in_flight = 1;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto loader = [&, base = DirLoader({{"m", mean_->dir}, {"slow", mean_->dir}})](
                    const std::string& key) -> Result<std::shared_ptr<const BertModel>> {
    if (key == "slow") released.wait();
    return base(key);
  };
  InferenceEngine engine(accel::MakeCpuBackend(), loader, limits);
  auto e1 = engine.Submit("m", {std::string(101, 'a')}).get();
  ASSERT_FALSE(e1.ok());
  EXPECT_EQ(e1.error().code, Errc::kInvalidArgument);
  EXPECT_NE(e1.error().message.find("limit is 100"), std::string::npos) << e1.error().message;
  auto e2 = engine.Submit("m", std::vector<std::string>(20, std::string(60, 'a'))).get();
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message.find("limit is 1000"), std::string::npos) << e2.error().message;
  // One job holds the only slot while its model loads; the next is refused.
  auto slow = std::async(std::launch::async, [&] { return engine.Submit("slow", {"a"}).get(); });
  while (engine.stats().jobs_in_flight == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto e3 = engine.Submit("m", {"a"}).get();
  ASSERT_FALSE(e3.ok());
  EXPECT_EQ(e3.error().code, Errc::kNoSpace);
  EXPECT_NE(e3.error().message.find("in flight"), std::string::npos);
  release.set_value();
  EXPECT_TRUE(slow.get().ok());
  EXPECT_TRUE(engine.Submit("m", {"a"}).get().ok());
  auto e4 = engine.Submit("nope", {"a"}).get();
  ASSERT_FALSE(e4.ok());
  EXPECT_EQ(e4.error().code, Errc::kNotFound);
}

TEST_F(EngineTest, ModelsEvictedLeastRecentlyUsed) {
  EngineLimits limits;
  limits.model_memory_bytes = 1;  // room for the most recent model only
  std::atomic<int> loads{0};
  InferenceEngine engine(accel::MakeCpuBackend(),
                         DirLoader({{"a", mean_->dir}, {"b", cls_->dir}}, &loads), limits);
  ASSERT_TRUE(engine.Submit("a", {"x"}).get().ok());
  ASSERT_TRUE(engine.Submit("a", {"y"}).get().ok());
  EXPECT_EQ(loads.load(), 1);
  ASSERT_TRUE(engine.Submit("b", {"x"}).get().ok());
  EXPECT_EQ(loads.load(), 2);
  EXPECT_EQ(engine.stats().models_resident, 1u);
  EXPECT_EQ(engine.stats().models_evicted, 1u);
  auto r = engine.Submit("a", {mean_->inputs[0]}).get();  // reloaded, still correct
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(loads.load(), 3);
  EXPECT_LE(MaxErr(r->embeddings.data(), mean_->expected.data(), mean_->dim), 1e-5f);
}

TEST(JobInput, LinesAndJsonLines) {
  EngineLimits limits;
  auto r = ParseJobInput("one\r\n{\"text\": \"two\", \"id\": 7}\n\n{not json\nlast", limits);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"one", "two", "", "{not json", "last"}));
  EXPECT_EQ(ParseJobInput("a\nb\n", limits)->size(), 2u);
  EXPECT_EQ(ParseJobInput("", limits)->size(), 0u);
  auto bad = ParseJobInput("ok\n{\"txt\": 1}\n", limits);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("line 2"), std::string::npos);
  limits.max_input_bytes = 3;
  auto longline = ParseJobInput("abc\nabcd\n", limits);
  ASSERT_FALSE(longline.ok());
  EXPECT_NE(longline.error().message.find("line 2 is 4 bytes"), std::string::npos);
}

TEST(Render, NpyAndJsonlReadBackInNumPy) {
  EmbeddingResult r;
  r.dim = 3;
  r.embeddings = {1.5f, -2.25f, 3.0e-8f, 0.1f, 1e30f, -0.f};
  r.token_counts = {5, 7};
  r.truncated = {0, 1};
  std::string dir = ipfskit::testing::MakeTempDir("render");
  Bytes npy = RenderNpy(r);
  EXPECT_EQ((npy.size() - r.embeddings.size() * 4) % 64, 0u);
  std::ofstream(dir + "/x.npy", std::ios::binary).write(reinterpret_cast<char*>(npy.data()), npy.size());
  std::string jl = RenderJsonl(r);
  std::ofstream(dir + "/x.jsonl") << jl;
  std::string out;
  std::string cmd = "/usr/bin/python3 -c \"import numpy as np, json; a = np.load('" + dir +
                    "/x.npy'); print(a.dtype, a.shape, ' '.join(repr(float(v)) for v in a.ravel())); "
                    "rows = [json.loads(l) for l in open('" + dir + "/x.jsonl')]; "
                    "print(all(np.float32(rows[i]['embedding']).tolist() == a[i].tolist() for i in range(2)), "
                    "[r['tokens'] for r in rows], [r['truncated'] for r in rows], [r['index'] for r in rows])\"";
  ASSERT_EQ(ipfskit::testing::RunCommand(cmd, &out), 0);
  EXPECT_EQ(out,
            "float32 (2, 3) 1.5 -2.25 2.999999892949745e-08 0.10000000149011612 1.0000000150474662e+30 -0.0\n"
            "True [5, 7] [False, True] [0, 1]\n");
  fs::remove_all(dir);
}

// Bad model folders: each is a clear error from the engine, never a crash.
class BadModelTest : public EngineTest {
 protected:
  std::string Copy() {
    std::string d = ipfskit::testing::MakeTempDir("bad_model");
    fs::copy(mean_->dir, d, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    return d;
  }
  Error Fail(const std::string& dir) {
    InferenceEngine engine(accel::MakeCpuBackend(), DirLoader({{"bad", dir}}));
    auto r = engine.Submit("bad", {"hello"}).get();
    EXPECT_FALSE(r.ok());
    fs::remove_all(dir);
    return r.ok() ? Error{Errc::kInternal, ""} : r.error();
  }
  // Rewrites model.safetensors with `edit` applied to its JSON header.
  void EditHeader(const std::string& dir, const std::function<void(json&)>& edit) {
    std::string f = ReadFile(dir + "/model.safetensors");
    uint64_t n;
    std::memcpy(&n, f.data(), 8);
    json h = json::parse(f.substr(8, n));
    edit(h);
    std::string hs = h.dump();
    uint64_t m = hs.size();
    std::string out(reinterpret_cast<char*>(&m), 8);
    out += hs + f.substr(8 + n);
    std::ofstream(dir + "/model.safetensors", std::ios::binary) << out;
  }
};

TEST_F(BadModelTest, MissingTensor) {
  std::string d = Copy();
  EditHeader(d, [](json& h) {
    // Rename so the layout stays valid and only the name is missing.
    h["encoder.layer.1.output.dense.weightX"] = h["encoder.layer.1.output.dense.weight"];
    h.erase("encoder.layer.1.output.dense.weight");
  });
  Error e = Fail(d);
  EXPECT_EQ(e.code, Errc::kNotFound);
  EXPECT_NE(e.message.find("missing tensor 'encoder.layer.1.output.dense.weight'"), std::string::npos)
      << e.message;
}

TEST_F(BadModelTest, WrongShape) {
  std::string d = Copy();
  std::ifstream in(d + "/config.json");
  json c = json::parse(in);
  c["intermediate_size"] = 64;  // the tensors say 128
  std::ofstream(d + "/config.json") << c.dump();
  Error e = Fail(d);
  EXPECT_EQ(e.code, Errc::kMalformed);
  EXPECT_NE(e.message.find("has shape [128,64], config.json implies [64,64]"), std::string::npos)
      << e.message;
}

TEST_F(BadModelTest, BadSafetensorsHeader) {
  std::string d = Copy();
  EditHeader(d, [](json& h) { h["embeddings.LayerNorm.weight"]["data_offsets"][1] = 1; });
  Error e = Fail(d);
  EXPECT_EQ(e.code, Errc::kMalformed);
  EXPECT_NE(e.message.find("safetensors"), std::string::npos) << e.message;
  d = Copy();
  std::ofstream(d + "/model.safetensors", std::ios::binary) << std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
  e = Fail(d);
  EXPECT_NE(e.message.find("header length"), std::string::npos) << e.message;
  d = Copy();
  fs::resize_file(d + "/model.safetensors", fs::file_size(d + "/model.safetensors") - 3);
  e = Fail(d);
  EXPECT_NE(e.message.find("data buffer"), std::string::npos) << e.message;
}

TEST_F(BadModelTest, UnknownArchitectureAndActivation) {
  std::string d = Copy();
  json c = json::parse(ReadFile(d + "/config.json"));
  c["model_type"] = "roberta";
  std::ofstream(d + "/config.json") << c.dump();
  Error e = Fail(d);
  EXPECT_EQ(e.code, Errc::kUnsupported);
  EXPECT_NE(e.message.find("architecture 'roberta'"), std::string::npos) << e.message;
  d = Copy();
  c["model_type"] = "bert";
  c["hidden_act"] = "gelu_new";
  std::ofstream(d + "/config.json") << c.dump();
  e = Fail(d);
  EXPECT_NE(e.message.find("hidden_act 'gelu_new'"), std::string::npos) << e.message;
}

TEST_F(BadModelTest, MissingAndCorruptFiles) {
  std::string d = Copy();
  fs::remove(d + "/tokenizer.json");
  EXPECT_NE(Fail(d).message.find("neither tokenizer.json nor vocab.txt"), std::string::npos);
  d = Copy();
  fs::remove(d + "/model.safetensors");
  EXPECT_EQ(Fail(d).code, Errc::kNotFound);
  d = Copy();
  std::ofstream(d + "/config.json") << "{\"model_type\": ";
  EXPECT_NE(Fail(d).message.find("config.json: not valid JSON"), std::string::npos);
  d = Copy();
  std::ofstream(d + "/1_Pooling/config.json") << "{\"pooling_mode_lasttoken\": true}";
  EXPECT_EQ(Fail(d).code, Errc::kUnsupported);
  d = Copy();
  std::ofstream(d + "/modules.json") << "[{\"path\": \"../../etc\", \"type\": \"sentence_transformers.models.Transformer\"}]";
  EXPECT_EQ(Fail(d).code, Errc::kMalformed);
}

}  // namespace
}  // namespace ipfskit::infer
