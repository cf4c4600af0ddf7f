// safetensors: a u64 little-endian header length N, N bytes of JSON header, then the data buffer.
// Parse() validates the whole layout (see ../shared/specs/bert-embeddings.md) before any tensor
// is read, so a malformed file is one clear error and never an out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit::infer {

enum class DType { kBool, kU8, kI8, kF8E5M2, kF8E4M3, kI16, kU16, kF16, kBF16, kI32, kU32, kF32,
                   kI64, kU64, kF64 };

const char* DTypeName(DType t);
size_t DTypeSize(DType t);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer, [begin, end)
  uint64_t end = 0;
  uint64_t numel() const;
};

// Readers cap the header at this size, as the reference implementation does.
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

// Owns the file's bytes. Immutable after Parse(), so safe to share between threads.
class SafetensorsFile {
 public:
  static Result<SafetensorsFile> Parse(Bytes file);

  const TensorInfo* Find(std::string_view name) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The raw little-endian bytes of one tensor (no alignment promised).
  ByteView Data(const TensorInfo& t) const;
  // F32, F16 and BF16 widened to float32; any other dtype is kUnsupported.
  Result<std::vector<float>> ToF32(const TensorInfo& t) const;

 private:
  Bytes file_;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;  // sorted by begin
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

float HalfToFloat(uint16_t h);
float BFloat16ToFloat(uint16_t h);

}  // namespace ipfskit::infer
