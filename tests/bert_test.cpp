// End to end against PyTorch: tests/py/make_bert.py builds a random BERT from torch's own layers,
// writes it as a sentence-transformers folder and the embeddings torch computes; we load the
// folder, tokenise the same text and must agree within 1e-4 (FP32).
#include <gtest/gtest.h>

#include <cmath>
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
TEST(BertVsTorch, LongSequencesUpToPositionLimit) {
  CompareWithTorch("long", "--max-pos 300 --max-seq-length 512 --min-words 200 --max-words 298 "
                           "--sentences 6 --seed 11");
}

}  // namespace
}  // namespace ipfskit::infer
