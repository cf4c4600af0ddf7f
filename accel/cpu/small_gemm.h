// A GEMM for few rows (a short query: one sentence is 10-30 token rows) against weights packed
// once: y[r, c] = sum_k x[r, k] * w[c, k]. oneDNN's sgemm reaches about 40% of one core's FMA
// peak at 13 rows on AVX2 (it repacks W on every call); this 6x16 register-tile kernel over
// prepacked panels about 55% (BENCHMARKS.md, "Issue 13, third session"). For batches of
// thousands of rows it measured within noise of sgemm, and the backend keeps sgemm there.
//
// AVX2+FMA only; SmallGemmAvailable() says whether this CPU runs it. Thread-safe: the functions
// keep no state; callers split the panels between threads.
#pragma once

#include <cstddef>

namespace ipfskit::accel::cpu {

constexpr int kPanelCols = 16;
// Panels of an [out, in] weight: out rounded up to whole panels.
constexpr int PanelCount(int out) { return (out + kPanelCols - 1) / kPanelCols; }

bool SmallGemmAvailable();
// Floats PackPanels writes for an [out, in] weight: PanelCount(out) x 16 x in.
size_t PackedPanelFloats(int out, int in);
// w [out, in] row-major -> panels: panel p holds columns 16p..16p+15 as [in][16]; columns past
// `out` are zero.
void PackPanels(const float* w, int out, int in, float* panels);
// y[r, c] for rows 0..rows-1 and the columns of panels p0..p1-1 (clipped to out); x is [rows, in],
// y has row stride ldy. Overwrites y there.
void SmallGemm(const float* x, int rows, int in, const float* panels, int out, int p0, int p1, float* y,
               int ldy);

}  // namespace ipfskit::accel::cpu
