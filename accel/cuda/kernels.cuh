// CUDA kernels of the inference backend, one .cu per kernel family, each with a host launcher
// that takes the stream. Every kernel is checked against the CPU backend (tests/infer_cuda_test.cpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ipfskit::accel::cuda {

// y[r, c] = act(y[r, c] + bias[c]) for a rows × cols row-major matrix; act = exact-erf GELU.
void LaunchBiasAct(float* y, const float* bias, int rows, int cols, bool gelu, cudaStream_t s);
// x = LayerNorm(x + residual) per row (residual may be null).
void LaunchAddLayerNorm(float* x, const float* residual, const float* gamma, const float* beta,
                        float eps, int rows, int hidden, cudaStream_t s);
// out[t] = LayerNorm(word[ids[t]] + pos[positions[t]] + type0).
void LaunchEmbed(const int32_t* ids, const int32_t* positions, int rows, const float* word,
                 const float* pos, const float* type0, const float* gamma, const float* beta,
                 float eps, int hidden, float* out, cudaStream_t s);
// Ragged self-attention, one warp per query row; head_dim a multiple of 32 up to 128 (32 and 64
// are the BERT shapes).
void LaunchAttention(const float* qkv, const int32_t* offsets, int num_seqs, int max_len,
                     int heads, int head_dim, float* out, cudaStream_t s);
// Pooling modes in sentence-transformers order (cls, max, mean, mean_sqrt_len), optional L2
// normalisation; one block per sequence.
void LaunchPool(const float* hidden, const int32_t* offsets, int num_seqs, int hidden_size,
                bool cls, bool max, bool mean, bool mean_sqrt_len, bool normalize, float* out,
                cudaStream_t s);

}  // namespace ipfskit::accel::cuda
