// vocab.txt and tokenising: the input is "vocab.txt\n--\ntext"; without a separator, the text
// is tokenised with a small fixed vocabulary.
#include <cstdlib>

#include "core/infer/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = fuzz::SplitParts(fuzz::Text(data, size), 2);
  static const auto kFixed = infer::WordPieceTokenizer::FromVocabTxt(
      "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n##ing\nun\n##aff\n##able\n,\n.\n!\na\nb\nc\n");
  if (parts.size() == 1) {
    if (!kFixed.ok()) abort();
    auto e = kFixed->Encode(parts[0], 64);
    if (e.ids.size() > 64 || e.ids.size() < 2) abort();
    for (int32_t id : e.ids)
      if (id < 0 || size_t(id) >= kFixed->vocab_size()) abort();
    return 0;
  }
  auto t = infer::WordPieceTokenizer::FromVocabTxt(parts[0]);
  if (!t.ok()) return 0;
  auto e = t->Encode(parts[1]);
  for (int32_t id : e.ids)
    if (id < 0 || size_t(id) >= t->vocab_size()) abort();
  (void)t->Tokenize(parts[1]);
  return 0;
}
