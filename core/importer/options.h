// Import options mirroring `ipfs add` flags and Kubo's import profiles.
#pragma once

#include <optional>
#include <string>

#include "core/multiformats/cid.h"
#include "core/util/result.h"

namespace ipfskit {

enum class Layout { kBalanced, kTrickle };
enum class HamtEstimation { kLinks, kBlock };

struct ImportOptions {
  uint64_t cid_version = 0;
  uint64_t hash = mh::kSha2_256;
  bool raw_leaves = false;
  size_t chunk_size = 262144;
  size_t width = 174;  // max links per file node
  Layout layout = Layout::kBalanced;
  bool inline_blocks = false;
  size_t inline_limit = 32;
  bool hidden = false;       // include dotfiles (-H)
  size_t hamt_threshold = 262144;
  size_t hamt_fanout = 256;
  HamtEstimation hamt_estimation = HamtEstimation::kLinks;
  // UnixFS 1.5 metadata; when set they are written into every file/dir node imported.
  bool preserve_mode = false;
  bool preserve_mtime = false;

  // CID of dag-pb nodes and of leaves, following Kubo's rules (§1.3 of the formats spec).
  uint64_t NodeCidVersion() const { return cid_version; }
};

// Applies a named profile ("unixfs-v0-2015"/"legacy-cid-v0", "unixfs-v1-2025").
Status ApplyProfile(std::string_view name, ImportOptions& o);

// Kubo's flag interplay: --cid-version=1 turns raw leaves on unless --raw-leaves was explicit;
// a hash other than sha2-256 forces CIDv1. Call after parsing flags.
struct ImportFlags {
  std::optional<std::string> profile;
  std::optional<int> cid_version;
  std::optional<bool> raw_leaves;
  std::optional<std::string> chunker;  // "size-N"
  std::optional<std::string> hash;
  bool trickle = false;
  bool inline_blocks = false;
  std::optional<size_t> inline_limit;
  bool hidden = false;
  bool preserve_mode = false;
  bool preserve_mtime = false;
};
Result<ImportOptions> ResolveImportOptions(const ImportFlags& f);

}  // namespace ipfskit
