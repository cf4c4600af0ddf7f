#include "core/infer/bert_model.h"

#include <nlohmann/json.hpp>

#include "core/infer/safetensors.h"
#include "core/util/json.h"

namespace ipfskit::infer {
namespace {

using json = nlohmann::json;

std::string Join(const std::string& dir, const std::string& file) {
  return dir.empty() ? file : dir + "/" + file;
}

Result<json> ReadJson(ModelFiles& files, const std::string& path) {
  IPFSKIT_ASSIGN_OR_RETURN(Bytes b, files.Read(path));
  auto j = ParseUntrustedJson(AsChars(b));
  if (!j.ok()) return MakeError(Errc::kMalformed, path + ": " + j.error().message);
  return j;
}

// A typed field of a model file; a wrongly typed value is an error naming the file.
template <typename T>
Result<T> Field(Result<T> r, const std::string& file) {
  if (!r.ok()) return MakeError(Errc::kMalformed, file + ": " + r.error().message);
  return r;
}

// Optional file: a missing one is an empty object, any other failure an error.
Result<json> ReadOptionalJson(ModelFiles& files, const std::string& path) {
  if (!files.Exists(path)) return json::object();
  return ReadJson(files, path);
}

Result<int> GetInt(const json& cfg, const char* key, bool required, int dflt = 0) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) {
    if (required) return MakeError(Errc::kMalformed, std::string("config.json: missing ") + key);
    return dflt;
  }
  if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > (1 << 24))
    return MakeError(Errc::kMalformed, std::string("config.json: bad ") + key);
  return it->get<int>();
}

class TensorReader {
 public:
  explicit TensorReader(const SafetensorsFile& st) : st_(st) {}

  // Tries the known name variants: optional "bert." prefix, LayerNorm gamma/beta.
  Result<std::vector<float>> Get(const std::string& name, std::vector<uint64_t> shape) {
    std::vector<std::string> names = {name, "bert." + name};
    auto ln = name.find("LayerNorm.");
    if (ln != std::string::npos) {
      std::string alt = name;
      if (alt.ends_with(".weight")) alt.replace(alt.size() - 6, 6, "gamma");
      else if (alt.ends_with(".bias")) alt.replace(alt.size() - 4, 4, "beta");
      names.push_back(alt);
      names.push_back("bert." + alt);
    }
    const TensorInfo* t = nullptr;
    for (auto& n : names)
      if ((t = st_.Find(n))) break;
    if (!t)
      return MakeError(Errc::kNotFound, "model.safetensors: missing tensor '" + name + "'");
    if (t->shape != shape) {
      auto fmt = [](const std::vector<uint64_t>& s) {
        std::string r = "[";
        for (size_t i = 0; i < s.size(); i++) r += (i ? "," : "") + std::to_string(s[i]);
        return r + "]";
      };
      return MakeError(Errc::kMalformed, "model.safetensors: tensor '" + t->name + "' has shape " +
                                             fmt(t->shape) + ", config.json implies " + fmt(shape));
    }
    dtype_ = DTypeName(t->dtype);
    return st_.ToF32(*t);
  }

  Status Linear(const std::string& prefix, int out, int in, LinearWeights* lw) {
    IPFSKIT_ASSIGN_OR_RETURN(lw->w, Get(prefix + ".weight", {uint64_t(out), uint64_t(in)}));
    IPFSKIT_ASSIGN_OR_RETURN(lw->b, Get(prefix + ".bias", {uint64_t(out)}));
    lw->out = out;
    lw->in = in;
    return Status::Ok();
  }

  Status Norm(const std::string& prefix, int h, LayerNormWeights* ln) {
    IPFSKIT_ASSIGN_OR_RETURN(ln->gamma, Get(prefix + ".weight", {uint64_t(h)}));
    IPFSKIT_ASSIGN_OR_RETURN(ln->beta, Get(prefix + ".bias", {uint64_t(h)}));
    return Status::Ok();
  }

  const std::string& dtype() const { return dtype_; }

 private:
  const SafetensorsFile& st_;
  std::string dtype_;
};

Result<WordPieceTokenizer> LoadTokenizer(ModelFiles& files, const std::string& dir) {
  if (files.Exists(Join(dir, "tokenizer.json"))) {
    IPFSKIT_ASSIGN_OR_RETURN(Bytes b, files.Read(Join(dir, "tokenizer.json")));
    return WordPieceTokenizer::FromTokenizerJson(AsChars(b));
  }
  if (!files.Exists(Join(dir, "vocab.txt")))
    return MakeError(Errc::kNotFound, "model has neither tokenizer.json nor vocab.txt");
  IPFSKIT_ASSIGN_OR_RETURN(json tc, ReadOptionalJson(files, Join(dir, "tokenizer_config.json")));
  TokenizerOptions o;
  if (tc.contains("do_lower_case") && tc["do_lower_case"].is_boolean())
    o.lowercase = tc["do_lower_case"].get<bool>();
  if (tc.contains("strip_accents") && tc["strip_accents"].is_boolean())
    o.strip_accents = tc["strip_accents"].get<bool>();
  if (tc.contains("tokenize_chinese_chars") && tc["tokenize_chinese_chars"].is_boolean())
    o.handle_chinese_chars = tc["tokenize_chinese_chars"].get<bool>();
  for (auto [key, field] : {std::pair{"unk_token", &o.unk_token}, std::pair{"cls_token", &o.cls_token},
                            std::pair{"sep_token", &o.sep_token}})
    if (tc.contains(key) && tc[key].is_string()) *field = tc[key].get<std::string>();
  IPFSKIT_ASSIGN_OR_RETURN(Bytes b, files.Read(Join(dir, "vocab.txt")));
  return WordPieceTokenizer::FromVocabTxt(AsChars(b), o);
}

}  // namespace

std::string PoolingConfig::Describe() const {
  std::string s;
  auto add = [&](bool on, const char* n) {
    if (on) s += (s.empty() ? "" : "+") + std::string(n);
  };
  add(cls, "cls");
  add(max, "max");
  add(mean, "mean");
  add(mean_sqrt_len, "mean_sqrt_len");
  return s.empty() ? "none" : s;
}

size_t BertModel::weight_bytes() const {
  size_t n = weights.word_embeddings.size() + weights.position_embeddings.size() +
             weights.token_type_embeddings.size() + 2 * weights.embeddings_ln.gamma.size();
  for (auto& l : weights.layers)
    n += l.qkv.w.size() + l.qkv.b.size() + l.attn_out.w.size() + l.attn_out.b.size() +
         l.ffn_in.w.size() + l.ffn_in.b.size() + l.ffn_out.w.size() + l.ffn_out.b.size() +
         2 * l.attn_ln.gamma.size() + 2 * l.ffn_ln.gamma.size();
  return n * sizeof(float);
}

namespace {

Result<std::shared_ptr<const BertModel>> LoadBertModelUnchecked(ModelFiles& files) {
  auto m = std::make_shared<BertModel>();
  m->source = files.Describe();

  // modules.json: which sentence-transformers modules run, in order. Without it the folder is a
  // plain transformers model and sentence-transformers would add mean pooling.
  std::string tdir, pdir;
  bool has_pooling = false;
  if (files.Exists("modules.json")) {
    IPFSKIT_ASSIGN_OR_RETURN(json mods, ReadJson(files, "modules.json"));
    if (!mods.is_array()) return MakeError(Errc::kMalformed, "modules.json: not a list");
    bool has_transformer = false;
    for (auto& mod : mods) {
      if (!mod.is_object()) return MakeError(Errc::kMalformed, "modules.json: bad entry");
      IPFSKIT_ASSIGN_OR_RETURN(std::string type, Field(JsonString(mod, "type", ""), "modules.json"));
      IPFSKIT_ASSIGN_OR_RETURN(std::string path, Field(JsonString(mod, "path", ""), "modules.json"));
      if (!path.empty() && !IsSafeRelativePath(path))
        return MakeError(Errc::kMalformed, "modules.json: bad path '" + path + "'");
      if (type.ends_with(".Transformer")) {
        has_transformer = true;
        tdir = path;
      } else if (type.ends_with(".Pooling")) {
        has_pooling = true;
        pdir = path;
      } else if (type.ends_with(".Normalize")) {
        m->normalize = true;
      } else {
        return MakeError(Errc::kUnsupported, "modules.json: module type '" + type + "' is not supported");
      }
    }
    if (!has_transformer) return MakeError(Errc::kMalformed, "modules.json: no Transformer module");
  }

  IPFSKIT_ASSIGN_OR_RETURN(json cfg, ReadJson(files, Join(tdir, "config.json")));
  if (!cfg.is_object()) return MakeError(Errc::kMalformed, "config.json: not an object");
  IPFSKIT_ASSIGN_OR_RETURN(std::string model_type, Field(JsonString(cfg, "model_type", ""), "config.json"));
  if (model_type != "bert")
    return MakeError(Errc::kUnsupported, "config.json: architecture '" + model_type +
                                             "' is not supported (only model_type \"bert\")");
  IPFSKIT_ASSIGN_OR_RETURN(std::string act, Field(JsonString(cfg, "hidden_act", "gelu"), "config.json"));
  if (act != "gelu")
    return MakeError(Errc::kUnsupported, "config.json: hidden_act '" + act + "' is not supported");
  IPFSKIT_ASSIGN_OR_RETURN(std::string pos_type,
                           Field(JsonString(cfg, "position_embedding_type", "absolute"), "config.json"));
  if (pos_type != "absolute")
    return MakeError(Errc::kUnsupported,
                     "config.json: position_embedding_type '" + pos_type + "' is not supported");
  BertConfig& c = m->config;
  IPFSKIT_ASSIGN_OR_RETURN(c.vocab_size, GetInt(cfg, "vocab_size", true));
  IPFSKIT_ASSIGN_OR_RETURN(c.hidden_size, GetInt(cfg, "hidden_size", true));
  IPFSKIT_ASSIGN_OR_RETURN(c.num_layers, GetInt(cfg, "num_hidden_layers", true));
  IPFSKIT_ASSIGN_OR_RETURN(c.num_heads, GetInt(cfg, "num_attention_heads", true));
  IPFSKIT_ASSIGN_OR_RETURN(c.intermediate_size, GetInt(cfg, "intermediate_size", true));
  IPFSKIT_ASSIGN_OR_RETURN(c.max_position_embeddings, GetInt(cfg, "max_position_embeddings", false, 512));
  IPFSKIT_ASSIGN_OR_RETURN(c.type_vocab_size, GetInt(cfg, "type_vocab_size", false, 2));
  if (cfg.contains("layer_norm_eps") && cfg["layer_norm_eps"].is_number()) {
    // A double outside float's range does not convert (undefined behaviour): check first.
    double eps = cfg["layer_norm_eps"].get<double>();
    if (!(eps > 0 && eps < 1)) return MakeError(Errc::kMalformed, "config.json: bad layer_norm_eps");
    c.layer_norm_eps = float(eps);
  }
  if (c.hidden_size % c.num_heads != 0)
    return MakeError(Errc::kMalformed, "config.json: hidden_size is not a multiple of num_attention_heads");
  if (c.num_layers > 256) return MakeError(Errc::kMalformed, "config.json: too many layers");

  // Pooling.
  if (has_pooling) {
    const std::string pfile = Join(pdir, "config.json");
    IPFSKIT_ASSIGN_OR_RETURN(json pc, ReadJson(files, pfile));
    if (!pc.is_object()) return MakeError(Errc::kMalformed, pfile + ": not an object");
    PoolingConfig& p = m->pooling;
    IPFSKIT_ASSIGN_OR_RETURN(p.cls, Field(JsonBool(pc, "pooling_mode_cls_token", false), pfile));
    IPFSKIT_ASSIGN_OR_RETURN(p.max, Field(JsonBool(pc, "pooling_mode_max_tokens", false), pfile));
    IPFSKIT_ASSIGN_OR_RETURN(p.mean, Field(JsonBool(pc, "pooling_mode_mean_tokens", false), pfile));
    IPFSKIT_ASSIGN_OR_RETURN(p.mean_sqrt_len, Field(JsonBool(pc, "pooling_mode_mean_sqrt_len_tokens", false), pfile));
    for (const char* unsupported : {"pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
      IPFSKIT_ASSIGN_OR_RETURN(bool on, Field(JsonBool(pc, unsupported, false), pfile));
      if (on) return MakeError(Errc::kUnsupported, std::string("pooling: ") + unsupported + " is not supported");
    }
    if (p.modes() == 0) return MakeError(Errc::kMalformed, "pooling: no pooling mode is on");
    IPFSKIT_ASSIGN_OR_RETURN(int64_t wdim, Field(JsonInt(pc, "word_embedding_dimension", c.hidden_size), pfile));
    if (wdim != c.hidden_size)
      return MakeError(Errc::kMalformed, "pooling: word_embedding_dimension differs from hidden_size");
  }

  // Sequence length: sentence_bert_config.json wins (sentence-transformers uses it), capped by
  // the position table.
  IPFSKIT_ASSIGN_OR_RETURN(json sb, ReadOptionalJson(files, Join(tdir, "sentence_bert_config.json")));
  if (tdir.empty() && sb.empty()) {
    IPFSKIT_ASSIGN_OR_RETURN(sb, ReadOptionalJson(files, "sentence_bert_config.json"));
  }
  if (!sb.is_object()) return MakeError(Errc::kMalformed, "sentence_bert_config.json: not an object");
  size_t max_len = size_t(c.max_position_embeddings);
  if (sb.contains("max_seq_length") && sb["max_seq_length"].is_number_integer() &&
      sb["max_seq_length"].get<int64_t>() > 2)
    max_len = std::min(max_len, size_t(sb["max_seq_length"].get<int64_t>()));
  m->max_seq_length = max_len;

  IPFSKIT_ASSIGN_OR_RETURN(m->tokenizer, LoadTokenizer(files, tdir));
  if (m->tokenizer.vocab_size() > size_t(c.vocab_size))
    return MakeError(Errc::kMalformed, "tokenizer has " + std::to_string(m->tokenizer.vocab_size()) +
                                           " tokens but config.json vocab_size is " +
                                           std::to_string(c.vocab_size));
  IPFSKIT_ASSIGN_OR_RETURN(bool sb_lower, Field(JsonBool(sb, "do_lower_case", false), "sentence_bert_config.json"));
  if (sb_lower && !m->tokenizer.options().lowercase)
    return MakeError(Errc::kUnsupported, "sentence_bert_config.json: do_lower_case is not supported");

  // Weights.
  std::string wpath = Join(tdir, "model.safetensors");
  if (!files.Exists(wpath)) {
    if (files.Exists(Join(tdir, "pytorch_model.bin")))
      return MakeError(Errc::kUnsupported, "only model.safetensors weights are supported, not pytorch_model.bin");
    return MakeError(Errc::kNotFound, "model.safetensors not found");
  }
  IPFSKIT_ASSIGN_OR_RETURN(Bytes wbytes, files.Read(wpath));
  IPFSKIT_ASSIGN_OR_RETURN(SafetensorsFile st, SafetensorsFile::Parse(std::move(wbytes)));
  TensorReader r(st);
  const uint64_t H = c.hidden_size, I = c.intermediate_size;
  BertWeights& w = m->weights;
  IPFSKIT_ASSIGN_OR_RETURN(w.word_embeddings,
                           r.Get("embeddings.word_embeddings.weight", {uint64_t(c.vocab_size), H}));
  IPFSKIT_ASSIGN_OR_RETURN(w.position_embeddings,
                           r.Get("embeddings.position_embeddings.weight",
                                 {uint64_t(c.max_position_embeddings), H}));
  IPFSKIT_ASSIGN_OR_RETURN(w.token_type_embeddings,
                           r.Get("embeddings.token_type_embeddings.weight",
                                 {uint64_t(c.type_vocab_size), H}));
  IPFSKIT_TRY_STATUS(r.Norm("embeddings.LayerNorm", int(H), &w.embeddings_ln));
  w.layers.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; i++) {
    std::string p = "encoder.layer." + std::to_string(i);
    BertLayerWeights& L = w.layers[i];
    LinearWeights q, k, v;
    IPFSKIT_TRY_STATUS(r.Linear(p + ".attention.self.query", int(H), int(H), &q));
    IPFSKIT_TRY_STATUS(r.Linear(p + ".attention.self.key", int(H), int(H), &k));
    IPFSKIT_TRY_STATUS(r.Linear(p + ".attention.self.value", int(H), int(H), &v));
    L.qkv.out = int(3 * H);
    L.qkv.in = int(H);
    for (auto* part : {&q, &k, &v}) {  // one [3H, H] GEMM instead of three
      L.qkv.w.insert(L.qkv.w.end(), part->w.begin(), part->w.end());
      L.qkv.b.insert(L.qkv.b.end(), part->b.begin(), part->b.end());
    }
    IPFSKIT_TRY_STATUS(r.Linear(p + ".attention.output.dense", int(H), int(H), &L.attn_out));
    IPFSKIT_TRY_STATUS(r.Norm(p + ".attention.output.LayerNorm", int(H), &L.attn_ln));
    IPFSKIT_TRY_STATUS(r.Linear(p + ".intermediate.dense", int(I), int(H), &L.ffn_in));
    IPFSKIT_TRY_STATUS(r.Linear(p + ".output.dense", int(H), int(I), &L.ffn_out));
    IPFSKIT_TRY_STATUS(r.Norm(p + ".output.LayerNorm", int(H), &L.ffn_ln));
  }
  m->weights_dtype = r.dtype();
  return std::shared_ptr<const BertModel>(std::move(m));
}

}  // namespace

Result<std::shared_ptr<const BertModel>> LoadBertModel(ModelFiles& files) {
  // The loader runs on FUSE and engine threads: nothing may escape it. The checks above should
  // leave nlohmann nothing to throw; bad_alloc (a huge but consistent model) remains.
  try {
    return LoadBertModelUnchecked(files);
  } catch (const std::exception& e) {
    return MakeError(Errc::kMalformed, "model " + files.Describe() + ": " + e.what());
  }
}

}  // namespace ipfskit::infer
