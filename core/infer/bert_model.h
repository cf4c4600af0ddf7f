// A BERT-family sentence encoder loaded from a sentence-transformers folder: config, tokenizer,
// pooling, normalisation and float32 host weights. Immutable once loaded; backends copy the
// weights into their own layout (BackendModel), after which the host copy may be dropped.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/infer/model_files.h"
#include "core/infer/tokenizer.h"
#include "core/util/result.h"

namespace ipfskit::infer {

struct BertConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int max_position_embeddings = 0;
  int type_vocab_size = 0;
  float layer_norm_eps = 1e-12f;
  int head_dim() const { return num_heads ? hidden_size / num_heads : 0; }
};

// sentence-transformers Pooling: several modes may be on; their outputs are concatenated in the
// order cls, max, mean, mean_sqrt_len (models/Pooling.py).
struct PoolingConfig {
  bool cls = false;
  bool max = false;
  bool mean = true;
  bool mean_sqrt_len = false;
  int modes() const { return int(cls) + int(max) + int(mean) + int(mean_sqrt_len); }
  std::string Describe() const;  // "mean", "cls+mean"
};

struct LinearWeights {
  std::vector<float> w;  // [out, in], as nn.Linear stores it: y = x·Wᵀ + b
  std::vector<float> b;  // [out]
  int out = 0, in = 0;
};

struct LayerNormWeights {
  std::vector<float> gamma, beta;
};

struct BertLayerWeights {
  LinearWeights qkv;  // query, key, value stacked: [3H, H]
  LinearWeights attn_out;
  LayerNormWeights attn_ln;
  LinearWeights ffn_in;   // [I, H]
  LinearWeights ffn_out;  // [H, I]
  LayerNormWeights ffn_ln;
};

struct BertWeights {
  std::vector<float> word_embeddings;      // [vocab, H]
  std::vector<float> position_embeddings;  // [max_pos, H]
  std::vector<float> token_type_embeddings;  // [types, H]; row 0 is the one used
  LayerNormWeights embeddings_ln;
  std::vector<BertLayerWeights> layers;
};

struct BertModel {
  BertConfig config;
  PoolingConfig pooling;
  bool normalize = false;
  size_t max_seq_length = 512;  // in tokens, [CLS] and [SEP] included
  std::string source;           // ModelFiles::Describe()
  std::string weights_dtype;    // dtype found in model.safetensors ("F32", "F16", "BF16")
  WordPieceTokenizer tokenizer;
  BertWeights weights;

  int output_dim() const { return config.hidden_size * pooling.modes(); }
  size_t weight_bytes() const;  // float32 bytes of all weights
};

// Reads config.json, model.safetensors, vocab.txt / tokenizer.json, modules.json,
// 1_Pooling/config.json, sentence_bert_config.json and validates shapes. Errors say which file
// and which tensor is wrong: kNotFound (missing file/tensor), kMalformed (bad file or shape),
// kUnsupported (another architecture, activation or dtype).
Result<std::shared_ptr<const BertModel>> LoadBertModel(ModelFiles& files);

}  // namespace ipfskit::infer
