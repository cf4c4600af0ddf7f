// CPU backend: oneTBB for parallelism (inside one task_arena), BLAS for the GEMMs, our own
// vectorised row kernels for the rest. Rows are independent in every operation except
// attention, which runs one task per (sequence, head).
//
// Precision of the linear layers (attention stays FP32 in every mode), IPFSKIT_CPU_PRECISION:
//   fp32  sgemm (oneDNN or OpenBLAS);
//   bf16  oneDNN matmul, bf16 weights and activations, f32 accumulation and output;
//   int8  oneDNN u8×s8→s32 GEMM: weights s8 with a scale per output channel, each activation
//         row quantised to u8 with its own scale and zero point when the layer runs;
//   auto  (default) bf16 where the CPU has AMX-BF16, else fp32. int8 changes results more
//         than bf16 does, so it is never chosen for the user.
// A mode the CPU cannot run well (bf16 without AVX-512, int8 without VNNI, whose absence makes
// oneDNN's u8×s8 kernels saturate) falls back to fp32 with one line on stderr.
// fp32 layers of at most kSmallRows rows (a short query) run our packed-panel kernel instead of
// sgemm on AVX2 CPUs without AVX-512 (small_gemm.h; measured there only), which keeps a second,
// packed copy of each weight; IPFSKIT_CPU_SMALL_GEMM=0 turns it off.
// IPFSKIT_CPU_GEMM=openblas|onednn|matmul picks the fp32 GEMM (matmul: oneDNN's primitive with
// prepacked weights and the bias inside); IPFSKIT_CPU_FUSE_GELU=1 makes GELU the matmul's
// post-op instead of our row kernel. Defaults by measurement (bench-infer.sh, BENCHMARKS.md).
#include <cblas.h>
#include <dnnl.h>
#include <dnnl.hpp>
#include <omp.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "accel/backends.h"
#include "accel/cpu/cpu_kernels.h"
#include "accel/cpu/small_gemm.h"

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

template <typename T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <typename U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const AlignedAlloc&) const { return true; }
};

class CpuLinear : public LinearOp {
 public:
  std::vector<float> w;  // [out, in]
  std::vector<float> b;
  std::vector<float, AlignedAlloc<float>> panels;  // w packed for cpu::SmallGemm, or empty
  size_t bytes() const override { return (w.size() + b.size() + panels.size()) * sizeof(float); }
};

enum class Precision { kFp32, kBf16, kInt8 };

// Weights s8 [out, in] with a scale per output channel (symmetric, ±127).
class CpuLinearInt8 : public LinearOp {
 public:
  std::vector<int8_t> w;
  std::vector<float> scale, wsum, b;  // wsum[c] = scale[c]·Σₖ w[c,k]
  size_t bytes() const override {
    return w.size() + (scale.size() + wsum.size() + b.size()) * sizeof(float);
  }
};

// One oneDNN matmul per layer (f32 or bf16) for blocks of exactly kRows rows (a shorter last
// block is padded), weights reordered once into the layout the primitive wants; prim_gelu is the
// same with the GELU post-op, when fused.
class CpuLinearMatmul : public LinearOp {
 public:
  static constexpr int kRows = 64;
  bool bf16 = false, has_gelu = false;
  dnnl::matmul prim, prim_gelu;
  dnnl::memory weights;
  dnnl::memory::desc src_md, dst_md, scratch_md, scratch_gelu_md;
  std::vector<float> b;
  size_t wbytes = 0;
  size_t bytes() const override { return wbytes + b.size() * sizeof(float); }
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

// How a linear layer's output [rows, out] is shared out: row blocks big enough that BLAS packing
// of W is amortised, small enough to give every thread work; and when there are too few rows
// for that (a short query: one block), column chunks too, so a one-sentence job uses all threads.
struct Tiles {
  int block, nblocks, chunk, nchunks;
  int count() const { return nblocks * nchunks; }
  int row0(int t) const { return (t / nchunks) * block; }
  int rows_in(int t, int rows) const { return std::min(block, rows - row0(t)); }
  int col0(int t) const { return (t % nchunks) * chunk; }
  int cols_in(int t, int out) const { return std::min(chunk, out - col0(t)); }
};

class CpuBackend : public infer::Backend {
 public:
  CpuBackend(int threads, CpuGemm gemm, Precision precision)
      : threads_(threads), arena_(threads), precision_(precision) {
    for (int i = 0; i < threads; i++) streams_.emplace_back(engine_);
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
  std::string precision() const override {
    return precision_ == Precision::kBf16 ? "bf16" : precision_ == Precision::kInt8 ? "int8" : "fp32";
  }
  std::string Describe() const override {
    std::string d = "cpu: oneTBB arena of " + std::to_string(threads_) + " threads, GEMM " + gemm_name_;
    if (gemm_name_ == "openblas") d += std::string(" (") + openblas_get_config() + ")";
    if (precision_ == Precision::kBf16) d += ", linear layers bf16 (" + bf16_impl_ + ")";
    if (precision_ == Precision::kBf16 || matmul_)
      d += fuse_gelu_ ? ", GELU fused as a post-op" : ", GELU ours";
    if (precision_ == Precision::kInt8) d += ", linear layers int8 (u8 x s8, dynamic per-row)";
    if (precision_ == Precision::kFp32 && !matmul_ && small_gemm_)
      d += ", <= " + std::to_string(kSmallRows) + " rows: packed AVX2 kernel";
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
    if (precision_ == Precision::kInt8) return PrepareInt8(lw);
    if (precision_ == Precision::kBf16 || matmul_) return PrepareMatmul(lw, precision_ == Precision::kBf16);
    auto op = std::make_unique<CpuLinear>();
    op->out = lw.out;
    op->in = lw.in;
    op->w = lw.w;
    op->b = lw.b;
    if (small_gemm_) {
      op->panels.resize(cpu::PackedPanelFloats(lw.out, lw.in));
      cpu::PackPanels(lw.w.data(), lw.out, lw.in, op->panels.data());
    }
    return std::unique_ptr<LinearOp>(std::move(op));
  }

  void Linear(const LinearOp& op_, const float* x, int rows, float* y, Activation act) override {
    if (precision_ == Precision::kInt8)
      return LinearInt8(static_cast<const CpuLinearInt8&>(op_), x, rows, y, act);
    if (precision_ == Precision::kBf16 || matmul_)
      return LinearMatmul(static_cast<const CpuLinearMatmul&>(op_), x, rows, y, act);
    const auto& op = static_cast<const CpuLinear&>(op_);
    auto epilogue = [&](float* row, int c0, int n) {
      if (act == Activation::kGelu) cpu::BiasGelu(row, op.b.data() + c0, n);
      else cpu::BiasAdd(row, op.b.data() + c0, n);
    };
    if (!op.panels.empty() && rows <= kSmallRows) {
      // Few rows: the panels are shared out between threads, every thread does every row.
      const int np = cpu::PanelCount(op.out);
      const int tasks = std::min(np, threads_ * 2);
      arena_.execute([&] {
        tbb::parallel_for(0, tasks, [&](int t) {
          const int p0 = np * t / tasks, p1 = np * (t + 1) / tasks;
          cpu::SmallGemm(x, rows, op.in, op.panels.data(), op.out, p0, p1, y, op.out);
          const int c0 = p0 * cpu::kPanelCols, n = std::min(op.out, p1 * cpu::kPanelCols) - c0;
          for (int r = 0; r < rows; r++) epilogue(y + size_t(r) * op.out + c0, c0, n);
        });
      });
      return;
    }
    const Tiles t = TilesFor(rows, op.out);
    arena_.execute([&] {
      tbb::parallel_for(0, t.count(), [&](int ti) {
        const int r0 = t.row0(ti), m = t.rows_in(ti, rows), c0 = t.col0(ti),
                  n = t.cols_in(ti, op.out);
        float* yb = y + size_t(r0) * op.out + c0;
        sgemm_(true, m, n, op.in, 1.f, x + size_t(r0) * op.in, op.in,
               op.w.data() + size_t(c0) * op.in, op.in, 0.f, yb, op.out);
        for (int r = 0; r < m; r++) epilogue(yb + size_t(r) * op.out, c0, n);  // while in cache
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

  // Checks that this CPU runs `p` on a real kernel; false (with *why) means use fp32.
  bool Supports(Precision p, std::string* why) {
    if (p == Precision::kInt8) {
      if (!(unsigned(dnnl_get_effective_cpu_isa()) & 0x40u)) {  // the AVX512-VNNI bit
        *why = "no AVX512-VNNI";
        return false;
      }
      return true;
    }
    if (p == Precision::kBf16) {
      try {
        auto pd = MakeMatmulPd(384, 384, dnnl::memory::data_type::bf16, false);
        bf16_impl_ = pd.impl_info_str();
      } catch (const dnnl::error& e) {
        *why = std::string("oneDNN has no bf16 matmul here: ") + e.what();
        return false;
      }
      if (bf16_impl_.find("ref") != std::string::npos) {
        *why = "oneDNN's bf16 matmul is its reference code here (" + bf16_impl_ + ")";
        return false;
      }
    }
    return true;
  }
  void set_precision(Precision p) { precision_ = p; }

  Tiles TilesFor(int rows, int out) const {
    Tiles t;
    t.block = std::max(32, std::min(256, (rows + threads_ * 2 - 1) / (threads_ * 2)));
    t.nblocks = (rows + t.block - 1) / t.block;
    const int want = t.nblocks >= threads_ * 2 ? 1 : (threads_ * 2 + t.nblocks - 1) / t.nblocks;
    t.chunk = std::max(64, (out + want - 1) / want + 15) / 16 * 16;  // whole 16-float vectors
    t.nchunks = (out + t.chunk - 1) / t.chunk;
    return t;
  }

 private:
  // The matmul for kRows-row blocks of [in] -> [out], f32 or bf16 source and weights, f32 bias
  // and output; with the erf GELU as a post-op when gelu.
  dnnl::matmul::primitive_desc MakeMatmulPd(int out, int in, dnnl::memory::data_type dt,
                                            bool gelu) {
    using tag = dnnl::memory::format_tag;
    const auto f32 = dnnl::memory::data_type::f32;
    const dnnl::memory::dim M = CpuLinearMatmul::kRows;
    dnnl::memory::desc src({M, in}, dt, tag::ab), wei({in, out}, dt, tag::any),
        bias({1, out}, f32, tag::ab), dst({M, out}, f32, tag::ab);
    dnnl::primitive_attr attr;
    // Our scratchpad per call: the primitive runs on several TBB workers at once.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (gelu) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, bias, dst), attr, engine_);
  }

  Result<std::unique_ptr<LinearOp>> PrepareMatmul(const infer::LinearWeights& lw, bool bf16) {
    auto op = std::make_unique<CpuLinearMatmul>();
    op->out = lw.out;
    op->in = lw.in;
    op->b = lw.b;
    op->bf16 = bf16;
    const auto dt = bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
    try {
      auto pd = MakeMatmulPd(lw.out, lw.in, dt, false);
      op->prim = dnnl::matmul(pd);
      op->src_md = pd.src_desc();
      op->dst_md = pd.dst_desc();
      op->scratch_md = pd.scratchpad_desc();
      if (fuse_gelu_) {
        // Fused only when the post-op leaves the weights layout alone (one copy of the weights).
        auto gpd = MakeMatmulPd(lw.out, lw.in, dt, true);
        if (gpd.weights_desc() == pd.weights_desc()) {
          op->prim_gelu = dnnl::matmul(gpd);
          op->scratch_gelu_md = gpd.scratchpad_desc();
          op->has_gelu = true;
        }
      }
      // W is [out, in] row-major, i.e. the [in, out] weights matrix in "ba" order.
      std::vector<uint16_t> wb;
      const void* wsrc = lw.w.data();
      if (bf16) {
        wb.resize(lw.w.size());
        cpu::ToBf16(lw.w.data(), wb.data(), int(wb.size()));
        wsrc = wb.data();
      }
      dnnl::memory plain({{lw.in, lw.out}, dt, dnnl::memory::format_tag::ba}, engine_,
                         const_cast<void*>(wsrc));
      op->weights = dnnl::memory(pd.weights_desc(), engine_);
      dnnl::stream s(engine_);
      dnnl::reorder(plain, op->weights).execute(s, plain, op->weights);
      s.wait();
      op->wbytes = pd.weights_desc().get_size();
    } catch (const dnnl::error& e) {
      return MakeError(Errc::kUnsupported, std::string("cpu backend: matmul linear layer: ") + e.what());
    }
    return std::unique_ptr<LinearOp>(std::move(op));
  }

  void LinearMatmul(const CpuLinearMatmul& op, const float* x, int rows, float* y, Activation act) {
    constexpr int B = CpuLinearMatmul::kRows;
    const int nblocks = (rows + B - 1) / B;
    const bool fused = act == Activation::kGelu && op.has_gelu;
    const dnnl::matmul& prim = fused ? op.prim_gelu : op.prim;
    const dnnl::memory::desc& scratch_md = fused ? op.scratch_gelu_md : op.scratch_md;
    arena_.execute([&] {
      tbb::parallel_for(0, nblocks, [&](int bi) {
        if (omp_get_max_threads() != 1) omp_set_num_threads(1);
        thread_local std::vector<uint16_t> src16;
        thread_local std::vector<float> src32, dst;
        thread_local std::vector<uint8_t, AlignedAlloc<uint8_t>> scratch;
        dnnl::stream& stream = streams_[tbb::this_task_arena::current_thread_index()];
        const int r0 = bi * B, m = std::min(B, rows - r0);
        const float* xb = x + size_t(r0) * op.in;
        void* src = const_cast<float*>(xb);
        if (op.bf16) {
          src16.resize(size_t(B) * op.in);
          cpu::ToBf16(xb, src16.data(), m * op.in);
          if (m < B) std::fill(src16.begin() + size_t(m) * op.in, src16.end(), uint16_t(0));
          src = src16.data();
        } else if (m < B) {  // the primitive reads B rows
          src32.assign(size_t(B) * op.in, 0.f);
          std::memcpy(src32.data(), xb, size_t(m) * op.in * sizeof(float));
          src = src32.data();
        }
        float* yb = y + size_t(r0) * op.out;
        float* out = yb;
        if (m < B) {  // and writes B rows
          dst.resize(size_t(B) * op.out);
          out = dst.data();
        }
        const size_t need = std::max<size_t>(scratch_md.get_size(), 64);
        if (scratch.size() < need) scratch.resize(need);
        dnnl::memory sm(op.src_md, engine_, src), dm(op.dst_md, engine_, out),
            bm({{1, op.out}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab}, engine_,
               const_cast<float*>(op.b.data())),
            pm(scratch_md, engine_, scratch.data());
        prim.execute(stream, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, op.weights},
                              {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, dm}, {DNNL_ARG_SCRATCHPAD, pm}});
        stream.wait();
        if (m < B) std::memcpy(yb, out, size_t(m) * op.out * sizeof(float));
        // The bias is in the matmul; unfused GELU is ours, the erf GELU of the sgemm path.
        if (act == Activation::kGelu && !fused)
          for (int r = 0; r < m; r++) cpu::Gelu(yb + size_t(r) * op.out, op.out);
      });
    });
  }

  Result<std::unique_ptr<LinearOp>> PrepareInt8(const infer::LinearWeights& lw) {
    auto op = std::make_unique<CpuLinearInt8>();
    op->out = lw.out;
    op->in = lw.in;
    op->b = lw.b;
    op->w.resize(size_t(lw.out) * lw.in);
    op->scale.resize(lw.out);
    op->wsum.resize(lw.out);
    for (int c = 0; c < lw.out; c++) {
      const float* wr = lw.w.data() + size_t(c) * lw.in;
      float amax = 0;
      for (int k = 0; k < lw.in; k++) amax = std::max(amax, std::fabs(wr[k]));
      const float sc = amax > 0 ? amax / 127.f : 1.f;
      int64_t sum = 0;
      for (int k = 0; k < lw.in; k++) {
        const int v = int(std::nearbyint(wr[k] / sc));
        op->w[size_t(c) * lw.in + k] = int8_t(std::clamp(v, -127, 127));
        sum += op->w[size_t(c) * lw.in + k];
      }
      op->scale[c] = sc;
      op->wsum[c] = sc * float(sum);
    }
    return std::unique_ptr<LinearOp>(std::move(op));
  }

  void LinearInt8(const CpuLinearInt8& op, const float* x, int rows, float* y, Activation act) {
    const Tiles t = TilesFor(rows, op.out);
    arena_.execute([&] {
      tbb::parallel_for(0, t.count(), [&](int ti) {
        if (omp_get_max_threads() != 1) omp_set_num_threads(1);
        thread_local std::vector<uint8_t> q;
        thread_local std::vector<int32_t> acc;
        thread_local std::vector<float> rs;
        thread_local std::vector<int32_t> rz;
        const int r0 = t.row0(ti), m = t.rows_in(ti, rows), c0 = t.col0(ti),
                  n = t.cols_in(ti, op.out);
        q.resize(size_t(m) * op.in);
        acc.resize(size_t(m) * n);
        rs.resize(m);
        rz.resize(m);
        // Column chunks of one row block quantise its rows again: only short inputs get chunks.
        for (int r = 0; r < m; r++)
          cpu::QuantizeRowU8(x + size_t(r0 + r) * op.in, op.in, q.data() + size_t(r) * op.in,
                             &rs[r], &rz[r]);
        const int32_t co = 0;
        dnnl_gemm_u8s8s32('N', 'T', 'F', m, n, op.in, 1.f, q.data(), op.in, 0,
                          op.w.data() + size_t(c0) * op.in, op.in, 0, 0.f, acc.data(), n, &co);
        for (int r = 0; r < m; r++) {
          float* yr = y + size_t(r0 + r) * op.out + c0;
          cpu::DequantizeRow(acc.data() + size_t(r) * n, n, rs[r], rz[r], op.scale.data() + c0,
                             op.wsum.data() + c0, yr);
          if (act == Activation::kGelu) cpu::BiasGelu(yr, op.b.data() + c0, n);
          else cpu::BiasAdd(yr, op.b.data() + c0, n);
        }
      });
    });
  }

  int threads_;
  tbb::task_arena arena_;
  Precision precision_;
  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  std::vector<dnnl::stream> streams_;  // one per arena slot: a stream is not for concurrent use
  std::string bf16_impl_;
  SgemmFn sgemm_ = SgemmOpenBlas;
  std::string gemm_name_;
  bool matmul_ = false;     // fp32 linear layers through the matmul primitive, not sgemm
  bool fuse_gelu_ = false;  // GELU as the matmul's post-op (matmul and bf16 paths)
  bool small_gemm_ = false; // fp32 sgemm path: pack weights for cpu::SmallGemm too
  static constexpr int kSmallRows = 64;  // 1.2x sgemm at 64 rows, 1.1x at 96 (one thread)

 public:
  void set_small_gemm(bool on) { small_gemm_ = on; }
  void set_matmul(bool on, bool fuse_gelu) {
    matmul_ = on;
    fuse_gelu_ = fuse_gelu;
    if (on) gemm_name_ = "onednn-matmul";
  }
};

}  // namespace

std::shared_ptr<infer::Backend> MakeCpuBackend(const CpuOptions& opts) {
  int threads = opts.threads;
  if (threads <= 0) threads = tbb::this_task_arena::max_concurrency();
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  CpuGemm gemm = opts.gemm;
  std::string e_gemm;  // IPFSKIT_CPU_GEMM: openblas, onednn (sgemm) or matmul (oneDNN's primitive)
  if (gemm == CpuGemm::kAuto) {
    const char* env = std::getenv("IPFSKIT_CPU_GEMM");
    std::string e = env ? env : "";
    e_gemm = e;
    // oneDNN by measurement (BENCHMARKS.md): 1.5x OpenBLAS on this model shape, because Debian's
    // OpenBLAS 0.3.21 stops at AVX2 kernels where oneDNN uses AVX-512.
    gemm = e == "openblas" ? CpuGemm::kOpenBlas : CpuGemm::kOneDnn;
  }
  const char* pe = std::getenv("IPFSKIT_CPU_PRECISION");
  const std::string want = pe && *pe ? pe : "auto";
  Precision p = Precision::kFp32;
  if (want == "bf16") p = Precision::kBf16;
  else if (want == "int8") p = Precision::kInt8;
  else if (want == "auto") {
    // AMX-BF16 runs bf16 far faster than fp32. AVX512-BF16 alone does not: on Sapphire Rapids
    // without AMX, VDPBF16PS ran at 0.4x the FP32 FMA rate and oneDNN's bf16 matmul at 0.5-0.6x
    // its sgemm (BENCHMARKS.md).
    if ((unsigned(dnnl_get_effective_cpu_isa()) & 0x300u) == 0x300u) p = Precision::kBf16;
  } else if (want != "fp32") {
    std::fprintf(stderr, "ipfskit: IPFSKIT_CPU_PRECISION=%s is not fp32, bf16, int8 or auto; using fp32\n",
                 want.c_str());
  }
  auto b = std::make_shared<CpuBackend>(threads, gemm, Precision::kFp32);
  const char* fe = std::getenv("IPFSKIT_CPU_FUSE_GELU");
  b->set_matmul(gemm == CpuGemm::kOneDnn && e_gemm == "matmul", fe && std::string(fe) == "1");
  // Where it was measured: AVX2 without AVX-512 (with AVX-512, oneDNN's own kernels are wider).
  const char* se = std::getenv("IPFSKIT_CPU_SMALL_GEMM");
  b->set_small_gemm(cpu::SmallGemmAvailable() && !__builtin_cpu_supports("avx512f") &&
                    !(se && std::string(se) == "0"));
  std::string why;
  if (p != Precision::kFp32) {
    if (b->Supports(p, &why)) b->set_precision(p);
    else if (want != "auto")
      std::fprintf(stderr, "ipfskit: CPU precision %s not used (%s); using fp32\n", want.c_str(),
                   why.c_str());
  }
  return b;
}

}  // namespace ipfskit::accel
