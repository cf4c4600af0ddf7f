// JSON from places we do not control (model files, tokenizer.json, safetensors headers,
// config.json): parsed with a nesting limit and without exceptions, and read with typed
// accessors that turn a wrongly typed value into an error instead of a nlohmann type_error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/util/result.h"

namespace ipfskit {

// Deeper than any model or config file we read; shallow enough that nlohmann's recursive
// copy, compare and dump (and our own walkers) cannot run out of stack.
inline constexpr size_t kMaxJsonDepth = 128;

// Parses `text` as one JSON value. Malformed JSON, or arrays/objects nested deeper than
// max_depth (checked by a scan before nlohmann builds anything), is kMalformed; never throws.
Result<nlohmann::json> ParseUntrustedJson(std::string_view text, bool ignore_comments = false,
                                          size_t max_depth = kMaxJsonDepth);

// obj[key] when obj is an object holding key with a non-null value, else `fallback`. A value
// of another type is kMalformed "'key' must be a string" (…a boolean, …an integer).
Result<std::string> JsonString(const nlohmann::json& obj, std::string_view key, std::string fallback);
Result<bool> JsonBool(const nlohmann::json& obj, std::string_view key, bool fallback);
// An integer in [min, max]; a float, or an integer out of range, is kMalformed.
Result<int64_t> JsonInt(const nlohmann::json& obj, std::string_view key, int64_t fallback,
                        int64_t min = INT64_MIN, int64_t max = INT64_MAX);

}  // namespace ipfskit
