// CPU backend: oneTBB for parallelism (inside one task_arena), BLAS for the GEMMs, our own
// vectorised row kernels for the rest. Rows are independent in every operation except
// attention, which runs one task per (sequence, head).
#include <cblas.h>
#include <dnnl.h>
#include <omp.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "accel/backends.h"
#include "accel/cpu/cpu_kernels.h"

extern "C" void openblas_set_num_threads(int);
extern "C" char* openblas_get_config(void);

namespace ipfskit::accel {
namespace {

using infer::Activation;
using infer::BufferPtr;
using infer::LinearOp;

class HostBuffer : public infer::DeviceBuffer {
 public:
  explicit HostBuffer(size_t bytes) {
    // 64-byte aligned rows for the vector kernels and BLAS packing.
    data_ = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    size_ = bytes;
  }
  ~HostBuffer() override { std::free(data_); }
};

class CpuLinear : public LinearOp {
 public:
  std::vector<float> w;  // [out, in]
  std::vector<float> b;
  size_t bytes() const override { return (w.size() + b.size()) * sizeof(float); }
};

// C[M,N] = A[M,K] · op(B) with op(B) = Bᵀ when trans_b (B is [N,K]), else B ([K,N]).
// Single-threaded: the parallelism is ours, across row blocks and heads.
using SgemmFn = void (*)(bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                         const float* B, int ldb, float beta, float* C, int ldc);

void SgemmOpenBlas(bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
              lda, B, ldb, beta, C, ldc);
}

void SgemmOneDnn(bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  // oneDNN in Debian threads with OpenMP; the OpenMP thread count is per calling thread, and
  // each TBB worker computes its own block, so it must stay 1.
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
  dnnl_sgemm('N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

class CpuBackend : public infer::Backend {
 public:
  CpuBackend(int threads, CpuGemm gemm) : threads_(threads), arena_(threads) {
    if (gemm == CpuGemm::kOneDnn) {
      sgemm_ = SgemmOneDnn;
      gemm_name_ = "onednn";
    } else {
      openblas_set_num_threads(1);
      sgemm_ = SgemmOpenBlas;
      gemm_name_ = "openblas";
    }
  }

  std::string name() const override { return "cpu-" + gemm_name_; }
  std::string precision() const override { return "fp32"; }
  std::string Describe() const override {
    std::string d = "cpu: oneTBB arena of " + std::to_string(threads_) + " threads, GEMM " + gemm_name_;
    if (gemm_name_ == "openblas") d += std::string(" (") + openblas_get_config() + ")";
    return d;
  }

  Result<BufferPtr> Alloc(size_t bytes) override {
    auto b = std::make_unique<HostBuffer>(bytes);
    if (!b->data()) return MakeError(Errc::kNoSpace, "cpu backend: out of memory");
    return BufferPtr(std::move(b));
  }
  void Upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  Status Download(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return Status::Ok();
  }

  Result<std::unique_ptr<LinearOp>> PrepareLinear(const infer::LinearWeights& lw) override {
    auto op = std::make_unique<CpuLinear>();
    op->out = lw.out;
    op->in = lw.in;
    op->w = lw.w;
    op->b = lw.b;
    return std::unique_ptr<LinearOp>(std::move(op));
  }

  void Linear(const LinearOp& op_, const float* x, int rows, float* y, Activation act) override {
    const auto& op = static_cast<const CpuLinear&>(op_);
    // Row blocks big enough that BLAS packing of W is amortised, small enough to share out.
    const int block = std::max(32, std::min(256, (rows + threads_ * 2 - 1) / (threads_ * 2)));
    const int nblocks = (rows + block - 1) / block;
    arena_.execute([&] {
      tbb::parallel_for(0, nblocks, [&](int bi) {
        const int r0 = bi * block, m = std::min(block, rows - r0);
        float* yb = y + size_t(r0) * op.out;
        sgemm_(true, m, op.out, op.in, 1.f, x + size_t(r0) * op.in, op.in, op.w.data(), op.in,
               0.f, yb, op.out);
        for (int r = 0; r < m; r++) {  // epilogue while the block is in cache
          if (act == Activation::kGelu) cpu::BiasGelu(yb + size_t(r) * op.out, op.b.data(), op.out);
          else cpu::BiasAdd(yb + size_t(r) * op.out, op.b.data(), op.out);
        }
      });
    });
  }

  void Embed(const int32_t* ids, const int32_t* positions, int rows, const float* word,
             const float* pos, const float* type0, const float* gamma, const float* beta,
             float eps, int hidden, float* out) override {
    arena_.execute([&] {
      tbb::parallel_for(tbb::blocked_range<int>(0, rows, 64), [&](const tbb::blocked_range<int>& r) {
        for (int t = r.begin(); t < r.end(); t++) {
          float* o = out + size_t(t) * hidden;
          const float* we = word + size_t(ids[t]) * hidden;
          const float* pe = pos + size_t(positions[t]) * hidden;
          for (int i = 0; i < hidden; i++) o[i] = we[i] + pe[i] + type0[i];
          cpu::AddLayerNormRow(o, nullptr, gamma, beta, eps, hidden);
        }
      });
    });
  }

  void AddLayerNorm(float* x, const float* residual, const float* gamma, const float* beta,
                    float eps, int rows, int hidden) override {
    arena_.execute([&] {
      tbb::parallel_for(tbb::blocked_range<int>(0, rows, 64), [&](const tbb::blocked_range<int>& r) {
        for (int t = r.begin(); t < r.end(); t++)
          cpu::AddLayerNormRow(x + size_t(t) * hidden, residual + size_t(t) * hidden, gamma, beta,
                               eps, hidden);
      });
    });
  }

  void Attention(const float* qkv, const int32_t* offs, int num_seqs, int max_len, int heads,
                 int head_dim, float* out) override {
    const int H = heads * head_dim, ld = 3 * H;
    const float scale = 1.f / std::sqrt(float(head_dim));
    arena_.execute([&] {
      tbb::parallel_for(0, num_seqs * heads, [&](int task) {
        const int s = task / heads, h = task % heads;
        const int L = offs[s + 1] - offs[s];
        const float* q = qkv + size_t(offs[s]) * ld + h * head_dim;
        const float* k = q + H;
        const float* v = q + 2 * H;
        thread_local std::vector<float> scores;
        scores.resize(size_t(L) * L);
        sgemm_(true, L, L, head_dim, 1.f, q, ld, k, ld, 0.f, scores.data(), L);  // Q·Kᵀ
        for (int i = 0; i < L; i++) cpu::SoftmaxRow(scores.data() + size_t(i) * L, scale, L);
        sgemm_(false, L, head_dim, L, 1.f, scores.data(), L, v, ld, 0.f,
               out + size_t(offs[s]) * H + h * head_dim, H);  // P·V
      });
    });
  }

  void Pool(const float* hidden, const int32_t* offs, int num_seqs, int H,
            const infer::PoolingConfig& p, bool normalize, float* out) override {
    const int D = H * p.modes();
    arena_.execute([&] {
      tbb::parallel_for(0, num_seqs, [&](int s) {
        const int L = offs[s + 1] - offs[s];
        const float* x = hidden + size_t(offs[s]) * H;
        float* o = out + size_t(s) * D;
        int at = 0;
        if (p.cls) {
          std::memcpy(o + at, x, H * sizeof(float));
          at += H;
        }
        if (p.max) {
          for (int i = 0; i < H; i++) {
            float m = x[i];
            for (int t = 1; t < L; t++) m = std::max(m, x[size_t(t) * H + i]);
            o[at + i] = m;
          }
          at += H;
        }
        if (p.mean || p.mean_sqrt_len) {
          std::vector<double> sum(H, 0.0);
          for (int t = 0; t < L; t++)
            for (int i = 0; i < H; i++) sum[i] += x[size_t(t) * H + i];
          const double n = std::max(double(L), 1e-9);
          if (p.mean) {
            for (int i = 0; i < H; i++) o[at + i] = float(sum[i] / n);
            at += H;
          }
          if (p.mean_sqrt_len) {
            for (int i = 0; i < H; i++) o[at + i] = float(sum[i] / std::sqrt(n));
            at += H;
          }
        }
        if (normalize) {
          double ss = 0;
          for (int i = 0; i < D; i++) ss += double(o[i]) * o[i];
          const float inv = float(1.0 / std::max(std::sqrt(ss), 1e-12));
          for (int i = 0; i < D; i++) o[i] *= inv;
        }
      });
    });
  }

 private:
  int threads_;
  tbb::task_arena arena_;
  SgemmFn sgemm_ = SgemmOpenBlas;
  std::string gemm_name_;
};

}  // namespace

std::shared_ptr<infer::Backend> MakeCpuBackend(const CpuOptions& opts) {
  int threads = opts.threads;
  if (threads <= 0) threads = tbb::this_task_arena::max_concurrency();
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  CpuGemm gemm = opts.gemm;
  if (gemm == CpuGemm::kAuto) {
    const char* env = std::getenv("IPFSKIT_CPU_GEMM");
    std::string e = env ? env : "";
    // oneDNN by measurement (BENCHMARKS.md): 1.5x OpenBLAS on this model shape, because Debian's
    // OpenBLAS 0.3.21 stops at AVX2 kernels where oneDNN uses AVX-512.
    gemm = e == "openblas" ? CpuGemm::kOpenBlas : CpuGemm::kOneDnn;
  }
  return std::make_shared<CpuBackend>(threads, gemm);
}

}  // namespace ipfskit::accel
