// CUDA backend: every operation against the CPU backend, then end to end against PyTorch.
// Goes through the ipfskit-cuda.so plugin like ipfskit does; skips (with the reason) where the
// plugin is not built or does not load, or no GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "accel/backends.h"
#include "core/infer/bert_forward.h"
#include "tests/support/paths.h"

namespace ipfskit::infer {
namespace {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!accel::CudaAvailable(&why)) GTEST_SKIP() << "CUDA backend not tested: " << why;
    auto b = accel::MakeCudaBackend({0, /*allow_tf32=*/false});
    ASSERT_TRUE(b.ok()) << b.error().message;
    gpu_ = *b;
    cpu_ = accel::MakeCpuBackend();
  }

  std::vector<float> Random(size_t n, float scale = 1.f) {
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng_);
    return v;
  }

  // Runs `op` on both backends with the same inputs; returns max abs difference of the output.
  template <typename Op>
  float Compare(const std::vector<std::vector<float>>& inputs, const std::vector<int32_t>& ints,
                size_t out_floats, Op op) {
    std::vector<float> outs[2];
    Backend* bs[2] = {cpu_.get(), gpu_.get()};
    for (int k = 0; k < 2; k++) {
      std::vector<BufferPtr> bufs;
      std::vector<float*> ptrs;
      for (auto& in : inputs) {
        bufs.push_back(bs[k]->Alloc(in.size() * 4).value());
        bs[k]->Upload(bufs.back()->data(), in.data(), in.size() * 4);
        ptrs.push_back(bufs.back()->as<float>());
      }
      auto ib = bs[k]->Alloc(std::max<size_t>(ints.size(), 1) * 4).value();
      bs[k]->Upload(ib->data(), ints.data(), ints.size() * 4);
      auto ob = bs[k]->Alloc(out_floats * 4).value();
      op(*bs[k], ptrs, ib->as<int32_t>(), ob->as<float>());
      outs[k].resize(out_floats);
      Status st = bs[k]->Download(outs[k].data(), ob->data(), out_floats * 4);
      EXPECT_TRUE(st.ok()) << st.error().message;
    }
    float m = 0;
    for (size_t i = 0; i < out_floats; i++) m = std::max(m, std::fabs(outs[0][i] - outs[1][i]));
    return m;
  }

  std::mt19937 rng_{7};
  std::shared_ptr<Backend> gpu_, cpu_;
};

TEST_F(CudaTest, LinearWithBiasAndGelu) {
  LinearWeights w{Random(96 * 64, 0.2f), Random(96), 96, 64};
  auto x = Random(37 * 64);
  for (Activation act : {Activation::kNone, Activation::kGelu}) {
    float err = Compare({x}, {}, 37 * 96, [&](Backend& b, auto& p, const int32_t*, float* out) {
      auto op = b.PrepareLinear(w);
      ASSERT_TRUE(op.ok());
      b.Linear(**op, p[0], 37, out, act);
      float probe;
      (void)b.Download(&probe, out, 4);  // keep op alive until the GPU is done with it
    });
    EXPECT_LE(err, 1e-4f);
  }
}

TEST_F(CudaTest, AddLayerNormAndEmbed) {
  const int H = 384, T = 50;
  auto x = Random(T * H, 3.f), r = Random(T * H), g = Random(H), be = Random(H);
  EXPECT_LE(Compare({x, r, g, be}, {}, T * H, [&](Backend& b, auto& p, const int32_t*, float* out) {
              b.Upload(out, x.data(), x.size() * 4);
              b.AddLayerNorm(out, p[1], p[2], p[3], 1e-12f, T, H);
            }),
            1e-4f);
  auto word = Random(100 * H), pos = Random(64 * H), type0 = Random(H);
  std::vector<int32_t> ids_pos;
  for (int t = 0; t < T; t++) ids_pos.push_back(int32_t(rng_() % 100));
  for (int t = 0; t < T; t++) ids_pos.push_back(t % 64);
  EXPECT_LE(Compare({word, pos, type0, g, be}, ids_pos, T * H,
                    [&](Backend& b, auto& p, const int32_t* ints, float* out) {
                      b.Embed(ints, ints + T, T, p[0], p[1], p[2], p[3], p[4], 1e-12f, H, out);
                    }),
            1e-4f);
}

TEST_F(CudaTest, AttentionHeadDim32And64Ragged) {
  for (int hd : {32, 64}) {
    const int heads = 384 / hd, H = 384;
    std::vector<int32_t> offs = {0, 1, 9, 72, 200, 203};  // lengths 1, 8, 63, 128, 3
    const int T = offs.back();
    auto qkv = Random(size_t(T) * 3 * H);
    float err = Compare({qkv}, offs, size_t(T) * H, [&](Backend& b, auto& p, const int32_t* o, float* out) {
      b.Attention(p[0], o, int(offs.size()) - 1, 128, heads, hd, out);
    });
    EXPECT_LE(err, 1e-4f) << "head_dim " << hd;
  }
}

TEST_F(CudaTest, PoolingModesAndNormalize) {
  const int H = 64;
  std::vector<int32_t> offs = {0, 1, 5, 40};
  auto h = Random(40 * H);
  for (PoolingConfig pc : {PoolingConfig{true, false, false, false}, PoolingConfig{false, false, true, false},
                           PoolingConfig{true, true, true, true}}) {
    for (bool norm : {false, true}) {
      float err = Compare({h}, offs, 3 * H * pc.modes(), [&](Backend& b, auto& p, const int32_t* o, float* out) {
        b.Pool(p[0], o, 3, H, pc, norm, out);
      });
      EXPECT_LE(err, 1e-5f) << pc.Describe() << " normalize " << norm;
    }
  }
}

TEST_F(CudaTest, EndToEndAgainstPyTorch) {
  std::string dir = ipfskit::testing::MakeTempDir("cuda_bert");
  std::string cmd = "/usr/bin/python3 " + ipfskit::testing::SourceDir() + "/tests/py/make_bert.py --out " +
                    dir + " --hidden 128 --heads 2 --inter 256 --layers 3 --sentences 60 2>/dev/null";
  ASSERT_EQ(ipfskit::testing::RunCommand(cmd), 0);
  DirectoryModelFiles files(dir);
  auto model = LoadBertModel(files);
  ASSERT_TRUE(model.ok()) << model.error().message;
  std::ifstream in(dir + "/inputs.txt"), ef(dir + "/expected.f32", std::ios::binary);
  std::vector<std::string> inputs;
  for (std::string l; std::getline(in, l);) inputs.push_back(l);
  std::vector<float> expected((*model)->output_dim() * inputs.size());
  ef.read(reinterpret_cast<char*>(expected.data()), expected.size() * 4);
  for (bool tf32 : {false, true}) {
    auto backend = accel::MakeCudaBackend({0, tf32});
    ASSERT_TRUE(backend.ok());
    auto runner = BertRunner::Create(*backend, *model);
    ASSERT_TRUE(runner.ok()) << runner.error().message;
    std::vector<Encoding> enc;
    std::vector<std::span<const int32_t>> seqs;
    for (auto& s : inputs) enc.push_back((*model)->tokenizer.Encode(s, (*model)->max_seq_length));
    for (auto& e : enc) seqs.emplace_back(e.ids);
    std::vector<float> out(expected.size());
    Status st = (*runner)->Run(seqs, out.data());
    ASSERT_TRUE(st.ok()) << st.error().message;
    float err = 0;
    for (size_t i = 0; i < out.size(); i++) err = std::max(err, std::fabs(out[i] - expected[i]));
    std::printf("cuda %s: max abs error vs PyTorch %.3g\n", tf32 ? "tf32" : "fp32", err);
    EXPECT_LE(err, tf32 ? 5e-3f : 1e-4f);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ipfskit::infer
