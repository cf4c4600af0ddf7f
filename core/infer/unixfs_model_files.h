// Model folders stored in IPFS: a UnixFS directory read through the UnixfsReader, and the
// resolution of a model key (a CID, or an alias from the config's "infer.aliases") to it.
#pragma once

#include <map>
#include <memory>

#include "core/infer/bert_model.h"
#include "core/infer/model_files.h"
#include "core/reader/unixfs_reader.h"

namespace ipfskit::infer {

class UnixfsModelFiles : public ModelFiles {
 public:
  UnixfsModelFiles(std::shared_ptr<UnixfsReader> reader, Cid root) : reader_(std::move(reader)), root_(std::move(root)) {}
  Result<Bytes> Read(std::string_view relpath) override;
  bool Exists(std::string_view relpath) override;
  std::string Describe() const override { return "/ipfs/" + root_.ToString(); }

 private:
  std::shared_ptr<UnixfsReader> reader_;
  Cid root_;
};

// "bafy…" or an alias -> the model folder's CID. kNotFound for anything else.
Result<Cid> ResolveModelKey(std::string_view key, const std::map<std::string, std::string>& aliases);

// A ModelLoader (for InferenceEngine) reading model folders from IPFS.
std::function<Result<std::shared_ptr<const BertModel>>(const std::string&)> MakeUnixfsModelLoader(
    std::shared_ptr<UnixfsReader> reader, std::map<std::string, std::string> aliases);

}  // namespace ipfskit::infer
