// RFC 4648 section 4 base64 (standard alphabet, '=' padding), as OpenAI's embeddings API uses it
// for encoding_format=base64. Multibase's 'm' (no padding) lives in core/multiformats.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/util/bytes.h"

namespace ipfskit {

std::string Base64Encode(ByteView data);
// Accepts padded and unpadded input; nullopt on any character outside the alphabet or a length
// that no encoding has (a single trailing character).
std::optional<Bytes> Base64Decode(std::string_view text);

}  // namespace ipfskit
