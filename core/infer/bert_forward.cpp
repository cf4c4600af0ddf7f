#include "core/infer/bert_forward.h"

#include <algorithm>

namespace ipfskit::infer {

Result<BufferPtr> BertRunner::UploadVector(const std::vector<float>& v) {
  IPFSKIT_ASSIGN_OR_RETURN(BufferPtr b, backend_->Alloc(v.size() * sizeof(float)));
  backend_->Upload(b->data(), v.data(), v.size() * sizeof(float));
  weight_bytes_ += b->size();
  return b;
}

Result<std::unique_ptr<BertRunner>> BertRunner::Create(std::shared_ptr<Backend> backend,
                                                       std::shared_ptr<const BertModel> model) {
  std::unique_ptr<BertRunner> r(new BertRunner);
  r->backend_ = std::move(backend);
  r->model_ = std::move(model);
  const BertModel& m = *r->model_;
  const BertWeights& w = m.weights;
  const int H = m.config.hidden_size;
  auto concat = [](const LayerNormWeights& ln) {
    std::vector<float> v = ln.gamma;
    v.insert(v.end(), ln.beta.begin(), ln.beta.end());
    return v;
  };
  IPFSKIT_ASSIGN_OR_RETURN(r->word_, r->UploadVector(w.word_embeddings));
  IPFSKIT_ASSIGN_OR_RETURN(r->pos_, r->UploadVector(w.position_embeddings));
  IPFSKIT_ASSIGN_OR_RETURN(
      r->type0_, r->UploadVector(std::vector<float>(w.token_type_embeddings.begin(),
                                                    w.token_type_embeddings.begin() + H)));
  IPFSKIT_ASSIGN_OR_RETURN(r->emb_ln_, r->UploadVector(concat(w.embeddings_ln)));
  for (const BertLayerWeights& lw : w.layers) {
    Layer L;
    auto prep = [&](const LinearWeights& lin, std::unique_ptr<LinearOp>* op) -> Status {
      IPFSKIT_ASSIGN_OR_RETURN(*op, r->backend_->PrepareLinear(lin));
      r->weight_bytes_ += (*op)->bytes();
      return Status::Ok();
    };
    IPFSKIT_TRY_STATUS(prep(lw.qkv, &L.qkv));
    IPFSKIT_TRY_STATUS(prep(lw.attn_out, &L.attn_out));
    IPFSKIT_TRY_STATUS(prep(lw.ffn_in, &L.ffn_in));
    IPFSKIT_TRY_STATUS(prep(lw.ffn_out, &L.ffn_out));
    IPFSKIT_ASSIGN_OR_RETURN(L.ln1, r->UploadVector(concat(lw.attn_ln)));
    IPFSKIT_ASSIGN_OR_RETURN(L.ln2, r->UploadVector(concat(lw.ffn_ln)));
    r->layers_.push_back(std::move(L));
  }
  // Surface any asynchronous upload failure now rather than on the first job.
  float probe;
  IPFSKIT_TRY_STATUS(r->backend_->Download(&probe, r->emb_ln_->data(), sizeof probe));
  // Keep everything but the host weights: the backend has its own copy now.
  auto meta = std::make_shared<BertModel>();
  meta->config = m.config;
  meta->pooling = m.pooling;
  meta->normalize = m.normalize;
  meta->max_seq_length = m.max_seq_length;
  meta->source = m.source;
  meta->weights_dtype = m.weights_dtype;
  meta->tokenizer = m.tokenizer;
  r->model_ = std::move(meta);
  return r;
}

Status BertRunner::Grow(BufferPtr& buf, size_t bytes) {
  if (buf && buf->size() >= bytes) return Status::Ok();
  buf.reset();
  // 25% headroom so slowly growing batches do not reallocate every time.
  IPFSKIT_ASSIGN_OR_RETURN(buf, backend_->Alloc(std::max<size_t>(bytes + bytes / 4, 256)));
  return Status::Ok();
}

size_t BertRunner::workspace_bytes() const {
  size_t n = 0;
  for (auto* b : {&ids_, &positions_, &offsets_, &x_, &h_, &qkv_, &ctx_, &ffn_, &pooled_})
    if (*b) n += (*b)->size();
  return n;
}

Status BertRunner::Run(std::span<const std::span<const int32_t>> seqs, float* out) {
  if (seqs.empty()) return Status::Ok();
  const BertConfig& c = model_->config;
  const int H = c.hidden_size, I = c.intermediate_size;
  std::vector<int32_t> ids, positions, offsets = {0};
  int max_len = 0;
  for (auto s : seqs) {
    if (s.empty() || s.size() > size_t(c.max_position_embeddings))
      return MakeError(Errc::kInvalidArgument, "sequence of " + std::to_string(s.size()) +
                                                   " tokens; the model takes 1.." +
                                                   std::to_string(c.max_position_embeddings));
    for (size_t i = 0; i < s.size(); i++) {
      if (s[i] < 0 || s[i] >= c.vocab_size)
        return MakeError(Errc::kInvalidArgument, "token id out of range");
      ids.push_back(s[i]);
      positions.push_back(int32_t(i));
    }
    offsets.push_back(int32_t(ids.size()));
    max_len = std::max(max_len, int(s.size()));
  }
  const int T = int(ids.size()), N = int(seqs.size());
  const size_t f = sizeof(float);
  IPFSKIT_TRY_STATUS(Grow(ids_, T * sizeof(int32_t)));
  IPFSKIT_TRY_STATUS(Grow(positions_, T * sizeof(int32_t)));
  IPFSKIT_TRY_STATUS(Grow(offsets_, (N + 1) * sizeof(int32_t)));
  IPFSKIT_TRY_STATUS(Grow(x_, size_t(T) * H * f));
  IPFSKIT_TRY_STATUS(Grow(h_, size_t(T) * H * f));
  IPFSKIT_TRY_STATUS(Grow(ctx_, size_t(T) * H * f));
  IPFSKIT_TRY_STATUS(Grow(qkv_, size_t(T) * 3 * H * f));
  IPFSKIT_TRY_STATUS(Grow(ffn_, size_t(T) * I * f));
  IPFSKIT_TRY_STATUS(Grow(pooled_, size_t(N) * model_->output_dim() * f));
  Backend& b = *backend_;
  b.Upload(ids_->data(), ids.data(), ids.size() * sizeof(int32_t));
  b.Upload(positions_->data(), positions.data(), positions.size() * sizeof(int32_t));
  b.Upload(offsets_->data(), offsets.data(), offsets.size() * sizeof(int32_t));

  const float eps = c.layer_norm_eps;
  float* x = x_->as<float>();
  float* h = h_->as<float>();
  float* ctx = ctx_->as<float>();
  b.Embed(ids_->as<int32_t>(), positions_->as<int32_t>(), T, word_->as<float>(), pos_->as<float>(),
          type0_->as<float>(), emb_ln_->as<float>(), emb_ln_->as<float>() + H, eps, H, x);
  for (const Layer& L : layers_) {
    b.Linear(*L.qkv, x, T, qkv_->as<float>(), Activation::kNone);
    b.Attention(qkv_->as<float>(), offsets_->as<int32_t>(), N, max_len, c.num_heads, c.head_dim(),
                ctx);
    b.Linear(*L.attn_out, ctx, T, h, Activation::kNone);
    b.AddLayerNorm(h, x, L.ln1->as<float>(), L.ln1->as<float>() + H, eps, T, H);  // h = LN(h + x)
    b.Linear(*L.ffn_in, h, T, ffn_->as<float>(), Activation::kGelu);
    b.Linear(*L.ffn_out, ffn_->as<float>(), T, x, Activation::kNone);
    b.AddLayerNorm(x, h, L.ln2->as<float>(), L.ln2->as<float>() + H, eps, T, H);  // x = LN(x + h)
  }
  b.Pool(x, offsets_->as<int32_t>(), N, H, model_->pooling, model_->normalize, pooled_->as<float>());
  return b.Download(out, pooled_->data(), size_t(N) * model_->output_dim() * f);
}

}  // namespace ipfskit::infer
