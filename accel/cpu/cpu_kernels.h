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
void Gelu(float* y, int n);
// x = LayerNorm(x + r) (r may be null), biased variance, as torch.nn.LayerNorm.
void AddLayerNormRow(float* x, const float* r, const float* gamma, const float* beta, float eps,
                     int n);
// e^x for x <= 0, relative error < 3e-7 (0 below -87), vectorisable; SoftmaxRow's exp.
float FastExpNonPositive(float x);
// In-place softmax of one row, scaled: softmax(scale · x).
void SoftmaxRow(float* x, float scale, int n);

// Asymmetric u8 quantisation of one row: x[i] ≈ *scale · (q[i] − *zero), with the row's range
// (widened to hold 0) mapped onto 0..255. An all-zero row gets scale 1, zero 0.
void QuantizeRowU8(const float* x, int n, uint8_t* q, float* scale, int32_t* zero);
// y[i] = s · (acc[i]·wscale[i] − z·wsum[i]), wsum[i] = wscale[i]·Σₖ w8[i,k]: one output row of a
// u8×s8 GEMM with the activation row's scale s and zero point z and per-channel weight scales.
void DequantizeRow(const int32_t* acc, int n, float s, int32_t z, const float* wscale,
                   const float* wsum, float* y);
// Round to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN.
void ToBf16(const float* x, uint16_t* y, int n);

}  // namespace ipfskit::accel::cpu
