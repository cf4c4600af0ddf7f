#include "accel/cuda/kernels.cuh"

namespace ipfskit::accel::cuda {
namespace {

__global__ void BiasActKernel(float* y, const float* bias, long n, int cols, bool gelu) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n; i += long(gridDim.x) * blockDim.x) {
    float v = y[i] + bias[i % cols];
    if (gelu) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    y[i] = v;
  }
}

}  // namespace

void LaunchBiasAct(float* y, const float* bias, int rows, int cols, bool gelu, cudaStream_t s) {
  long n = long(rows) * cols;
  if (n == 0) return;
  int threads = 256;
  long blocks = (n + threads - 1) / threads;
  if (blocks > 65535L * 8) blocks = 65535L * 8;
  BiasActKernel<<<unsigned(blocks), threads, 0, s>>>(y, bias, n, cols, gelu);
}

}  // namespace ipfskit::accel::cuda
