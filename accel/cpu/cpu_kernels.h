// Row kernels of the CPU backend. Each is compiled for AVX-512, AVX2 and baseline x86-64 and
// picked at load time (GCC target_clones), so one binary package runs everywhere.
#pragma once

#include <cstdint>

namespace ipfskit::accel::cpu {

// erf to float precision (rational approximation, |error| < 2e-7 absolute), vectorisable.
float FastErf(float x);
// y[i] = gelu(y[i] + bias[i]), exact-erf GELU.
void BiasGelu(float* y, const float* bias, int n);
void BiasAdd(float* y, const float* bias, int n);
// x = LayerNorm(x + r) (r may be null), biased variance, as torch.nn.LayerNorm.
void AddLayerNormRow(float* x, const float* r, const float* gamma, const float* beta, float eps,
                     int n);
// In-place softmax of one row, scaled: softmax(scale · x).
void SoftmaxRow(float* x, float scale, int n);

}  // namespace ipfskit::accel::cpu
