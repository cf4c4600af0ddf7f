// Where a model folder's files come from. The mount reads them from a UnixFS directory in the
// repo; tests and the CLI's local mode read a plain directory.
#pragma once

#include <string>
#include <string_view>

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit::infer {

// Paths are relative, '/'-separated ("1_Pooling/config.json"). Implementations must be safe to
// call from the loading thread only; loading is not concurrent per model.
class ModelFiles {
 public:
  virtual ~ModelFiles() = default;
  // The whole file; kNotFound when it does not exist.
  virtual Result<Bytes> Read(std::string_view relpath) = 0;
  virtual bool Exists(std::string_view relpath) = 0;
  // For messages: where the model comes from (a directory, a CID).
  virtual std::string Describe() const = 0;
};

class DirectoryModelFiles : public ModelFiles {
 public:
  explicit DirectoryModelFiles(std::string dir) : dir_(std::move(dir)) {}
  Result<Bytes> Read(std::string_view relpath) override;
  bool Exists(std::string_view relpath) override;
  std::string Describe() const override { return dir_; }

 private:
  std::string dir_;
};

// Rejects absolute paths and ".." so a model's config cannot name files outside its folder.
bool IsSafeRelativePath(std::string_view relpath);

}  // namespace ipfskit::infer
