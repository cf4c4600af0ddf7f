#include "core/infer/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/util/json.h"

namespace ipfskit::infer {
namespace {

struct DTypeEntry {
  const char* name;
  DType type;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {"BOOL", DType::kBool, 1}, {"U8", DType::kU8, 1},       {"I8", DType::kI8, 1},
    {"F8_E5M2", DType::kF8E5M2, 1}, {"F8_E4M3", DType::kF8E4M3, 1}, {"I16", DType::kI16, 2},
    {"U16", DType::kU16, 2},   {"F16", DType::kF16, 2},     {"BF16", DType::kBF16, 2},
    {"I32", DType::kI32, 4},   {"U32", DType::kU32, 4},     {"F32", DType::kF32, 4},
    {"I64", DType::kI64, 8},   {"U64", DType::kU64, 8},     {"F64", DType::kF64, 8},
};

Error Bad(std::string msg) { return MakeError(Errc::kMalformed, "safetensors: " + std::move(msg)); }

// a*b with overflow detection.
bool MulOk(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace

const char* DTypeName(DType t) {
  for (auto& e : kDTypes)
    if (e.type == t) return e.name;
  return "?";
}

size_t DTypeSize(DType t) {
  for (auto& e : kDTypes)
    if (e.type == t) return e.size;
  return 0;
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float BFloat16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Result<SafetensorsFile> SafetensorsFile::Parse(Bytes file) {
  if (file.size() < 8) return Bad("file shorter than its 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | file[i];
  if (n > kSafetensorsMaxHeader) return Bad("header length " + std::to_string(n) + " over the limit");
  if (n > file.size() - 8) return Bad("header length " + std::to_string(n) + " past end of file");
  if (n < 2 || file[8] != '{') return Bad("header does not start with '{'");
  auto parsed = ParseUntrustedJson(AsChars(ByteView(file).subspan(8, n)));
  if (!parsed.ok()) return Bad("header is not a JSON object: " + parsed.error().message);
  const nlohmann::json& header = *parsed;
  if (!header.is_object()) return Bad("header is not a JSON object");

  SafetensorsFile out;
  out.data_start_ = 8 + n;
  uint64_t buffer_len = file.size() - out.data_start_;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return Bad("__metadata__ is not an object");
      for (auto& [k, mv] : v.items()) {
        if (!mv.is_string()) return Bad("__metadata__ value for '" + k + "' is not a string");
        out.metadata_[k] = mv.get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) return Bad("entry '" + name + "' is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) return Bad("entry '" + name + "' has no dtype");
    if (sh == v.end() || !sh->is_array()) return Bad("entry '" + name + "' has no shape");
    if (off == v.end() || !off->is_array() || off->size() != 2)
      return Bad("entry '" + name + "' has no data_offsets pair");
    TensorInfo t;
    t.name = name;
    std::string dts = dt->get<std::string>();
    const DTypeEntry* e = nullptr;
    for (auto& d : kDTypes)
      if (dts == d.name) e = &d;
    if (!e) return Bad("entry '" + name + "' has unknown dtype '" + dts + "'");
    t.dtype = e->type;
    uint64_t bytes = e->size;
    for (auto& d : *sh) {
      if (!d.is_number_unsigned()) return Bad("entry '" + name + "' has a bad shape");
      uint64_t dim = d.get<uint64_t>();
      t.shape.push_back(dim);
      if (!MulOk(bytes, dim, &bytes)) return Bad("entry '" + name + "' size overflows");
    }
    if (!(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      return Bad("entry '" + name + "' has bad data_offsets");
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.end < t.begin || t.end - t.begin != bytes)
      return Bad("entry '" + name + "' data_offsets span " + std::to_string(t.end - t.begin) +
                 " bytes but dtype and shape need " + std::to_string(bytes));
    out.tensors_.push_back(std::move(t));
  }
  std::sort(out.tensors_.begin(), out.tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t expect = 0;
  for (size_t i = 0; i < out.tensors_.size(); i++) {
    auto& t = out.tensors_[i];
    if (t.begin != expect)
      return Bad("tensor '" + t.name + "' starts at " + std::to_string(t.begin) + ", expected " +
                 std::to_string(expect) + " (offsets must be contiguous from 0)");
    expect = t.end;
    out.index_[t.name] = i;
  }
  if (expect != buffer_len)
    return Bad("tensors end at " + std::to_string(expect) + " but the data buffer is " +
               std::to_string(buffer_len) + " bytes");
  out.file_ = std::move(file);
  return out;
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

ByteView SafetensorsFile::Data(const TensorInfo& t) const {
  return ByteView(file_.data() + data_start_ + t.begin, t.end - t.begin);
}

Result<std::vector<float>> SafetensorsFile::ToF32(const TensorInfo& t) const {
  ByteView d = Data(t);
  uint64_t n = t.numel();
  std::vector<float> out(n);
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), d.data(), n * 4);  // memcpy: the data need not be aligned
      break;
    case DType::kF16:
    case DType::kBF16:
      for (uint64_t i = 0; i < n; i++) {
        uint16_t h = uint16_t(d[2 * i] | d[2 * i + 1] << 8);
        out[i] = t.dtype == DType::kF16 ? HalfToFloat(h) : BFloat16ToFloat(h);
      }
      break;
    default:
      return MakeError(Errc::kUnsupported, "safetensors: tensor '" + t.name + "' has dtype " +
                                               DTypeName(t.dtype) + "; only F32, F16, BF16 are supported");
  }
  return out;
}

}  // namespace ipfskit::infer
