#include "core/config/config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/util/json.h"

extern char** environ;

namespace ipfskit {
namespace {

using json = nlohmann::json;

void RecordOrigin(const json& layer, const std::string& prefix, const std::string& name,
                  std::map<std::string, std::string>& origin) {
  for (auto it = layer.begin(); it != layer.end(); ++it) {
    std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object())
      RecordOrigin(*it, path, name, origin);
    else
      origin[path] = name;
  }
}

Result<json> ReadJsonFile(const std::string& path, bool* present) {
  *present = false;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT || errno == ENOTDIR) return json::object();
    return MakeError(Errc::kInvalidArgument, "cannot read config " + path + ": " + std::strerror(errno));
  }
  *present = true;
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = ParseUntrustedJson(ss.str(), /*ignore_comments=*/true);
  if (!parsed.ok())
    return MakeError(Errc::kInvalidArgument, "config " + path + " is not valid JSON: " + parsed.error().message);
  json j = std::move(*parsed);
  if (!j.is_object()) return MakeError(Errc::kInvalidArgument, "config " + path + " must hold a JSON object");
  return j;
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

Result<bool> ParseBool(const std::string& name, std::string v) {
  v = Trim(v);
  for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) return false;
  return MakeError(Errc::kInvalidArgument, name + "=" + v + " is not a boolean (use 1/0, true/false)");
}

// "1073741824", "512M", "2G", "1.5GiB" -> bytes (binary multiples).
Result<uint64_t> ParseBytes(const std::string& name, const std::string& text) {
  std::string v = Trim(text);
  char* end = nullptr;
  errno = 0;
  double num = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || errno || num < 0)
    return MakeError(Errc::kInvalidArgument, name + "=" + text + " is not a size in bytes");
  std::string unit = Trim(end);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  double mult = 1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
  else return MakeError(Errc::kInvalidArgument, name + "=" + text + ": unknown unit '" + unit + "'");
  // Converting a double outside [0, 2^64) to uint64_t is undefined: check first (NaN fails too).
  const double bytes = num * mult;
  if (!(bytes < 18446744073709551616.0))
    return MakeError(Errc::kInvalidArgument, name + "=" + text + " is too large (at most 2^64-1 bytes)");
  return static_cast<uint64_t>(bytes);
}

Status CheckUrl(const std::string& what, const std::string& url) {
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return Status::Ok();
  return MakeError(Errc::kInvalidArgument, what + " '" + url + "' must start with http:// or https://");
}

json KuboJson(const std::string& v) {
  std::string t = Trim(v);
  if (t.empty() || t == "none") return nullptr;
  return t;
}

std::map<std::string, std::string> ProcessEnv() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("IPFSKIT_", 0) != 0) continue;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

template <typename T>
Status ReadField(const json& obj, const char* key, const std::string& path, T* out) {
  if (!obj.contains(key) || obj[key].is_null()) return Status::Ok();
  const json& v = obj[key];
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return MakeError(Errc::kInvalidArgument, "config " + path + " must be true or false");
    *out = v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return MakeError(Errc::kInvalidArgument, "config " + path + " must be a string");
    *out = v.get<std::string>();
  } else {
    if (!v.is_number_integer() && !v.is_number_unsigned())
      return MakeError(Errc::kInvalidArgument, "config " + path + " must be an integer");
    if (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)
      return MakeError(Errc::kInvalidArgument, "config " + path + " must not be negative");
    if (std::is_signed_v<T> && v.is_number_unsigned() &&
        v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      return MakeError(Errc::kInvalidArgument, "config " + path + " is too large");
    *out = v.get<T>();
  }
  return Status::Ok();
}

}  // namespace

void MergeJson(json& base, const json& patch) {
  if (!patch.is_object() || !base.is_object()) {
    base = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_object() && base.contains(it.key()) && base[it.key()].is_object())
      MergeJson(base[it.key()], *it);
    else
      base[it.key()] = *it;
  }
}

json DefaultConfigJson() {
  NetConfig n;
  return {
      // Defaults only: tests and scripts always override these with loopback addresses.
      {"gateways", {"https://trustless-gateway.link", "https://ipfs.io"}},
      {"kubo_api", "http://127.0.0.1:5001"},
      {"offline", false},
      {"cache", {{"max_bytes", uint64_t{2} << 30}, {"verify_on_read", false}}},
      {"net",
       {{"request_timeout_ms", n.request_timeout_ms},
        {"connect_timeout_ms", n.connect_timeout_ms},
        {"overall_timeout_ms", n.overall_timeout_ms},
        {"low_speed_bytes", n.low_speed_bytes},
        {"low_speed_seconds", n.low_speed_seconds},
        {"max_rounds", n.max_rounds},
        {"retry_base_ms", n.retry_base_ms},
        {"retry_max_ms", n.retry_max_ms},
        {"backoff_base_ms", n.backoff_base_ms},
        {"backoff_max_ms", n.backoff_max_ms},
        {"max_inflight", n.max_inflight},
        {"max_connections", n.max_connections},
        {"max_host_connections", n.max_host_connections},
        {"prefetch_workers", n.prefetch_workers},
        {"prefetch_queue", n.prefetch_queue},
        {"car_stream_window_bytes", n.car_stream_window_bytes},
        {"car_tree_max_bytes", n.car_tree_max_bytes},
        {"hedge_after_ms", n.hedge_after_ms}}},
  };
}

Result<Config> ConfigFromJson(const json& j) {
  Config c;
  c.raw = j;
  if (j.contains("gateways") && !j["gateways"].is_null()) {
    const json& g = j["gateways"];
    if (!g.is_array()) return MakeError(Errc::kInvalidArgument, "config gateways must be a list of URLs");
    for (const json& u : g) {
      if (!u.is_string()) return MakeError(Errc::kInvalidArgument, "config gateways must be a list of URLs");
      std::string url = Trim(u.get<std::string>());
      IPFSKIT_TRY_STATUS(CheckUrl("gateway", url));
      c.gateways.push_back(url);
    }
  }
  IPFSKIT_TRY_STATUS(ReadField(j, "kubo_api", "kubo_api", &c.kubo_api));
  if (!c.kubo_api.empty()) IPFSKIT_TRY_STATUS(CheckUrl("kubo_api", c.kubo_api));
  IPFSKIT_TRY_STATUS(ReadField(j, "offline", "offline", &c.offline));
  if (j.contains("cache")) {
    const json& cj = j["cache"];
    if (!cj.is_object()) return MakeError(Errc::kInvalidArgument, "config cache must be an object");
    IPFSKIT_TRY_STATUS(ReadField(cj, "max_bytes", "cache.max_bytes", &c.cache_max_bytes));
    IPFSKIT_TRY_STATUS(ReadField(cj, "verify_on_read", "cache.verify_on_read", &c.cache_verify_on_read));
  }
  if (j.contains("net")) {
    const json& nj = j["net"];
    if (!nj.is_object()) return MakeError(Errc::kInvalidArgument, "config net must be an object");
    NetConfig& n = c.net;
    struct F {
      const char* key;
      int64_t* out;
    } fields[] = {{"request_timeout_ms", &n.request_timeout_ms},
                  {"connect_timeout_ms", &n.connect_timeout_ms},
                  {"overall_timeout_ms", &n.overall_timeout_ms},
                  {"low_speed_bytes", &n.low_speed_bytes},
                  {"low_speed_seconds", &n.low_speed_seconds},
                  {"max_rounds", &n.max_rounds},
                  {"retry_base_ms", &n.retry_base_ms},
                  {"retry_max_ms", &n.retry_max_ms},
                  {"backoff_base_ms", &n.backoff_base_ms},
                  {"backoff_max_ms", &n.backoff_max_ms},
                  {"max_inflight", &n.max_inflight},
                  {"max_connections", &n.max_connections},
                  {"max_host_connections", &n.max_host_connections},
                  {"prefetch_workers", &n.prefetch_workers},
                  {"prefetch_queue", &n.prefetch_queue},
                  {"car_stream_window_bytes", &n.car_stream_window_bytes},
                  {"car_tree_max_bytes", &n.car_tree_max_bytes},
                  {"hedge_after_ms", &n.hedge_after_ms}};
    for (auto& f : fields) IPFSKIT_TRY_STATUS(ReadField(nj, f.key, std::string("net.") + f.key, f.out));
    if (n.request_timeout_ms <= 0 || n.overall_timeout_ms <= 0 || n.connect_timeout_ms <= 0)
      return MakeError(Errc::kInvalidArgument, "config net timeouts must be positive: every network wait is bounded");
    if (n.max_inflight <= 0) return MakeError(Errc::kInvalidArgument, "config net.max_inflight must be positive");
    if (n.car_stream_window_bytes < 0 || n.car_tree_max_bytes < 0)
      return MakeError(Errc::kInvalidArgument, "config net.car_stream_window_bytes and net.car_tree_max_bytes must be >= 0");
    if (n.hedge_after_ms < 0)
      return MakeError(Errc::kInvalidArgument, "config net.hedge_after_ms must be >= 0 (0: no hedging)");
  }
  return c;
}

Result<Config> LoadConfig(const ConfigLoadOptions& options) {
  std::map<std::string, std::string> origin;
  json merged = DefaultConfigJson();
  RecordOrigin(merged, "", "default", origin);

  auto file_layer = [&](const std::string& path, const std::string& name) -> Status {
    if (path.empty()) return Status::Ok();
    bool present = false;
    auto j = ReadJsonFile(path, &present);
    if (!j.ok()) return j.error();
    if (!present) return Status::Ok();
    // Validate each file on its own so an error names the file it is in.
    json probe = DefaultConfigJson();
    MergeJson(probe, *j);
    auto checked = ConfigFromJson(probe);
    if (!checked.ok()) return MakeError(Errc::kInvalidArgument, path + ": " + checked.error().message);
    MergeJson(merged, *j);
    RecordOrigin(*j, "", name, origin);
    return Status::Ok();
  };
  IPFSKIT_TRY_STATUS(file_layer(options.etc_path, options.etc_path));
  if (!options.repo_path.empty()) {
    std::string repo_file = options.repo_path + "/config.json";
    IPFSKIT_TRY_STATUS(file_layer(repo_file, repo_file));
  }

  const auto env = options.env ? *options.env : ProcessEnv();
  json env_layer = json::object();
  if (auto it = env.find("IPFSKIT_GATEWAYS"); it != env.end()) {
    json list = json::array();
    std::stringstream ss(it->second);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item = Trim(item);
      if (item.empty()) continue;
      Status st = CheckUrl("IPFSKIT_GATEWAYS entry", item);
      if (!st.ok()) return st.error();
      list.push_back(item);
    }
    env_layer["gateways"] = list;
  }
  if (auto it = env.find("IPFSKIT_KUBO_API"); it != env.end()) env_layer["kubo_api"] = KuboJson(it->second);
  if (auto it = env.find("IPFSKIT_OFFLINE"); it != env.end()) {
    IPFSKIT_ASSIGN_OR_RETURN(bool off, ParseBool("IPFSKIT_OFFLINE", it->second));
    env_layer["offline"] = off;
  }
  if (auto it = env.find("IPFSKIT_CACHE_MAX_BYTES"); it != env.end()) {
    IPFSKIT_ASSIGN_OR_RETURN(uint64_t n, ParseBytes("IPFSKIT_CACHE_MAX_BYTES", it->second));
    env_layer["cache"]["max_bytes"] = n;
  }
  MergeJson(merged, env_layer);
  RecordOrigin(env_layer, "", "environment", origin);

  const ConfigOverrides& o = options.overrides;
  json flags = json::object();
  if (o.gateways) flags["gateways"] = *o.gateways;
  if (o.kubo_api) flags["kubo_api"] = KuboJson(*o.kubo_api);
  if (o.offline) flags["offline"] = *o.offline;
  if (o.cache_max_bytes) flags["cache"]["max_bytes"] = *o.cache_max_bytes;
  MergeJson(merged, flags);
  RecordOrigin(flags, "", "flags", origin);

  IPFSKIT_ASSIGN_OR_RETURN(Config c, ConfigFromJson(merged));
  c.origin = std::move(origin);
  c.kubo_api_is_default = c.origin["kubo_api"] == "default";
  if (c.offline) {
    // Offline wins over every source setting: no network at all.
    c.gateways.clear();
    c.kubo_api.clear();
  }
  return c;
}

}  // namespace ipfskit
