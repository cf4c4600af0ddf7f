#include "core/util/json.h"

namespace ipfskit {

using json = nlohmann::json;

namespace {

// Depth of [ and { outside strings (and comments, when they are allowed). Brackets inside a
// malformed document may be miscounted; the parser rejects that document anyway.
Status CheckDepth(std::string_view t, bool comments, size_t max_depth) {
  size_t depth = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '"') {
      for (++i; i < t.size() && t[i] != '"'; ++i)
        if (t[i] == '\\') ++i;
    } else if (comments && c == '/' && i + 1 < t.size() && t[i + 1] == '/') {
      while (i < t.size() && t[i] != '\n') ++i;
    } else if (comments && c == '/' && i + 1 < t.size() && t[i + 1] == '*') {
      size_t end = t.find("*/", i + 2);
      i = end == std::string_view::npos ? t.size() : end + 1;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return MakeError(Errc::kMalformed, "JSON nested deeper than " + std::to_string(max_depth) +
                                               " levels (at byte " + std::to_string(i) + ")");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::Ok();
}

const json* Member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Error WrongType(std::string_view key, const char* what) {
  return MakeError(Errc::kMalformed, "'" + std::string(key) + "' must be " + what);
}

}  // namespace

Result<json> ParseUntrustedJson(std::string_view text, bool ignore_comments, size_t max_depth) {
  IPFSKIT_TRY_STATUS(CheckDepth(text, ignore_comments, max_depth));
  try {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false, ignore_comments);
    if (j.is_discarded()) return MakeError(Errc::kMalformed, "not valid JSON");
    return j;
  } catch (const std::exception& e) {  // bad_alloc, or anything nlohmann throws regardless
    return MakeError(Errc::kMalformed, std::string("cannot parse JSON: ") + e.what());
  }
}

Result<std::string> JsonString(const json& obj, std::string_view key, std::string fallback) {
  const json* v = Member(obj, key);
  if (!v) return fallback;
  if (!v->is_string()) return WrongType(key, "a string");
  return v->get<std::string>();
}

Result<bool> JsonBool(const json& obj, std::string_view key, bool fallback) {
  const json* v = Member(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) return WrongType(key, "true or false");
  return v->get<bool>();
}

Result<int64_t> JsonInt(const json& obj, std::string_view key, int64_t fallback, int64_t min, int64_t max) {
  const json* v = Member(obj, key);
  if (!v) return fallback;
  auto range = [&] {
    return WrongType(key, ("an integer from " + std::to_string(min) + " to " + std::to_string(max)).c_str());
  };
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return range();
    if (static_cast<int64_t>(u) < min || static_cast<int64_t>(u) > max) return range();
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) return range();
  int64_t i = v->get<int64_t>();
  if (i < min || i > max) return range();
  return i;
}

}  // namespace ipfskit
