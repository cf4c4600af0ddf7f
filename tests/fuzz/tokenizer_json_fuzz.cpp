// tokenizer.json: load, then tokenise a fixed text with what loaded.
#include "core/infer/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = infer::WordPieceTokenizer::FromTokenizerJson(fuzz::Text(data, size));
  if (!t.ok()) return 0;
  (void)t->Encode("Hello, world! [CLS] héllo 你好 [MASK] unaffable", 16);
  (void)t->Tokenize("The quick brown fox.");
  return 0;
}
