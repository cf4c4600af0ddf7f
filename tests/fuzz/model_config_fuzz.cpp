// A model folder's JSON files through LoadBertModel: the input is config.json, modules.json,
// 1_Pooling/config.json, sentence_bert_config.json and tokenizer.json separated by "\n--\n"
// lines (missing trailing parts are absent files). There are no weights, so a load that gets
// that far ends in "model.safetensors not found".
#include <map>

#include "core/infer/bert_model.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

namespace {
class MemoryModelFiles : public infer::ModelFiles {
 public:
  std::map<std::string, std::string, std::less<>> files;
  Result<Bytes> Read(std::string_view p) override {
    auto it = files.find(p);
    if (it == files.end()) return MakeError(Errc::kNotFound, std::string(p) + " not found");
    return ToBytes(it->second);
  }
  bool Exists(std::string_view p) override { return files.find(p) != files.end(); }
  std::string Describe() const override { return "fuzz"; }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* kNames[] = {"config.json", "modules.json", "1_Pooling/config.json",
                                 "sentence_bert_config.json", "tokenizer.json"};
  auto parts = fuzz::SplitParts(fuzz::Text(data, size), 5);
  MemoryModelFiles files;
  for (size_t i = 0; i < parts.size(); ++i) files.files[kNames[i]] = std::string(parts[i]);
  (void)infer::LoadBertModel(files);
  return 0;
}
