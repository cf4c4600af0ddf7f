// Config: where blocks come from and how much to cache.
//
// Precedence, lowest first (each layer overrides only what it sets):
//   1. built-in defaults
//   2. /etc/ipfskit/config.json
//   3. <repo>/config.json
//   4. environment: IPFSKIT_GATEWAYS (comma list; empty = none), IPFSKIT_KUBO_API (URL; empty or
//      "none" = none), IPFSKIT_OFFLINE (1/true/yes or 0/false/no), IPFSKIT_CACHE_MAX_BYTES
//   5. command-line flags (ConfigOverrides, filled by the CLI)
// JSON files are merged key by key (objects recursively), so a repo file that sets only
// "cache": {"max_bytes": …} keeps the gateways from /etc. `offline` turns every network source
// off whatever else is set.
//
// File format (every key optional):
//   {
//     "gateways": ["https://trustless-gateway.link", "https://ipfs.io"],
//     "kubo_api": "http://127.0.0.1:5001",         // or null for none
//     "offline": false,
//     "cache": {"max_bytes": 2147483648, "verify_on_read": false},
//     "net": {"request_timeout_ms": 15000, "connect_timeout_ms": 3000, "overall_timeout_ms": 60000,
//             "low_speed_bytes": 1024, "low_speed_seconds": 5, "max_rounds": 3,
//             "retry_base_ms": 250, "retry_max_ms": 4000, "backoff_base_ms": 500,
//             "backoff_max_ms": 60000, "max_inflight": 16, "max_connections": 32,
//             "max_host_connections": 8, "prefetch_workers": 4, "prefetch_queue": 4096,
//             "hedge_after_ms": 250},
//     "mount": {…}, "infer": {…},                     // other components' sections, kept as-is
//                                                     // ("infer": core/infer/embedding_service.h
//                                                     //  InferSettings, remotes included)
//     "serve": {"embeddings": {…}},                   // core/serve/embeddings_handler.h
//     "ipns": {…}, "dns": {…}                         // read by core/ipns/namesys.h (IpnsSettingsFromConfig)
//   }
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace ipfskit {

struct NetConfig {
  int64_t request_timeout_ms = 15000;
  int64_t connect_timeout_ms = 3000;
  int64_t overall_timeout_ms = 60000;
  int64_t low_speed_bytes = 1024;
  int64_t low_speed_seconds = 5;
  int64_t max_rounds = 3;
  int64_t retry_base_ms = 250;
  int64_t retry_max_ms = 4000;
  int64_t backoff_base_ms = 500;
  int64_t backoff_max_ms = 60000;
  int64_t max_inflight = 16;
  int64_t max_connections = 32;
  int64_t max_host_connections = 8;
  int64_t prefetch_workers = 4;
  int64_t prefetch_queue = 4096;
  // CAR streams from gateways (the mount): a sequential reader's window, and the largest
  // directory tree asked for as one CAR. 0 turns each off (block by block only).
  int64_t car_stream_window_bytes = int64_t{32} << 20;
  int64_t car_tree_max_bytes = int64_t{32} << 20;
  // A block the first source has not sent after this long is asked of the next source too
  // (SourceChain's hedged fetch). 0 turns hedging off.
  int64_t hedge_after_ms = 250;
};

struct Config {
  std::vector<std::string> gateways;
  std::string kubo_api;             // empty: no Kubo
  bool kubo_api_is_default = true;  // true: use Kubo only if it answers a probe at startup
  bool offline = false;
  uint64_t cache_max_bytes = uint64_t{2} << 30;
  bool cache_verify_on_read = false;
  NetConfig net;
  // The merged JSON of every layer (defaults, files, env, flags), including sections other
  // components own ("mount", "infer", …). Read yours from here.
  nlohmann::json raw = nlohmann::json::object();
  // Where each setting came from, for `ipfskit config show`-style output: key -> layer name.
  std::map<std::string, std::string> origin;
};

// Values the CLI sets from its flags; unset fields leave the lower layers alone.
struct ConfigOverrides {
  std::optional<std::vector<std::string>> gateways;  // --gateway URL (repeatable)
  std::optional<std::string> kubo_api;                // --kubo-api URL ("" or "none": no Kubo)
  std::optional<bool> offline;                        // --offline
  std::optional<uint64_t> cache_max_bytes;            // --cache-max-bytes
};

struct ConfigLoadOptions {
  std::string repo_path;                              // empty: skip the repo layer
  std::string etc_path = "/etc/ipfskit/config.json";  // empty: skip
  // Environment to read; nullopt: the process environment.
  std::optional<std::map<std::string, std::string>> env;
  ConfigOverrides overrides;
};

// The built-in defaults as JSON (layer 1).
nlohmann::json DefaultConfigJson();

// Loads and merges every layer. A missing file is skipped; an unreadable or malformed file, a
// bad environment value or a wrongly typed key is kInvalidArgument naming its layer.
Result<Config> LoadConfig(const ConfigLoadOptions& options);

// Builds a Config from one merged JSON document (used by LoadConfig; exposed for tests).
Result<Config> ConfigFromJson(const nlohmann::json& merged);

// Writes `patch` into `base`: objects merge key by key, anything else replaces.
void MergeJson(nlohmann::json& base, const nlohmann::json& patch);

}  // namespace ipfskit
