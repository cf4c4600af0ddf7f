#include "accel/cuda/kernels.cuh"

namespace ipfskit::accel::cuda {
namespace {

constexpr int kWarps = 4;  // query rows per block

// One warp per (sequence, head, query row); lane l holds dims l, l+32, ... of q and of the
// output. Keys are visited once with an online softmax, so there is no L×L buffer and no
// padding: the sequence's own rows are all it reads.
template <int D>
__global__ void AttentionKernel(const float* qkv, const int32_t* offsets, int heads, float* out) {
  constexpr int P = D / 32;
  const int s = blockIdx.z, h = blockIdx.y;
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  const int start = offsets[s], L = offsets[s + 1] - start;
  if (row >= L) return;
  const int H = heads * D, ld = 3 * H;
  const float scale = rsqrtf(float(D));
  const float* q = qkv + long(start + row) * ld + h * D;
  float qv[P], acc[P];
  for (int p = 0; p < P; p++) {
    qv[p] = q[lane + 32 * p] * scale;
    acc[p] = 0.f;
  }
  float m = -INFINITY, denom = 0.f;
  for (int j = 0; j < L; j++) {
    const float* k = qkv + long(start + j) * ld + H + h * D;
    float dot = 0;
    for (int p = 0; p < P; p++) dot += qv[p] * k[lane + 32 * p];
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    const float m_new = fmaxf(m, dot);
    const float correction = __expf(m - m_new);
    const float w = __expf(dot - m_new);
    denom = denom * correction + w;
    const float* v = k + H;
    for (int p = 0; p < P; p++) acc[p] = acc[p] * correction + w * v[lane + 32 * p];
    m = m_new;
  }
  float* o = out + long(start + row) * H + h * D;
  const float inv = 1.f / denom;
  for (int p = 0; p < P; p++) o[lane + 32 * p] = acc[p] * inv;
}

}  // namespace

void LaunchAttention(const float* qkv, const int32_t* offsets, int num_seqs, int max_len,
                     int heads, int head_dim, float* out, cudaStream_t s) {
  if (num_seqs == 0 || max_len == 0) return;
  dim3 grid((max_len + kWarps - 1) / kWarps, heads, num_seqs);
  dim3 block(32 * kWarps);
  switch (head_dim) {
    case 32: AttentionKernel<32><<<grid, block, 0, s>>>(qkv, offsets, heads, out); break;
    case 64: AttentionKernel<64><<<grid, block, 0, s>>>(qkv, offsets, heads, out); break;
    case 96: AttentionKernel<96><<<grid, block, 0, s>>>(qkv, offsets, heads, out); break;
    case 128: AttentionKernel<128><<<grid, block, 0, s>>>(qkv, offsets, heads, out); break;
    default: break;  // rejected earlier by CudaBackend::Attention
  }
}

}  // namespace ipfskit::accel::cuda
