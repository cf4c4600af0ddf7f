// Helpers shared by the fuzz targets: splitting one input into several files or blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/bytes.h"

namespace ipfskit::fuzz {

inline ByteView Input(const uint8_t* data, size_t size) { return ByteView(data, size); }
inline std::string_view Text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Splits on a separator line ("\n--\n"): the parts of a multi-file input, in order.
inline std::vector<std::string_view> SplitParts(std::string_view text, size_t max_parts) {
  std::vector<std::string_view> parts;
  constexpr std::string_view kSep = "\n--\n";
  while (parts.size() + 1 < max_parts) {
    size_t at = text.find(kSep);
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + kSep.size());
  }
  parts.push_back(text);
  return parts;
}

}  // namespace ipfskit::fuzz
