#include "core/infer/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/util/json.h"

namespace ipfskit::infer {
namespace {

utf8proc_category_t Category(char32_t c) { return utf8proc_category(utf8proc_int32_t(c)); }

// Rust's char::is_whitespace (the White_Space property) is exactly categories Zs, Zl, Zp plus
// U+0009..U+000D and U+0085.
bool IsWhitespace(char32_t c) {
  if ((c >= 9 && c <= 13) || c == 0x85) return true;
  auto cat = Category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// What the reference drops as "control" (is_other in the Rust code): categories Cc, Cf and Co.
// Unassigned code points (Cn) are kept (and become [UNK]). \t \n \r count as space.
bool IsControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO:
      return true;
    default:
      return false;
  }
}

bool IsPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool IsChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool IsWordChar(char32_t c) {
  if (c == '_') return true;
  auto cat = Category(c);
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xC0 | c >> 6);
    out += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += char(0xE0 | c >> 12);
    out += char(0x80 | (c >> 6 & 0x3F));
    out += char(0x80 | (c & 0x3F));
  } else {
    out += char(0xF0 | c >> 18);
    out += char(0x80 | (c >> 12 & 0x3F));
    out += char(0x80 | (c >> 6 & 0x3F));
    out += char(0x80 | (c & 0x3F));
  }
}

std::u32string Nfd(std::u32string_view s) {
  std::string utf8 = EncodeUtf8(s);
  utf8proc_uint8_t* out = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                        utf8proc_ssize_t(utf8.size()), &out,
                        utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  if (n < 0) return std::u32string(s);  // only on invalid input, which EncodeUtf8 never makes
  std::u32string r = DecodeUtf8Lossy(std::string_view(reinterpret_cast<char*>(out), size_t(n)));
  std::free(out);
  return r;
}

// Leftmost-longest match of any token in `tokens` (Aho-Corasick LeftmostLongest in the
// reference); returns false when none matches.
template <typename Str>
bool FindAdded(const Str& text, size_t from, const std::vector<const AddedToken*>& tokens,
               const std::vector<Str>& contents, size_t* at, size_t* len, int32_t* id) {
  for (size_t i = from; i < text.size(); i++) {
    size_t best = 0;
    int32_t best_id = -1;
    for (size_t k = 0; k < tokens.size(); k++) {
      const Str& c = contents[k];
      if (c.empty() || c.size() <= best || text.compare(i, c.size(), c) != 0) continue;
      best = c.size();
      best_id = tokens[k]->id;
    }
    if (best_id >= 0) {
      *at = i;
      *len = best;
      *id = best_id;
      return true;
    }
  }
  return false;
}

}  // namespace

std::u32string DecodeUtf8Lossy(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t c;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                              utf8proc_ssize_t(s.size() - i), &c);
    if (n <= 0) {
      out += char32_t(0xFFFD);
      i++;
    } else {
      out += char32_t(c);
      i += size_t(n);
    }
  }
  return out;
}

std::string EncodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendUtf8(out, c);
  return out;
}

std::u32string BertNormalize(std::u32string_view text, const TokenizerOptions& opts) {
  std::u32string s;
  s.reserve(text.size());
  for (char32_t c : text) {
    if (opts.clean_text) {
      if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
      if (IsWhitespace(c)) c = ' ';
    }
    if (opts.handle_chinese_chars && IsChineseChar(c)) {
      s += ' ';
      s += c;
      s += ' ';
    } else {
      s += c;
    }
  }
  if (opts.strip_accents.value_or(opts.lowercase)) {
    std::u32string d = Nfd(s);
    s.clear();
    for (char32_t c : d)
      if (Category(c) != UTF8PROC_CATEGORY_MN) s += c;
  }
  if (opts.lowercase) {
    std::u32string l;
    l.reserve(s.size());
    for (char32_t c : s) {
      if (c == 0x130) {  // the one code point whose full lowercase mapping has two characters
        l += U'i';
        l += char32_t(0x307);
      } else {
        l += char32_t(utf8proc_tolower(utf8proc_int32_t(c)));
      }
    }
    s = std::move(l);
  }
  return s;
}

Status WordPieceTokenizer::Init() {
  auto need = [&](const std::string& t, int32_t* id) -> Status {
    auto it = vocab_.find(t);
    if (it == vocab_.end())
      return MakeError(Errc::kMalformed, "tokenizer: token '" + t + "' is not in the vocabulary");
    *id = it->second;
    return Status::Ok();
  };
  max_piece_bytes_ = 0;
  for (const auto& [tok, id] : vocab_) max_piece_bytes_ = std::max(max_piece_bytes_, tok.size());
  IPFSKIT_TRY_STATUS(need(opts_.unk_token, &unk_id_));
  IPFSKIT_TRY_STATUS(need(opts_.cls_token, &cls_id_));
  IPFSKIT_TRY_STATUS(need(opts_.sep_token, &sep_id_));
  return Status::Ok();
}

Result<WordPieceTokenizer> WordPieceTokenizer::FromVocabTxt(std::string_view text,
                                                            const TokenizerOptions& opts) {
  WordPieceTokenizer t;
  t.opts_ = opts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    int32_t id = int32_t(t.id_to_token_.size());
    t.id_to_token_.emplace_back(line);
    t.vocab_.emplace(std::string(line), id);  // first occurrence wins, as in transformers
  }
  if (t.id_to_token_.empty()) return MakeError(Errc::kMalformed, "tokenizer: vocab.txt is empty");
  IPFSKIT_TRY_STATUS(t.Init());
  for (const std::string& s : {std::string("[PAD]"), opts.unk_token, opts.cls_token,
                               opts.sep_token, std::string("[MASK]")}) {
    auto it = t.vocab_.find(s);
    if (it != t.vocab_.end()) t.added_.push_back(AddedToken{s, it->second, false, false});
  }
  return t;
}

Result<WordPieceTokenizer> WordPieceTokenizer::FromTokenizerJson(std::string_view text) {
  // tokenizer.json comes from a model folder, i.e. from the network: nothing may escape.
  try {
    return FromTokenizerJsonUnchecked(text);
  } catch (const std::exception& e) {
    return MakeError(Errc::kMalformed, std::string("tokenizer.json: ") + e.what());
  }
}

Result<WordPieceTokenizer> WordPieceTokenizer::FromTokenizerJsonUnchecked(std::string_view text) {
  auto bad = [](const std::string& m) { return MakeError(Errc::kMalformed, "tokenizer.json: " + m); };
  auto unsupported = [](const std::string& m) {
    return MakeError(Errc::kUnsupported, "tokenizer.json: " + m);
  };
  auto parsed = ParseUntrustedJson(text);
  if (!parsed.ok()) return bad(parsed.error().message);
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return bad("not a JSON object");
  // A wrongly typed field is an error naming it, never a nlohmann type_error.
  auto str = [&](const nlohmann::json& obj, const char* key, const char* dflt) -> Result<std::string> {
    auto r = JsonString(obj, key, dflt);
    if (!r.ok()) return bad(r.error().message);
    return r;
  };
  auto boolean = [&](const nlohmann::json& obj, const char* key, bool dflt) -> Result<bool> {
    auto r = JsonBool(obj, key, dflt);
    if (!r.ok()) return bad(r.error().message);
    return r;
  };
  WordPieceTokenizer t;
  TokenizerOptions& o = t.opts_;
  auto model = j.find("model");
  if (model == j.end() || !model->is_object()) return bad("no model");
  IPFSKIT_ASSIGN_OR_RETURN(std::string mtype, str(*model, "type", ""));
  if (mtype != "WordPiece") return unsupported("model type '" + mtype + "' is not WordPiece");
  IPFSKIT_ASSIGN_OR_RETURN(o.unk_token, str(*model, "unk_token", "[UNK]"));
  IPFSKIT_ASSIGN_OR_RETURN(o.continuing_subword_prefix, str(*model, "continuing_subword_prefix", "##"));
  // WordPiece's search is quadratic in the word length: refuse what no real model uses.
  auto max_chars = JsonInt(*model, "max_input_chars_per_word", 100, 0, kMaxInputCharsPerWord);
  if (!max_chars.ok()) return bad(max_chars.error().message);
  o.max_input_chars_per_word = size_t(*max_chars);
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object() || vocab->empty()) return bad("no model.vocab");
  // Ids index a table, so they must stay within what the file can hold: below the number of
  // entries it has, with some room for gaps. A few bytes must not allocate gigabytes.
  auto added = j.find("added_tokens");
  const bool has_added = added != j.end() && added->is_array();
  const int64_t max_id = int64_t(vocab->size() + (has_added ? added->size() : 0)) * 2 + 1024;
  for (auto& [tok, idv] : vocab->items()) {
    if (!idv.is_number_unsigned() || idv.get<uint64_t>() >= uint64_t(max_id))
      return bad("bad id for token '" + tok + "' (ids must be integers below " + std::to_string(max_id) + ")");
    int32_t id = idv.get<int32_t>();
    if (size_t(id) >= t.id_to_token_.size()) t.id_to_token_.resize(id + 1);
    t.id_to_token_[id] = tok;
    t.vocab_[tok] = id;
  }

  auto norm = j.find("normalizer");
  if (norm == j.end() || norm->is_null()) {
    o.clean_text = o.handle_chinese_chars = o.lowercase = false;
    o.strip_accents = false;
  } else if (norm->is_object() && norm->value("type", nlohmann::json()) == "BertNormalizer") {
    IPFSKIT_ASSIGN_OR_RETURN(o.clean_text, boolean(*norm, "clean_text", true));
    IPFSKIT_ASSIGN_OR_RETURN(o.handle_chinese_chars, boolean(*norm, "handle_chinese_chars", true));
    IPFSKIT_ASSIGN_OR_RETURN(o.lowercase, boolean(*norm, "lowercase", true));
    auto sa = norm->find("strip_accents");
    if (sa != norm->end() && sa->is_boolean()) o.strip_accents = sa->get<bool>();
  } else {
    return unsupported("normalizer is not BertNormalizer");
  }
  auto pre = j.find("pre_tokenizer");
  if (pre == j.end() || !pre->is_object() || pre->value("type", nlohmann::json()) != "BertPreTokenizer")
    return unsupported("pre_tokenizer is not BertPreTokenizer");

  auto post = j.find("post_processor");
  if (post == j.end() || !post->is_object()) return unsupported("no post_processor");
  IPFSKIT_ASSIGN_OR_RETURN(std::string ptype, str(*post, "type", ""));
  if (ptype == "BertProcessing") {
    auto cls = post->find("cls"), sep = post->find("sep");
    if (cls == post->end() || sep == post->end() || !cls->is_array() || !sep->is_array() ||
        cls->size() != 2 || sep->size() != 2 || !(*cls)[0].is_string() || !(*sep)[0].is_string())
      return bad("BertProcessing without cls/sep");
    o.cls_token = (*cls)[0].get<std::string>();
    o.sep_token = (*sep)[0].get<std::string>();
  } else if (ptype == "TemplateProcessing") {
    auto single = post->find("single");
    if (single == post->end() || !single->is_array() || single->size() != 3 ||
        !(*single)[0].contains("SpecialToken") || !(*single)[1].contains("Sequence") ||
        !(*single)[2].contains("SpecialToken"))
      return unsupported("TemplateProcessing 'single' is not [CLS] $A [SEP]");
    IPFSKIT_ASSIGN_OR_RETURN(o.cls_token, str((*single)[0]["SpecialToken"], "id", ""));
    IPFSKIT_ASSIGN_OR_RETURN(o.sep_token, str((*single)[2]["SpecialToken"], "id", ""));
  } else {
    return unsupported("post_processor '" + ptype + "' is not BertProcessing/TemplateProcessing");
  }

  if (has_added) {
    if (added->size() > kMaxAddedTokens)  // each is tried at every position of every input
      return unsupported(std::to_string(added->size()) + " added tokens; at most " +
                         std::to_string(kMaxAddedTokens) + " are supported");
    for (auto& a : *added) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string() ||
          !a.contains("id") || !a["id"].is_number_unsigned())
        return bad("bad added_tokens entry");
      if (a["id"].get<uint64_t>() >= uint64_t(max_id))
        return bad("added token id " + std::to_string(a["id"].get<uint64_t>()) + " is not below " +
                   std::to_string(max_id));
      AddedToken at{a["content"].get<std::string>(), a["id"].get<int32_t>(), false, false};
      IPFSKIT_ASSIGN_OR_RETURN(at.single_word, boolean(a, "single_word", false));
      IPFSKIT_ASSIGN_OR_RETURN(at.normalized, boolean(a, "normalized", false));
      if (at.id < 0) return bad("bad added token id");
      if (size_t(at.id) >= t.id_to_token_.size()) t.id_to_token_.resize(at.id + 1);
      t.id_to_token_[at.id] = at.content;
      t.added_.push_back(std::move(at));
    }
  }
  IPFSKIT_TRY_STATUS(t.Init());
  return t;
}

std::optional<int32_t> WordPieceTokenizer::TokenId(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it != vocab_.end()) return it->second;
  for (auto& a : added_)
    if (a.content == token) return a.id;
  return std::nullopt;
}

void WordPieceTokenizer::WordPiece(const std::u32string& word, std::vector<int32_t>* ids) const {
  if (word.size() > opts_.max_input_chars_per_word) {
    ids->push_back(unk_id_);
    return;
  }
  std::vector<size_t> off(word.size() + 1, 0);  // byte offset of each char in `utf8`
  std::string utf8;
  for (size_t i = 0; i < word.size(); i++) {
    off[i] = utf8.size();
    AppendUtf8(utf8, word[i]);
  }
  off[word.size()] = utf8.size();
  size_t mark = ids->size();
  std::string piece;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    while (start < end) {
      // No vocabulary entry is longer than max_piece_bytes_: skip those without hashing them.
      if ((start > 0 ? opts_.continuing_subword_prefix.size() : 0) + off[end] - off[start] > max_piece_bytes_) {
        end--;
        continue;
      }
      piece.clear();
      if (start > 0) piece = opts_.continuing_subword_prefix;
      piece.append(utf8, off[start], off[end] - off[start]);
      auto it = vocab_.find(piece);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
      end--;
    }
    if (found < 0) {  // any part that fails makes the whole word unknown
      ids->resize(mark);
      ids->push_back(unk_id_);
      return;
    }
    ids->push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::NormalizedPieces(const std::u32string& s,
                                          std::vector<int32_t>* ids) const {
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) WordPiece(word, ids);
    word.clear();
  };
  for (char32_t c : s) {
    if (IsWhitespace(c)) {
      flush();
    } else if (IsPunctuation(c)) {
      flush();
      word = c;
      flush();
    } else {
      word += c;
    }
  }
  flush();
}

void WordPieceTokenizer::EncodePieces(std::string_view text, std::vector<int32_t>* ids) const {
  std::vector<const AddedToken*> raw, normalized;
  for (auto& a : added_) (a.normalized ? normalized : raw).push_back(&a);
  std::vector<std::string> raw_contents;
  for (auto* a : raw) raw_contents.push_back(a->content);
  std::vector<std::u32string> norm_contents;
  for (auto* a : normalized) norm_contents.push_back(BertNormalize(DecodeUtf8Lossy(a->content), opts_));

  auto process_segment = [&](std::string_view seg) {
    if (seg.empty()) return;
    std::u32string n = BertNormalize(DecodeUtf8Lossy(seg), opts_);
    size_t pos = 0, at, len;
    int32_t id;
    while (FindAdded(n, pos, normalized, norm_contents, &at, &len, &id)) {
      NormalizedPieces(n.substr(pos, at - pos), ids);
      ids->push_back(id);
      pos = at + len;
    }
    NormalizedPieces(n.substr(pos), ids);
  };

  std::string s(text);
  size_t pos = 0, scan = 0, at, len;
  int32_t id;
  while (FindAdded(s, scan, raw, raw_contents, &at, &len, &id)) {
    const AddedToken* tok = nullptr;
    for (auto* a : raw)
      if (a->id == id) tok = a;
    if (tok && tok->single_word) {
      // Only a whole word matches: no word character right before or after.
      std::u32string before = DecodeUtf8Lossy(std::string_view(s).substr(0, at));
      std::u32string after = DecodeUtf8Lossy(std::string_view(s).substr(at + len, 4));
      if ((!before.empty() && IsWordChar(before.back())) ||
          (!after.empty() && IsWordChar(after.front()))) {
        scan = at + 1;
        continue;
      }
    }
    process_segment(std::string_view(s).substr(pos, at - pos));
    ids->push_back(id);
    pos = scan = at + len;
  }
  process_segment(std::string_view(s).substr(pos));
}

Encoding WordPieceTokenizer::Encode(std::string_view text, size_t max_length) const {
  Encoding e;
  e.ids.push_back(cls_id_);
  EncodePieces(text, &e.ids);
  e.ids.push_back(sep_id_);
  e.full_length = e.ids.size();
  if (max_length >= 2 && e.ids.size() > max_length) {
    e.ids.resize(max_length - 1);
    e.ids.push_back(sep_id_);
    e.truncated = true;
  }
  return e;
}

std::vector<std::string> WordPieceTokenizer::Tokenize(std::string_view text) const {
  std::vector<int32_t> ids;
  EncodePieces(text, &ids);
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(id_to_token_[id]);
  return out;
}

}  // namespace ipfskit::infer
