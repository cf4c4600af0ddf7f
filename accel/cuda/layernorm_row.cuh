// Block-level helpers shared by the LayerNorm, embedding and pooling kernels (header-only, so
// no separable compilation is needed). Blocks must be a multiple of 32 threads.
#pragma once

namespace ipfskit::accel::cuda {

// Block-wide sum; `scratch` holds one float per warp.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = 0;
  for (int w = 0; w < int(blockDim.x / 32); w++) t += scratch[w];
  return t;
}

// One block per row: x = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance.
__device__ __forceinline__ void LayerNormRow(float* x, const float* gamma, const float* beta,
                                             float eps, int n, float* scratch) {
  float s = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  const float mean = BlockSum(s, scratch) / n;
  float v = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float d = x[i] - mean;
    v += d * d;
  }
  const float inv = rsqrtf(BlockSum(v, scratch) / n + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

}  // namespace ipfskit::accel::cuda
