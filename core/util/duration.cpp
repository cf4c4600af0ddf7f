#include "core/util/duration.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace ipfskit {

Result<int64_t> ParseGoDuration(std::string_view text) {
  auto bad = [&] { return MakeError(Errc::kInvalidArgument, "invalid duration \"" + std::string(text) + "\" (use e.g. 500ms, 30s, 1m)"); };
  std::string_view t = text;
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  if (t == "0") return int64_t{0};
  if (t.empty() || t.front() == '-') return bad();
  double ns = 0;
  while (!t.empty()) {
    size_t i = 0;
    std::string num;
    while (i < t.size() && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.')) num += t[i++];
    if (num.empty() || num == "." || std::count(num.begin(), num.end(), '.') > 1) return bad();
    t.remove_prefix(i);
    size_t u = 0;
    while (u < t.size() && !((t[u] >= '0' && t[u] <= '9') || t[u] == '.')) ++u;
    std::string_view unit = t.substr(0, u);
    t.remove_prefix(u);
    double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else return bad();
    ns += std::stod(num) * scale;
  }
  if (ns > 9.2e18) return bad();
  return static_cast<int64_t>(std::ceil(ns / 1e6));
}

}  // namespace ipfskit
