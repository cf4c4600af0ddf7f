#include "accel/cuda/kernels.cuh"
#include "accel/cuda/layernorm_row.cuh"

namespace ipfskit::accel::cuda {

namespace {

__global__ void EmbedKernel(const int32_t* ids, const int32_t* positions, const float* word,
                            const float* pos, const float* type0, const float* gamma,
                            const float* beta, float eps, int hidden, float* out) {
  __shared__ float scratch[32];
  const int t = blockIdx.x;
  float* o = out + long(t) * hidden;
  const float* we = word + long(ids[t]) * hidden;
  const float* pe = pos + long(positions[t]) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = we[i] + pe[i] + type0[i];
  __syncthreads();
  LayerNormRow(o, gamma, beta, eps, hidden, scratch);
}

__global__ void PoolKernel(const float* hidden, const int32_t* offsets, int H, bool cls, bool mx,
                           bool mean, bool msl, bool normalize, float* out) {
  __shared__ float scratch[32];
  const int s = blockIdx.x;
  const int L = offsets[s + 1] - offsets[s];
  const float* x = hidden + long(offsets[s]) * H;
  const int D = H * (int(cls) + int(mx) + int(mean) + int(msl));
  float* o = out + long(s) * D;
  float ss = 0;
  for (int i = threadIdx.x; i < H; i += blockDim.x) {
    int at = 0;
    float m = x[i], sum = 0;
    for (int t = 0; t < L; t++) {
      float v = x[long(t) * H + i];
      m = fmaxf(m, v);
      sum += v;
    }
    const float n = fmaxf(float(L), 1e-9f);
    float vals[4];
    int k = 0;
    if (cls) vals[k++] = x[i];
    if (mx) vals[k++] = m;
    if (mean) vals[k++] = sum / n;
    if (msl) vals[k++] = sum / sqrtf(n);
    for (int j = 0; j < k; j++, at += H) {
      o[at + i] = vals[j];
      ss += vals[j] * vals[j];
    }
  }
  if (!normalize) return;
  const float inv = 1.f / fmaxf(sqrtf(BlockSum(ss, scratch)), 1e-12f);
  __syncthreads();
  for (int i = threadIdx.x; i < D; i += blockDim.x) o[i] *= inv;
}

}  // namespace

void LaunchEmbed(const int32_t* ids, const int32_t* positions, int rows, const float* word,
                 const float* pos, const float* type0, const float* gamma, const float* beta,
                 float eps, int hidden, float* out, cudaStream_t s) {
  if (rows == 0) return;
  EmbedKernel<<<rows, 128, 0, s>>>(ids, positions, word, pos, type0, gamma, beta, eps, hidden, out);
}

void LaunchPool(const float* hidden, const int32_t* offsets, int num_seqs, int hidden_size,
                bool cls, bool max, bool mean, bool mean_sqrt_len, bool normalize, float* out,
                cudaStream_t s) {
  if (num_seqs == 0) return;
  PoolKernel<<<num_seqs, 128, 0, s>>>(hidden, offsets, hidden_size, cls, max, mean, mean_sqrt_len,
                                      normalize, out);
}

}  // namespace ipfskit::accel::cuda
