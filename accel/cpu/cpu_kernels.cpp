#include "accel/cpu/cpu_kernels.h"

#include <cmath>

#define IPFSKIT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace ipfskit::accel::cpu {

// The rational approximation Eigen and XLA use for float erf (generic_fast_erf_float).
static inline float ErfApprox(float x) {
  x = x < -4.f ? -4.f : (x > 4.f ? 4.f : x);
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

IPFSKIT_CLONES void BiasAdd(float* y, const float* bias, int n) {
  for (int i = 0; i < n; i++) y[i] += bias[i];
}

IPFSKIT_CLONES void AddLayerNormRow(float* x, const float* r, const float* gamma,
                                    const float* beta, float eps, int n) {
  if (r)
    for (int i = 0; i < n; i++) x[i] += r[i];
  float sum = 0;
  for (int i = 0; i < n; i++) sum += x[i];
  const float mean = sum / n;
  float var = 0;
  for (int i = 0; i < n; i++) {
    float d = x[i] - mean;
    var += d * d;
  }
  const float inv = 1.f / std::sqrt(var / n + eps);
  for (int i = 0; i < n; i++) x[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

IPFSKIT_CLONES void SoftmaxRow(float* x, float scale, int n) {
  float m = -INFINITY;
  for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  float sum = 0;
  for (int i = 0; i < n; i++) {
    x[i] = std::exp((x[i] - m) * scale);
    sum += x[i];
  }
  const float inv = 1.f / sum;
  for (int i = 0; i < n; i++) x[i] *= inv;
}

}  // namespace ipfskit::accel::cpu
