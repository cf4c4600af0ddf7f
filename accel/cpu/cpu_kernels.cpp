#include "accel/cpu/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#define IPFSKIT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace ipfskit::accel::cpu {

// The rational approximation Eigen and XLA use for float erf (generic_fast_erf_float).
// The clamp is written as max/min (vmaxps/vminps): as nested conditionals GCC turned it into
// branches in the AVX2 clone, which then ran scalar (the AVX-512 one used masks).
static inline float ErfApprox(float x) {
  x = std::min(std::max(x, -4.f), 4.f);
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  p = p * x;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return p / q;
}

float FastErf(float x) { return ErfApprox(x); }

IPFSKIT_CLONES void BiasGelu(float* y, const float* bias, int n) {
  for (int i = 0; i < n; i++) {
    float v = y[i] + bias[i];
    y[i] = 0.5f * v * (1.f + ErfApprox(v * 0.70710678118654752f));
  }
}

IPFSKIT_CLONES void Gelu(float* y, int n) {
  for (int i = 0; i < n; i++) y[i] = 0.5f * y[i] * (1.f + ErfApprox(y[i] * 0.70710678118654752f));
}

IPFSKIT_CLONES void BiasAdd(float* y, const float* bias, int n) {
  for (int i = 0; i < n; i++) y[i] += bias[i];
}

// Reductions run in 16 lanes: GCC vectorises element-wise lanes without -ffast-math, but not a
// single scalar accumulator (that would reorder float additions). The lanes change the order of
// the additions, not their precision.
static inline float Sum16(const float* lanes) {
  float s = 0;
  for (int j = 0; j < 16; j++) s += lanes[j];
  return s;
}

IPFSKIT_CLONES void AddLayerNormRow(float* x, const float* r, const float* gamma,
                                    const float* beta, float eps, int n) {
  if (r)
    for (int i = 0; i < n; i++) x[i] += r[i];
  float acc[16] = {};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += x[i + j];
  float sum = Sum16(acc);
  for (; i < n; i++) sum += x[i];
  const float mean = sum / n;
  float vacc[16] = {};
  for (i = 0; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) {
      const float d = x[i + j] - mean;
      vacc[j] += d * d;
    }
  float var = Sum16(vacc);
  for (; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
  const float inv = 1.f / std::sqrt(var / n + eps);
  for (i = 0; i < n; i++) x[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

// exp for x <= 0 (softmax's shifted inputs): x = k·ln2 + f, |f| <= ln2/2, e^f by its degree-6
// Taylor polynomial (relative error < 2e-7), 2^k through the exponent bits. Below -87 it is 0.
static inline float ExpNonPositive(float x) {
  x = x < -87.f ? -87.f : x;
  const float k = std::nearbyint(x * 1.44269504088896341f);
  const float f = x - k * 0.693145751953125f - k * 1.42860682030941723212e-6f;
  float p = 1.f / 720;
  p = p * f + 1.f / 120;
  p = p * f + 1.f / 24;
  p = p * f + 1.f / 6;
  p = p * f + 0.5f;
  p = p * f + 1.f;
  p = p * f + 1.f;
  const int32_t e = (int32_t(k) + 127) << 23;
  float two_k;
  std::memcpy(&two_k, &e, 4);
  return p * two_k;
}

float FastExpNonPositive(float x) { return ExpNonPositive(x); }

IPFSKIT_CLONES void SoftmaxRow(float* x, float scale, int n) {
  float mx[16];
  for (int j = 0; j < 16; j++) mx[j] = -INFINITY;
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) mx[j] = x[i + j] > mx[j] ? x[i + j] : mx[j];
  float m = -INFINITY;
  for (int j = 0; j < 16; j++) m = mx[j] > m ? mx[j] : m;
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  float acc[16] = {};
  for (i = 0; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) {
      x[i + j] = ExpNonPositive((x[i + j] - m) * scale);
      acc[j] += x[i + j];
    }
  float sum = Sum16(acc);
  for (; i < n; i++) {
    x[i] = ExpNonPositive((x[i] - m) * scale);
    sum += x[i];
  }
  const float inv = 1.f / sum;
  for (i = 0; i < n; i++) x[i] *= inv;
}

IPFSKIT_CLONES void QuantizeRowU8(const float* x, int n, uint8_t* q, float* scale, int32_t* zero) {
  // 16 lanes of running min and max: element-wise selects vectorise without -ffast-math, a
  // scalar min/max reduction does not.
  float lo16[16] = {}, hi16[16] = {};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) {
      lo16[j] = x[i + j] < lo16[j] ? x[i + j] : lo16[j];
      hi16[j] = x[i + j] > hi16[j] ? x[i + j] : hi16[j];
    }
  float lo = 0, hi = 0;
  for (int j = 0; j < 16; j++) {
    lo = lo16[j] < lo ? lo16[j] : lo;
    hi = hi16[j] > hi ? hi16[j] : hi;
  }
  for (; i < n; i++) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  const float s = hi > lo ? (hi - lo) / 255.f : 1.f;
  const float inv = 1.f / s;
  // The zero point is an integer so that 0 is exact (padding, ReLU-like outputs).
  const int32_t z = int32_t(std::nearbyint(-lo * inv));
  const float zf = float(z);
  for (i = 0; i < n; i++) {
    float v = x[i] * inv + zf;
    v = v < 0.f ? 0.f : (v > 255.f ? 255.f : v);
    q[i] = uint8_t(v + 0.5f);
  }
  *scale = s;
  *zero = z;
}

IPFSKIT_CLONES void DequantizeRow(const int32_t* acc, int n, float s, int32_t z,
                                  const float* wscale, const float* wsum, float* y) {
  const float sz = s * float(z);
  for (int i = 0; i < n; i++) y[i] = s * (float(acc[i]) * wscale[i]) - sz * wsum[i];
}

IPFSKIT_CLONES void ToBf16(const float* x, uint16_t* y, int n) {
  for (int i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    y[i] = uint16_t(nan ? (u >> 16) | 0x40u : r);
  }
}

}  // namespace ipfskit::accel::cpu
