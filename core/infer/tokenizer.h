// WordPiece tokenisation exactly as Hugging Face `tokenizers` runs it for BERT: added (special)
// tokens split out first, then BertNormalizer, BertPreTokenizer and WordPiece, then [CLS] .. [SEP].
// Unicode data (NFD, categories, case) comes from utf8proc. Immutable after construction, so one
// tokenizer may be used from many threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/util/result.h"

namespace ipfskit::infer {

struct TokenizerOptions {
  // BertNormalizer
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // unset: follows lowercase
  bool lowercase = true;
  // WordPiece
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
  // Post-processing
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
};

// A token matched in the text before normalisation (tokenizer.json "added_tokens").
struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool single_word = false;
  bool normalized = false;  // true: matched in the normalised text instead of the raw text
};

struct Encoding {
  std::vector<int32_t> ids;  // [CLS] pieces [SEP]
  size_t full_length = 0;    // length before truncation, [CLS] and [SEP] included
  bool truncated = false;
};

class WordPieceTokenizer {
 public:
  // Limits on what a tokenizer.json may ask for (real BERT files use 100 and a handful).
  static constexpr int64_t kMaxInputCharsPerWord = 1000;
  static constexpr size_t kMaxAddedTokens = 1024;

  // vocab.txt: one token per line, id = line number. Special tokens of `opts` present in the
  // vocabulary (and [PAD], [MASK]) are added tokens, as transformers' converter makes them.
  static Result<WordPieceTokenizer> FromVocabTxt(std::string_view vocab_txt,
                                                 const TokenizerOptions& opts = {});
  // tokenizer.json with a WordPiece model; the normalizer, pre-tokenizer and post-processor must
  // be the BERT ones (anything else is kUnsupported rather than silently different). Hostile
  // input is kMalformed, never an exception: nesting is limited (kMaxJsonDepth), every field is
  // type-checked, and token ids must be below 2 × (vocab + added entries) + 1024.
  static Result<WordPieceTokenizer> FromTokenizerJson(std::string_view json);

  // max_length counts [CLS] and [SEP]; 0 means no limit. Invalid UTF-8 bytes read as U+FFFD
  // (which the BERT cleaning step then drops).
  Encoding Encode(std::string_view text, size_t max_length = 0) const;
  // The pieces between [CLS] and [SEP], as strings (for tests and debugging).
  std::vector<std::string> Tokenize(std::string_view text) const;

  size_t vocab_size() const { return id_to_token_.size(); }
  std::optional<int32_t> TokenId(std::string_view token) const;
  const TokenizerOptions& options() const { return opts_; }

 private:
  static Result<WordPieceTokenizer> FromTokenizerJsonUnchecked(std::string_view json);
  Status Init();
  void EncodePieces(std::string_view text, std::vector<int32_t>* ids) const;
  void NormalizedPieces(const std::u32string& normalized, std::vector<int32_t>* ids) const;
  void WordPiece(const std::u32string& word, std::vector<int32_t>* ids) const;

  TokenizerOptions opts_;
  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<AddedToken> added_;
  int32_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0;
  size_t max_piece_bytes_ = 0;  // longest vocabulary entry
};

// Helpers shared with tests.
std::u32string DecodeUtf8Lossy(std::string_view s);
std::string EncodeUtf8(std::u32string_view s);
// BertNormalizer on its own.
std::u32string BertNormalize(std::u32string_view text, const TokenizerOptions& opts);

}  // namespace ipfskit::infer
