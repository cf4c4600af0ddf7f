// The compute backend behind inference, as a small vtable of BERT operations (in the manner of
// ggml_backend_i). The forward pass (bert_forward.h) is written once against it; accel/ provides
// a CPU implementation (oneTBB + BLAS) and a CUDA one. core/ never depends on accel/: the engine
// gets a backend injected.
//
// Contract: pointers passed to operations are device pointers from Alloc() (host memory for the
// CPU backend). Operations may run asynchronously in issue order; Download() waits for all queued
// work and reports any error that happened in it. A backend is used by one thread at a time (the
// engine serialises calls); it need not be thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/infer/bert_model.h"
#include "core/util/result.h"

namespace ipfskit::infer {

// Memory owned by a backend, freed by the destructor.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  void* data() const { return data_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }

 protected:
  void* data_ = nullptr;
  size_t size_ = 0;
};
using BufferPtr = std::unique_ptr<DeviceBuffer>;

// A linear layer's weights in the backend's own layout (packed, transposed, converted).
class LinearOp {
 public:
  virtual ~LinearOp() = default;
  int out = 0, in = 0;
  virtual size_t bytes() const = 0;
};

enum class Activation { kNone, kGelu };  // kGelu: exact 0.5·x·(1+erf(x/√2))

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;       // e.g. "cpu-openblas", "cuda"
  virtual std::string precision() const = 0;  // e.g. "fp32", "tf32"
  virtual std::string Describe() const = 0;   // one line with threads, device, library versions

  virtual Result<BufferPtr> Alloc(size_t bytes) = 0;
  virtual void Upload(void* dst, const void* src, size_t bytes) = 0;
  virtual Status Download(void* dst, const void* src, size_t bytes) = 0;

  virtual Result<std::unique_ptr<LinearOp>> PrepareLinear(const LinearWeights& w) = 0;
  // y[rows, out] = act(x[rows, in] · Wᵀ + b)
  virtual void Linear(const LinearOp& op, const float* x, int rows, float* y, Activation act) = 0;
  // out[t] = LayerNorm(word[ids[t]] + pos[positions[t]] + type0)
  virtual void Embed(const int32_t* ids, const int32_t* positions, int rows, const float* word,
                     const float* pos, const float* type0, const float* gamma, const float* beta,
                     float eps, int hidden, float* out) = 0;
  // x = LayerNorm(x + residual), row by row.
  virtual void AddLayerNorm(float* x, const float* residual, const float* gamma,
                            const float* beta, float eps, int rows, int hidden) = 0;
  // Self-attention inside each sequence (no padding: sequence s owns rows
  // [seq_offsets[s], seq_offsets[s+1])). qkv rows are [q | k | v], each split in heads of
  // head_dim; out rows are the heads concatenated. max_len bounds every sequence.
  virtual void Attention(const float* qkv, const int32_t* seq_offsets, int num_seqs, int max_len,
                         int num_heads, int head_dim, float* out) = 0;
  // out[s] = pooled (and L2-normalised when asked) hidden states of sequence s.
  virtual void Pool(const float* hidden, const int32_t* seq_offsets, int num_seqs, int hidden_size,
                    const PoolingConfig& pooling, bool normalize, float* out) = 0;
};

}  // namespace ipfskit::infer
