// A BertModel prepared on one backend, and its forward pass over ragged batches.
// Not thread-safe: one Run at a time (the engine holds the backend lock around it).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "core/infer/backend.h"
#include "core/infer/bert_model.h"

namespace ipfskit::infer {

class BertRunner {
 public:
  static Result<std::unique_ptr<BertRunner>> Create(std::shared_ptr<Backend> backend,
                                                    std::shared_ptr<const BertModel> model);
  // seqs: token ids, each with 1..max_position_embeddings tokens. out: seqs.size() × output_dim
  // floats on the host.
  Status Run(std::span<const std::span<const int32_t>> seqs, float* out);

  // Config, tokenizer and pooling; the host weights are not kept after Create().
  const BertModel& model() const { return *model_; }
  Backend& backend() const { return *backend_; }
  // Backend memory held by the weights (workspace excluded).
  size_t weight_bytes() const { return weight_bytes_; }
  size_t workspace_bytes() const;

 private:
  struct Layer {
    std::unique_ptr<LinearOp> qkv, attn_out, ffn_in, ffn_out;
    BufferPtr ln1, ln2;  // gamma then beta
  };
  Status Grow(BufferPtr& buf, size_t bytes);
  Result<BufferPtr> UploadVector(const std::vector<float>& v);

  std::shared_ptr<Backend> backend_;
  std::shared_ptr<const BertModel> model_;
  BufferPtr word_, pos_, type0_, emb_ln_;
  std::vector<Layer> layers_;
  size_t weight_bytes_ = 0;
  // Workspace, grown on demand and kept.
  BufferPtr ids_, positions_, offsets_, x_, h_, qkv_, ctx_, ffn_, pooled_;
};

}  // namespace ipfskit::infer
