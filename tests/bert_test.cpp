// End to end against PyTorch: tests/py/make_bert.py builds a random BERT from torch's own layers,
// writes it as a sentence-transformers folder and the embeddings torch computes; we load the
// folder, tokenise the same text and must agree within 1e-4 (FP32).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "accel/backends.h"
#include "core/infer/bert_forward.h"
#include "core/infer/bert_model.h"
#include "core/infer/safetensors.h"
#include "tests/support/paths.h"

namespace ipfskit::infer {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Reference {
  std::string dir;
  std::vector<std::string> inputs;
  std::vector<float> expected;
  nlohmann::json meta;
};

Reference MakeModel(const std::string& name, const std::string& flags) {
  Reference r;
  r.dir = ipfskit::testing::MakeTempDir("bert_" + name);
  std::string cmd = "/usr/bin/python3 " + ipfskit::testing::SourceDir() +
                    "/tests/py/make_bert.py --out " + r.dir + " " + flags + " 2>/dev/null";
  EXPECT_EQ(ipfskit::testing::RunCommand(cmd), 0) << cmd;
  std::istringstream in(ReadFile(r.dir + "/inputs.txt"));
  for (std::string line; std::getline(in, line);) r.inputs.push_back(line);
  std::string e = ReadFile(r.dir + "/expected.f32");
  r.expected.resize(e.size() / 4);
  std::memcpy(r.expected.data(), e.data(), e.size());
  r.meta = nlohmann::json::parse(ReadFile(r.dir + "/expected.json"));
  return r;
}

// Tokenises and runs all inputs in one ragged batch; returns N×D.
std::vector<float> Embed(const BertModel& m, BertRunner& runner,
                         const std::vector<std::string>& inputs, std::vector<Encoding>* encs) {
  for (auto& s : inputs) encs->push_back(m.tokenizer.Encode(s, m.max_seq_length));
  std::vector<std::span<const int32_t>> seqs;
  for (auto& e : *encs) seqs.emplace_back(e.ids);
  std::vector<float> out(inputs.size() * m.output_dim());
  Status st = runner.Run(seqs, out.data());
  EXPECT_TRUE(st.ok()) << st.error().message;
  return out;
}

// The backend for a precision (IPFSKIT_CPU_PRECISION), or null when this CPU cannot run it.
std::shared_ptr<Backend> CpuBackendFor(const char* precision) {
  ::setenv("IPFSKIT_CPU_PRECISION", precision, 1);
  auto b = accel::MakeCpuBackend();
  ::unsetenv("IPFSKIT_CPU_PRECISION");
  return b->precision() == precision ? b : nullptr;
}

// Reduced precisions against torch's FP32 embeddings: every sentence's cosine similarity must
// reach min_cos. Returns the worst one.
double CosineVsTorch(const std::string& name, const std::string& flags, const char* precision,
                     double min_cos) {
  Reference ref = MakeModel(name, flags);
  DirectoryModelFiles files(ref.dir);
  auto model = LoadBertModel(files);
  EXPECT_TRUE(model.ok()) << model.error().message;
  if (!model.ok()) return 0;
  const BertModel& m = **model;
  auto runner = BertRunner::Create(CpuBackendFor(precision), *model);
  EXPECT_TRUE(runner.ok()) << runner.error().message;
  if (!runner.ok()) return 0;
  std::vector<Encoding> encs;
  std::vector<float> got = Embed(m, **runner, ref.inputs, &encs);
  const int n = ref.meta["n"], dim = ref.meta["dim"];
  double worst = 1, max_err = 0;
  for (int i = 0; i < n; i++) {
    double dot = 0, a2 = 0, b2 = 0;
    for (int j = 0; j < dim; j++) {
      const double a = got[size_t(i) * dim + j], b = ref.expected[size_t(i) * dim + j];
      dot += a * b;
      a2 += a * a;
      b2 += b * b;
      max_err = std::max(max_err, std::fabs(a - b));
    }
    const double cos = dot / std::sqrt(std::max(a2 * b2, 1e-300));
    EXPECT_GE(cos, min_cos) << name << " " << precision << ": sentence " << i;
    worst = std::min(worst, cos);
  }
  std::printf("%s %s: worst cosine vs PyTorch FP32 %.6f, max abs error %.3g\n", name.c_str(),
              precision, worst, max_err);
  fs::remove_all(ref.dir);
  return worst;
}

// The issue asks for 1e-4; we hold 1e-5, tight enough that the tanh GELU approximation fails.
void CompareWithTorch(const std::string& name, const std::string& flags, float tol = 1e-5f) {
  Reference ref = MakeModel(name, flags);
  DirectoryModelFiles files(ref.dir);
  auto model = LoadBertModel(files);
  ASSERT_TRUE(model.ok()) << model.error().message;
  const BertModel& m = **model;
  int n = ref.meta["n"], dim = ref.meta["dim"];
  ASSERT_EQ(m.output_dim(), dim);
  ASSERT_EQ(ref.inputs.size(), size_t(n));
  auto runner = BertRunner::Create(accel::MakeCpuBackend(), *model);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  std::vector<Encoding> encs;
  std::vector<float> got = Embed(m, **runner, ref.inputs, &encs);
  float max_err = 0;
  for (size_t i = 0; i < got.size(); i++) max_err = std::max(max_err, std::fabs(got[i] - ref.expected[i]));
  EXPECT_LE(max_err, tol) << name << ": max abs error vs PyTorch";
  std::printf("%s: max abs error vs PyTorch %.3g\n", name.c_str(), max_err);
  for (int i = 0; i < n; i++) {
    EXPECT_EQ(encs[i].ids.size(), ref.meta["tokens"][i].get<size_t>()) << name << " input " << i;
    EXPECT_EQ(encs[i].truncated, ref.meta["truncated"][i].get<bool>()) << name << " input " << i;
  }
  // The reference itself must not be degenerate: rows differ from each other.
  float spread = 0;
  for (int j = 0; j < dim; j++) spread += std::fabs(ref.expected[j] - ref.expected[dim + j]);
  EXPECT_GT(spread, 1e-2f);
  fs::remove_all(ref.dir);
}

TEST(BertVsTorch, MeanPoolingNormalized) { CompareWithTorch("mean", "--pooling mean --seed 1"); }
TEST(BertVsTorch, ClsPoolingNormalized) { CompareWithTorch("cls", "--pooling cls --seed 2"); }
TEST(BertVsTorch, MaxAndMeanSqrtLenConcatenated) {
  CompareWithTorch("max", "--pooling max+mean_sqrt_len --normalize 0 --seed 3");
}
TEST(BertVsTorch, ClsPlusMeanUnnormalized) {
  CompareWithTorch("clsmean", "--pooling cls+mean --normalize 0 --seed 4");
}
TEST(BertVsTorch, HeadDim32And64) {
  CompareWithTorch("hd32", "--hidden 96 --heads 3 --inter 192 --seed 5");
  CompareWithTorch("hd64", "--hidden 128 --heads 2 --inter 256 --layers 3 --seed 6");
}
TEST(BertVsTorch, Float16AndBFloat16Weights) {
  CompareWithTorch("f16", "--dtype F16 --seed 7");
  CompareWithTorch("bf16", "--dtype BF16 --seed 8");
}
TEST(BertVsTorch, NameVariantsAndVocabTxt) {
  CompareWithTorch("prefix", "--names bert_prefix --tokenizer vocab --seed 9");
  CompareWithTorch("gamma", "--names gamma_beta --seed 10");
}
// One short query (a /infer job of one line): too few rows to share out by row blocks, so each
// layer's output columns are split between the threads (with the packed small-GEMM kernel on
// AVX2 CPUs: at most 64 rows; IPFSKIT_CPU_SMALL_GEMM=0 gives sgemm on column chunks).
TEST(BertVsTorch, ShortJobSplitsColumns) {
  CompareWithTorch("short1", "--hidden 384 --heads 12 --inter 1536 --sentences 2 --min-words 5 "
                             "--max-words 11 --seed 12");
  CompareWithTorch("short3", "--hidden 384 --heads 12 --inter 1536 --sentences 3 --min-words 1 "
                             "--max-words 20 --seed 13");
}
TEST(BertVsTorch, LongSequencesUpToPositionLimit) {
  CompareWithTorch("long", "--max-pos 300 --max-seq-length 512 --min-words 200 --max-words 298 "
                           "--sentences 6 --seed 11");
}

// bf16 and int8 linear layers (IPFSKIT_CPU_PRECISION): cosine ≥ 0.999 with torch's FP32 on every
// sentence, on MiniLM's shape (H 384, 12 heads, FFN 1536) and with the other poolings.
void CheckPrecision(const char* precision) {
  if (!CpuBackendFor(precision))
    GTEST_SKIP() << "this CPU cannot run " << precision << " (the backend fell back to fp32)";
  const std::string minilm = "--vocab 2000 --hidden 384 --heads 12 --inter 1536 --layers 6 "
                             "--max-pos 512 --max-seq-length 128 --sentences 48 --max-words 120";
  CosineVsTorch("minilm", minilm + " --seed 21", precision, 0.999);
  CosineVsTorch("mean", "--pooling mean --seed 22", precision, 0.999);
  CosineVsTorch("clsmax", "--pooling cls+max --normalize 0 --seed 23", precision, 0.999);
  // Fewer rows than threads have work for: the layers split their columns instead.
  CosineVsTorch("short", minilm + " --sentences 2 --min-words 3 --max-words 9 --seed 24", precision,
                0.999);
  // A reduced precision must not be the FP32 path under another name.
  auto b = CpuBackendFor(precision);
  ASSERT_TRUE(b);
  EXPECT_NE(b->Describe().find(precision), std::string::npos) << b->Describe();
}
TEST(BertVsTorch, Bf16WithinCosine0999) { CheckPrecision("bf16"); }
TEST(BertVsTorch, Int8WithinCosine0999) { CheckPrecision("int8"); }

TEST(CpuPrecision, UnknownNameFallsBackToFp32) {
  ::setenv("IPFSKIT_CPU_PRECISION", "fp8", 1);
  auto b = accel::MakeCpuBackend();
  ::unsetenv("IPFSKIT_CPU_PRECISION");
  EXPECT_EQ(b->precision(), "fp32");
  ::setenv("IPFSKIT_CPU_PRECISION", "fp32", 1);
  EXPECT_EQ(accel::MakeCpuBackend()->precision(), "fp32");
  ::unsetenv("IPFSKIT_CPU_PRECISION");
}

}  // namespace
}  // namespace ipfskit::infer
