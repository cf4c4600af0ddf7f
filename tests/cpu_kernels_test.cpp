// The CPU backend's row, quantisation and conversion kernels and its small GEMM, against their
// definitions.
#include "accel/cpu/cpu_kernels.h"
#include "accel/cpu/small_gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace ipfskit::accel::cpu {
namespace {

float FromBf16(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(QuantizeRowU8, RoundTripWithinHalfAStep) {
  std::mt19937 rng(1);
  for (float shift : {0.f, 3.f, -3.f}) {  // mixed signs, all positive, all negative
    std::normal_distribution<float> d(shift, 1.f);
    std::vector<float> x(1000);
    for (float& v : x) v = d(rng);
    std::vector<uint8_t> q(x.size());
    float s;
    int32_t z;
    QuantizeRowU8(x.data(), int(x.size()), q.data(), &s, &z);
    ASSERT_GT(s, 0.f);
    ASSERT_GE(z, 0);
    ASSERT_LE(z, 255);
    int lo = 255, hi = 0;
    for (size_t i = 0; i < x.size(); i++) {
      EXPECT_NEAR(s * (int(q[i]) - z), x[i], s * 0.51f) << i;
      lo = std::min(lo, int(q[i]));
      hi = std::max(hi, int(q[i]));
    }
    EXPECT_GE(hi - lo, 200) << "the range must use most of the 256 steps";
  }
}

TEST(QuantizeRowU8, ZeroIsExactAndAZeroRowIsZero) {
  std::vector<float> x = {0.f, 1.5f, -0.25f, 0.f, 7.f};
  std::vector<uint8_t> q(x.size());
  float s;
  int32_t z;
  QuantizeRowU8(x.data(), int(x.size()), q.data(), &s, &z);
  EXPECT_EQ(int(q[0]), z);
  EXPECT_EQ(int(q[3]), z);
  std::vector<float> zeros(64, 0.f);
  std::vector<uint8_t> qz(64, 9);
  QuantizeRowU8(zeros.data(), 64, qz.data(), &s, &z);
  EXPECT_EQ(s, 1.f);
  EXPECT_EQ(z, 0);
  for (uint8_t v : qz) EXPECT_EQ(v, 0);
}

TEST(DequantizeRow, MatchesTheFormula) {
  const int32_t acc[3] = {1000, -20, 0};
  const float wscale[3] = {0.5f, 2.f, 1.f}, wsum[3] = {10.f, -4.f, 3.f};
  float y[3];
  DequantizeRow(acc, 3, 0.25f, 7, wscale, wsum, y);
  for (int i = 0; i < 3; i++) EXPECT_FLOAT_EQ(y[i], 0.25f * (acc[i] * wscale[i] - 7 * wsum[i]));
}

TEST(ToBf16, RoundsToNearestEvenAndKeepsNaN) {
  auto bits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  const float in[] = {1.f, bits(0x3f808000u), bits(0x3f818000u), bits(0x3f808001u), -2.5f,
                      std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::quiet_NaN(), bits(0x7f800001u)};
  uint16_t out[8];
  ToBf16(in, out, 8);
  EXPECT_EQ(out[0], 0x3f80);  // exact
  EXPECT_EQ(out[1], 0x3f80);  // tie, to even
  EXPECT_EQ(out[2], 0x3f82);  // tie, to even (up)
  EXPECT_EQ(out[3], 0x3f81);  // above the tie
  EXPECT_EQ(FromBf16(out[4]), -2.5f);
  EXPECT_EQ(out[5], 0x7f80);
  EXPECT_TRUE(std::isnan(FromBf16(out[6])));
  EXPECT_TRUE(std::isnan(FromBf16(out[7])));  // a signalling NaN must not round to infinity
}

TEST(FastExpNonPositive, RelativeErrorBelow3e7) {
  double worst = 0;
  for (float x = -87.f; x <= 0.f; x += 0.001f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::fabs(FastExpNonPositive(x) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(FastExpNonPositive(0.f), 1.f);
  EXPECT_GE(FastExpNonPositive(-1000.f), 0.f);
  EXPECT_LT(FastExpNonPositive(-1000.f), 1e-37f);
}

TEST(BiasGelu, MatchesErfGeluInAndPastTheClamp) {
  // Odd lengths run the vector loop and its tail; values reach past erf's clamp at |x/sqrt2| = 4.
  for (int n : {1, 7, 9, 33, 1537}) {
    std::vector<float> y(n), bias(n), z(n);
    for (int i = 0; i < n; i++) {
      y[i] = -12.f + 24.f * float(i) / float(std::max(1, n - 1));
      bias[i] = 0.25f * float(i % 3) - 0.25f;
      z[i] = y[i] + bias[i];
    }
    std::vector<float> g = z;
    BiasGelu(y.data(), bias.data(), n);
    Gelu(g.data(), n);
    for (int i = 0; i < n; i++) {
      const double v = z[i], ref = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      EXPECT_NEAR(y[i], ref, 2e-6 * std::max(1.0, std::fabs(ref))) << n << " " << i << " x=" << v;
      EXPECT_EQ(g[i], y[i]) << n << " " << i;
    }
  }
}

TEST(SoftmaxRow, MatchesADoubleReference) {
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0, 4);
  for (int n : {1, 7, 16, 35, 129}) {
    std::vector<float> x(n);
    for (float& v : x) v = d(rng);
    std::vector<double> ref(n);
    double m = -1e300, sum = 0;
    for (float v : x) m = std::max(m, double(v));
    for (int i = 0; i < n; i++) sum += ref[i] = std::exp((x[i] - m) * 0.25);
    SoftmaxRow(x.data(), 0.25f, n);
    for (int i = 0; i < n; i++) EXPECT_NEAR(x[i], ref[i] / sum, 1e-6) << n << " " << i;
  }
}

TEST(AddLayerNormRow, MatchesADoubleReference) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(1, 3);
  for (int n : {5, 16, 384, 389}) {
    std::vector<float> x(n), r(n), g(n), b(n);
    for (int i = 0; i < n; i++) x[i] = d(rng), r[i] = d(rng), g[i] = d(rng), b[i] = d(rng);
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += double(x[i]) + r[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (double(x[i]) + r[i] - mean) * (double(x[i]) + r[i] - mean);
    var /= n;
    std::vector<double> want(n);
    for (int i = 0; i < n; i++) want[i] = (double(x[i]) + r[i] - mean) / std::sqrt(var + 1e-12) * g[i] + b[i];
    AddLayerNormRow(x.data(), r.data(), g.data(), b.data(), 1e-12f, n);
    for (int i = 0; i < n; i++) EXPECT_NEAR(x[i], want[i], 1e-4 * (1 + std::fabs(want[i]))) << n;
  }
}

// Every row count the tile split meets (1..40: chunks of 1-6 rows), a last panel that is partial
// (out = 40 = 2.5 panels) and panel ranges split as the backend splits them between threads,
// against a double-precision reference; then MiniLM's shapes.
TEST(SmallGemm, MatchesADoubleReference) {
  if (!SmallGemmAvailable()) GTEST_SKIP() << "no AVX2+FMA: the backend does not use this kernel here";
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0, 1);
  struct Shape {
    int out, in;
  };
  for (Shape sh : {Shape{40, 24}, Shape{1152, 384}, Shape{384, 1536}}) {
    std::vector<float> w(size_t(sh.out) * sh.in), x(size_t(40) * sh.in);
    for (auto& v : w) v = d(rng);
    for (auto& v : x) v = d(rng);
    std::vector<float> panels(PackedPanelFloats(sh.out, sh.in), -1.f);
    PackPanels(w.data(), sh.out, sh.in, panels.data());
    const int np = PanelCount(sh.out);
    for (int rows : {1, 2, 3, 5, 6, 7, 12, 13, 25, 32, 40}) {
      const int ldy = sh.out + 3;  // a row stride wider than out: nothing written past out
      std::vector<float> y(size_t(rows) * ldy, 12345.f);
      for (int t = 0; t < 3; t++)
        SmallGemm(x.data(), rows, sh.in, panels.data(), sh.out, np * t / 3, np * (t + 1) / 3, y.data(), ldy);
      for (int r = 0; r < rows; r++) {
        for (int c = 0; c < sh.out; c++) {
          double ref = 0, mag = 0;
          for (int k = 0; k < sh.in; k++) {
            ref += double(x[size_t(r) * sh.in + k]) * w[size_t(c) * sh.in + k];
            mag += std::abs(double(x[size_t(r) * sh.in + k]) * w[size_t(c) * sh.in + k]);
          }
          ASSERT_NEAR(y[size_t(r) * ldy + c], ref, 1e-6 * mag + 1e-6)
              << "out " << sh.out << " in " << sh.in << " rows " << rows << " r " << r << " c " << c;
        }
        for (int c = sh.out; c < ldy; c++) ASSERT_EQ(y[size_t(r) * ldy + c], 12345.f) << "wrote past out";
      }
    }
  }
}

}  // namespace
}  // namespace ipfskit::accel::cpu
