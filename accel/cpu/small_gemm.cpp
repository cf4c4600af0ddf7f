#include "accel/cpu/small_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace ipfskit::accel::cpu {
namespace {

// R rows x 16 columns: 2R accumulators + 2 panel vectors + 1 broadcast <= 15 of AVX2's 16
// registers for R <= 6. Every loop is unrolled so that the accumulators stay in registers.
template <int R>
__attribute__((target("avx2,fma"))) void Tile(const float* x, int in, const float* panel, float* y, int ldy,
                                              int cols) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; r++) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int k = 0; k < in; k++) {
    const __m256 b0 = _mm256_loadu_ps(panel + size_t(k) * kPanelCols);
    const __m256 b1 = _mm256_loadu_ps(panel + size_t(k) * kPanelCols + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
      const __m256 a = _mm256_broadcast_ss(x + size_t(r) * in + k);
      lo[r] = _mm256_fmadd_ps(a, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(a, b1, hi[r]);
    }
  }
  if (cols == kPanelCols) {
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
      _mm256_storeu_ps(y + size_t(r) * ldy, lo[r]);
      _mm256_storeu_ps(y + size_t(r) * ldy + 8, hi[r]);
    }
    return;
  }
  alignas(32) float tmp[kPanelCols];  // the last, partial panel
#pragma GCC unroll 6
  for (int r = 0; r < R; r++) {
    _mm256_store_ps(tmp, lo[r]);
    _mm256_store_ps(tmp + 8, hi[r]);
    std::memcpy(y + size_t(r) * ldy, tmp, sizeof(float) * cols);
  }
}

using TileFn = void (*)(const float*, int, const float*, float*, int, int);
constexpr TileFn kTiles[7] = {nullptr, Tile<1>, Tile<2>, Tile<3>, Tile<4>, Tile<5>, Tile<6>};

}  // namespace

bool SmallGemmAvailable() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

size_t PackedPanelFloats(int out, int in) {
  return size_t(PanelCount(out)) * kPanelCols * size_t(in);
}

void PackPanels(const float* w, int out, int in, float* panels) {
  for (int p = 0; p < PanelCount(out); p++) {
    float* dst = panels + size_t(p) * in * kPanelCols;
    for (int k = 0; k < in; k++)
      for (int j = 0; j < kPanelCols; j++) {
        const int c = p * kPanelCols + j;
        dst[size_t(k) * kPanelCols + j] = c < out ? w[size_t(c) * in + k] : 0.f;
      }
  }
}

void SmallGemm(const float* x, int rows, int in, const float* panels, int out, int p0, int p1, float* y,
               int ldy) {
  // Rows in near-equal chunks of at most 6 (13 -> 5, 4, 4, not 6, 6, 1: a one-row tile reads
  // the panel for two FMAs per load pair).
  const int chunks = (rows + 5) / 6;
  for (int p = p0; p < p1; p++) {
    const float* panel = panels + size_t(p) * in * kPanelCols;
    const int c0 = p * kPanelCols, cols = std::min(kPanelCols, out - c0);
    int r0 = 0;
    for (int i = 0; i < chunks; i++) {
      const int n = (rows - r0) / (chunks - i);
      kTiles[n](x + size_t(r0) * in, in, panel, y + size_t(r0) * ldy + c0, ldy, cols);
      r0 += n;
    }
  }
}

}  // namespace ipfskit::accel::cpu
