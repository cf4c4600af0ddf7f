#include "core/importer/options.h"

namespace ipfskit {

Status ApplyProfile(std::string_view name, ImportOptions& o) {
  if (name == "unixfs-v0-2015" || name == "legacy-cid-v0") {
    o = ImportOptions{};
    return Status::Ok();
  }
  if (name == "unixfs-v1-2025") {
    o = ImportOptions{};
    o.cid_version = 1;
    o.raw_leaves = true;
    o.chunk_size = 1048576;
    o.width = 1024;
    o.hamt_estimation = HamtEstimation::kBlock;
    return Status::Ok();
  }
  return MakeError(Errc::kInvalidArgument,
                   "unknown profile '" + std::string(name) + "' (known: unixfs-v0-2015, unixfs-v1-2025)");
}

Result<ImportOptions> ResolveImportOptions(const ImportFlags& f) {
  ImportOptions o;
  bool profile_v1 = false;
  if (f.profile) {
    IPFSKIT_TRY_STATUS(ApplyProfile(*f.profile, o));
    profile_v1 = o.cid_version == 1;
  }
  if (f.hash) {
    IPFSKIT_ASSIGN_OR_RETURN(o.hash, ParseMultihashName(*f.hash));
    if (o.hash == mh::kIdentity) return MakeError(Errc::kInvalidArgument, "--hash identity is not allowed");
  }
  if (f.cid_version) {
    if (*f.cid_version != 0 && *f.cid_version != 1)
      return MakeError(Errc::kInvalidArgument, "--cid-version must be 0 or 1");
    o.cid_version = *f.cid_version;
    if (!profile_v1) o.raw_leaves = o.cid_version == 1;
  }
  if (o.hash != mh::kSha2_256 && o.cid_version == 0) {
    o.cid_version = 1;
    if (!f.cid_version && !profile_v1) o.raw_leaves = true;
  }
  if (f.raw_leaves) o.raw_leaves = *f.raw_leaves;
  if (f.preserve_mode || f.preserve_mtime) {
    if (f.raw_leaves && *f.raw_leaves)
      return MakeError(Errc::kInvalidArgument, "--raw-leaves cannot be used with --preserve-mode or --preserve-mtime");
    o.raw_leaves = false;
    o.preserve_mode = f.preserve_mode;
    o.preserve_mtime = f.preserve_mtime;
  }
  if (f.chunker) {
    std::string_view c = *f.chunker;
    // Content-defined chunkers are refused rather than approximated: a CID that differs from
    // Kubo's for the same flags would be worse than an error.
    if (c.substr(0, 5) == "rabin" || c.substr(0, 7) == "buzhash")
      return MakeError(Errc::kUnsupported, "chunker '" + *f.chunker +
                                               "' is not supported (its CIDs are not verified to match Kubo's); use size-N");
    if (c.substr(0, 5) != "size-")
      return MakeError(Errc::kInvalidArgument, "unsupported chunker '" + *f.chunker + "' (use size-N)");
    size_t n = 0;
    for (char ch : c.substr(5)) {
      if (ch < '0' || ch > '9' || n > (1u << 30)) return MakeError(Errc::kInvalidArgument, "bad chunk size in '" + *f.chunker + "'");
      n = n * 10 + (ch - '0');
    }
    if (n == 0) return MakeError(Errc::kInvalidArgument, "chunk size must be positive");
    if (n > 2 * 1024 * 1024 - 256)
      return MakeError(Errc::kInvalidArgument, "chunk size over the 2 MiB - 256 limit");
    o.chunk_size = n;
  }
  if (f.trickle) o.layout = Layout::kTrickle;
  o.inline_blocks = f.inline_blocks;
  if (f.inline_limit) {
    if (*f.inline_limit > 128) return MakeError(Errc::kInvalidArgument, "--inline-limit over 128");
    o.inline_limit = *f.inline_limit;
  }
  o.hidden = f.hidden;
  return o;
}

}  // namespace ipfskit
