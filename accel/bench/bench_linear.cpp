// One linear layer of MiniLM's shape at each CPU variant, on the same random weights and rows:
// sgemm + our epilogue (the fp32 default), oneDNN's matmul primitive with our GELU or with GELU
// as its post-op, bf16 (both epilogues) and int8. GFLOP/s and the error relative to the fp32
// default, one JSON line per (shape, variant). For bench-infer.sh's "measure both". The first line
// is this CPU's FP32 FMA peak on THREADS threads, measured with a loop of register-only FMAs at the
// widest vector the CPU has (AVX-512 or AVX2): the ceiling every fp32 engine is measured against.
//   ipfskit_bench_linear [ROWS] [THREADS]
#include <immintrin.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "accel/backends.h"

using namespace ipfskit;

namespace {

// Twelve independent FMA chains: more than latency x ports on every x86 core we run on.
#define IPFSKIT_FMA_CHAINS(V, FMA, SET1, FIRST)                               \
  V acc[12];                                                              \
  _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) acc[i] = SET1(0.001f * i);                 \
  const V m = SET1(0.999f), c = SET1(0.001f);                             \
  for (long k = 0; k < iters; k++) {                                      \
    _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) acc[i] = FMA(acc[i], m, c); \
  }                                                                       \
  float out = 0;                                                          \
  _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) out += FIRST(acc[i]);                      \
  return out;
__attribute__((target("avx2,fma"))) float Chains256(long iters) { IPFSKIT_FMA_CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_cvtss_f32) }
__attribute__((target("avx512f"))) float Chains512(long iters) { IPFSKIT_FMA_CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_cvtss_f32) }
#undef IPFSKIT_FMA_CHAINS

// FP32 GFLOP/s of `threads` threads each running the chains; 0 without AVX2+FMA.
double FmaPeak(int threads, const char** isa) {
  const bool wide = __builtin_cpu_supports("avx512f");
  if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
  *isa = wide ? "avx512f" : "avx2+fma";
  const long iters = 20'000'000;
  const double flops_per_thread = 2.0 * 12 * (wide ? 16 : 8) * iters;
  double best = 0;
  for (int r = 0; r < 3; r++) {
    std::vector<std::thread> ts;
    std::vector<float> sink(threads);
    auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; t++)
      ts.emplace_back([&, t] { sink[t] = wide ? Chains512(iters) : Chains256(iters); });
    for (auto& t : ts) t.join();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops_per_thread * threads / dt / 1e9);
    if (sink[0] == 12345.f) std::fprintf(stderr, " ");  // keeps the loops
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int T = argc > 1 ? std::atoi(argv[1]) : 4096;
  accel::CpuOptions o;
  o.threads = argc > 2 ? std::atoi(argv[2]) : 0;
  {
    const int n = o.threads > 0 ? o.threads : int(std::thread::hardware_concurrency());
    const char* isa = "none";
    double peak = FmaPeak(n, &isa);
    std::printf("%s\n", nlohmann::json{{"fma_peak_gflops", peak}, {"threads", n}, {"isa", isa}}.dump().c_str());
  }
  struct Shape {
    const char* name;
    int out, in;
    infer::Activation act;
  };
  const Shape shapes[] = {{"qkv", 1152, 384, infer::Activation::kNone},
                          {"attn_out", 384, 384, infer::Activation::kNone},
                          {"ffn_in+gelu", 1536, 384, infer::Activation::kGelu},
                          {"ffn_out", 384, 1536, infer::Activation::kNone}};
  struct Variant {
    const char *name, *precision, *gemm, *fuse;
  };
  const Variant variants[] = {{"fp32 sgemm + ours", "fp32", "onednn", "0"},
                              {"fp32 matmul + ours", "fp32", "matmul", "0"},
                              {"fp32 matmul, post-op", "fp32", "matmul", "1"},
                              {"bf16 matmul + ours", "bf16", "onednn", "0"},
                              {"bf16 matmul, post-op", "bf16", "onednn", "1"},
                              {"int8 u8s8 + ours", "int8", "onednn", "0"}};
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0, 1);
  for (const Shape& sh : shapes) {
    infer::LinearWeights w;
    w.out = sh.out;
    w.in = sh.in;
    w.w.resize(size_t(w.out) * w.in);
    w.b.resize(w.out);
    for (auto& v : w.w) v = d(rng) / std::sqrt(float(w.in));
    for (auto& v : w.b) v = d(rng) * 0.1f;
    std::vector<float> x(size_t(T) * w.in), ref, y(size_t(T) * w.out);
    for (auto& v : x) v = d(rng);
    for (const Variant& v : variants) {
      ::setenv("IPFSKIT_CPU_PRECISION", v.precision, 1);
      ::setenv("IPFSKIT_CPU_GEMM", v.gemm, 1);
      ::setenv("IPFSKIT_CPU_FUSE_GELU", v.fuse, 1);
      auto b = accel::MakeCpuBackend(o);
      if (b->precision() != v.precision) continue;  // not on this CPU
      auto op = b->PrepareLinear(w);
      if (!op.ok()) {
        std::fprintf(stderr, "%s: %s\n", v.name, op.error().message.c_str());
        return 1;
      }
      b->Linear(**op, x.data(), T, y.data(), sh.act);  // warm-up
      double best = 1e30;
      for (int r = 0; r < 5; r++) {
        auto t0 = std::chrono::steady_clock::now();
        b->Linear(**op, x.data(), T, y.data(), sh.act);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      if (ref.empty()) ref = y;  // the first variant is the fp32 default
      double e2 = 0, r2 = 0;
      for (size_t i = 0; i < y.size(); i++) {
        e2 += double(y[i] - ref[i]) * (y[i] - ref[i]);
        r2 += double(ref[i]) * ref[i];
      }
      nlohmann::json j = {{"shape", sh.name}, {"variant", v.name}, {"rows", T},
                          {"gflops", 2.0 * T * w.out * w.in / best / 1e9},
                          {"rel_err", std::sqrt(e2 / std::max(r2, 1e-30))}, {"backend", b->Describe()}};
      std::printf("%s\n", j.dump().c_str());
    }
  }
  ::unsetenv("IPFSKIT_CPU_PRECISION");
  return 0;
}
