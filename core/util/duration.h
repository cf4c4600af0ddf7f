// Durations as Kubo's flags and config take them.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/util/result.h"

namespace ipfskit {

// Go's time.ParseDuration ("300ms", "1.5h", "2h45m", "0"), in milliseconds (rounded up, so a
// positive duration never becomes 0). kInvalidArgument for anything else or a negative value.
Result<int64_t> ParseGoDuration(std::string_view text);

}  // namespace ipfskit
