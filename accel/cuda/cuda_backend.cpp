// CUDA backend: cuBLAS GEMMs (TF32 tensor cores unless disabled) and our own kernels for the
// rest, all on one stream. Errors from asynchronous work are sticky and reported by Download().
// Built only into the ipfskit-cuda.so plugin, reached through accel/cuda/plugin_abi.h.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

#include "accel/cuda/kernels.cuh"
#include "accel/cuda/plugin_abi.h"

namespace ipfskit::accel {
namespace {

using infer::Activation;
using infer::BufferPtr;
using infer::LinearOp;

class CudaBuffer : public infer::DeviceBuffer {
 public:
  static Result<BufferPtr> Make(size_t bytes) {
    std::unique_ptr<CudaBuffer> b(new CudaBuffer);
    cudaError_t e = cudaMalloc(&b->data_, bytes ? bytes : 1);
    if (e != cudaSuccess) {
      cudaGetLastError();  // not sticky: the caller may free memory and retry
      return MakeError(Errc::kNoSpace, std::string("cudaMalloc: ") + cudaGetErrorString(e));
    }
    b->size_ = bytes;
    return BufferPtr(std::move(b));
  }
  ~CudaBuffer() override { cudaFree(data_); }
};

class CudaLinear : public LinearOp {
 public:
  BufferPtr w, b;  // W [out, in] row-major, bias [out]
  size_t bytes() const override { return w->size() + b->size(); }
};

class CudaBackend : public infer::Backend {
 public:
  CudaBackend() = default;
  ~CudaBackend() override {
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  Status Init(const CudaOptions& o) {
    device_ = o.device;
    tf32_ = o.allow_tf32;
    if (cudaSetDevice(device_) != cudaSuccess) return Fail("cudaSetDevice");
    if (cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking) != cudaSuccess)
      return Fail("cudaStreamCreate");
    if (cublasCreate(&blas_) != CUBLAS_STATUS_SUCCESS)
      return MakeError(Errc::kUnsupported, "cublasCreate failed");
    cublasSetStream(blas_, stream_);
    cublasSetMathMode(blas_, tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, device_);
    device_name_ = p.name;
    return Status::Ok();
  }

  std::string name() const override { return "cuda"; }
  std::string precision() const override { return tf32_ ? "tf32" : "fp32"; }
  std::string Describe() const override {
    return "cuda: " + device_name_ + ", cuBLAS " + (tf32_ ? "TF32 tensor cores" : "FP32");
  }

  Result<BufferPtr> Alloc(size_t bytes) override {
    cudaSetDevice(device_);
    return CudaBuffer::Make(bytes);
  }
  void Upload(void* dst, const void* src, size_t bytes) override {
    // Pageable source: the copy is staged before this returns, so `src` may be freed after.
    Check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
  }
  Status Download(void* dst, const void* src, size_t bytes) override {
    Check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
    Check(cudaStreamSynchronize(stream_), "stream");
    Check(cudaGetLastError(), "kernel");
    if (!error_.ok()) {
      Status e = error_;
      error_ = Status::Ok();
      return e;
    }
    return Status::Ok();
  }

  Result<std::unique_ptr<LinearOp>> PrepareLinear(const infer::LinearWeights& lw) override {
    auto op = std::make_unique<CudaLinear>();
    op->out = lw.out;
    op->in = lw.in;
    IPFSKIT_ASSIGN_OR_RETURN(op->w, Alloc(lw.w.size() * sizeof(float)));
    IPFSKIT_ASSIGN_OR_RETURN(op->b, Alloc(lw.b.size() * sizeof(float)));
    Upload(op->w->data(), lw.w.data(), op->w->size());
    Upload(op->b->data(), lw.b.data(), op->b->size());
    return std::unique_ptr<LinearOp>(std::move(op));
  }

  void Linear(const LinearOp& op_, const float* x, int rows, float* y, Activation act) override {
    const auto& op = static_cast<const CudaLinear&>(op_);
    if (rows == 0) return;
    // Column-major view: yᵀ[out, rows] = W(col-major [in, out])ᵀ · xᵀ[in, rows].
    const float one = 1.f, zero = 0.f;
    cublasStatus_t st = cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, op.out, rows, op.in, &one,
                                    op.w->as<float>(), op.in, x, op.in, &zero, y, op.out);
    if (st != CUBLAS_STATUS_SUCCESS && error_.ok())
      error_ = MakeError(Errc::kInternal, "cublasSgemm failed (" + std::to_string(int(st)) + ")");
    cuda::LaunchBiasAct(y, op.b->as<float>(), rows, op.out, act == Activation::kGelu, stream_);
  }

  void Embed(const int32_t* ids, const int32_t* positions, int rows, const float* word,
             const float* pos, const float* type0, const float* gamma, const float* beta,
             float eps, int hidden, float* out) override {
    cuda::LaunchEmbed(ids, positions, rows, word, pos, type0, gamma, beta, eps, hidden, out, stream_);
  }
  void AddLayerNorm(float* x, const float* residual, const float* gamma, const float* beta,
                    float eps, int rows, int hidden) override {
    cuda::LaunchAddLayerNorm(x, residual, gamma, beta, eps, rows, hidden, stream_);
  }
  void Attention(const float* qkv, const int32_t* offsets, int num_seqs, int max_len, int heads,
                 int head_dim, float* out) override {
    if (head_dim % 32 != 0 || head_dim > 128) {
      if (error_.ok())
        error_ = MakeError(Errc::kUnsupported, "cuda attention: head_dim " +
                                                   std::to_string(head_dim) + " (need 32, 64, 96 or 128)");
      return;
    }
    cuda::LaunchAttention(qkv, offsets, num_seqs, max_len, heads, head_dim, out, stream_);
  }
  void Pool(const float* hidden, const int32_t* offsets, int num_seqs, int hidden_size,
            const infer::PoolingConfig& p, bool normalize, float* out) override {
    cuda::LaunchPool(hidden, offsets, num_seqs, hidden_size, p.cls, p.max, p.mean, p.mean_sqrt_len,
                     normalize, out, stream_);
  }

 private:
  Status Fail(const char* what) {
    cudaError_t e = cudaGetLastError();
    return MakeError(Errc::kUnsupported, std::string(what) + ": " + cudaGetErrorString(e));
  }
  void Check(cudaError_t e, const char* what) {
    if (e != cudaSuccess && error_.ok())
      error_ = MakeError(Errc::kIo, std::string("cuda ") + what + ": " + cudaGetErrorString(e));
  }

  int device_ = 0;
  bool tf32_ = true;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  Status error_;
};

bool Available(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? std::string("no usable GPU: ") + cudaGetErrorString(e)
                                     : std::string("no GPU present");
    cudaGetLastError();
    return false;
  }
  return true;
}

Result<std::shared_ptr<infer::Backend>> MakeBackend(const CudaOptions& opts) {
  std::string why;
  if (!Available(&why)) return MakeError(Errc::kUnsupported, why);
  auto b = std::make_shared<CudaBackend>();
  IPFSKIT_TRY_STATUS(b->Init(opts));
  return std::shared_ptr<infer::Backend>(std::move(b));
}

constexpr CudaPluginV1 kPlugin = {sizeof(CudaPluginV1), IPFSKIT_CUDA_PLUGIN_BUILD_TAG, &Available,
                                  &MakeBackend};

}  // namespace
}  // namespace ipfskit::accel

// The plugin's only exported symbol (everything else is hidden by -fvisibility=hidden).
extern "C" __attribute__((visibility("default"))) const ipfskit::accel::CudaPluginV1*
ipfskit_cuda_plugin_v1() {
  return &ipfskit::accel::kPlugin;
}
