#include "core/infer/unixfs_model_files.h"

namespace ipfskit::infer {

Result<Bytes> UnixfsModelFiles::Read(std::string_view relpath) {
  if (!IsSafeRelativePath(relpath)) return MakeError(Errc::kInvalidArgument, "unsafe path '" + std::string(relpath) + "'");
  auto cid = reader_->Resolve(root_, relpath);
  if (!cid.ok()) return MakeError(cid.error().code == Errc::kNotFound ? Errc::kNotFound : cid.error().code,
                                  Describe() + "/" + std::string(relpath) + ": " + cid.error().message);
  IPFSKIT_ASSIGN_OR_RETURN(NodeInfo info, reader_->Stat(*cid));
  if (info.kind != NodeKind::kFile) return MakeError(Errc::kIsDir, Describe() + "/" + std::string(relpath) + " is not a file");
  Bytes out(info.size);
  IPFSKIT_ASSIGN_OR_RETURN(size_t n, reader_->Read(*cid, 0, out));
  out.resize(n);
  return out;
}

bool UnixfsModelFiles::Exists(std::string_view relpath) {
  return IsSafeRelativePath(relpath) && reader_->Resolve(root_, relpath).ok();
}

Result<Cid> ResolveModelKey(std::string_view key, const std::map<std::string, std::string>& aliases) {
  if (auto it = aliases.find(std::string(key)); it != aliases.end()) {
    std::string_view v = it->second;
    if (v.substr(0, 6) == "/ipfs/") v.remove_prefix(6);
    auto c = Cid::Parse(v);
    if (!c.ok()) return MakeError(Errc::kInvalidArgument, "alias '" + std::string(key) + "': " + c.error().message);
    return c;
  }
  auto c = Cid::Parse(key);
  if (!c.ok()) return MakeError(Errc::kNotFound, "'" + std::string(key) + "' is neither a CID nor a model alias");
  return c;
}

std::function<Result<std::shared_ptr<const BertModel>>(const std::string&)> MakeUnixfsModelLoader(
    std::shared_ptr<UnixfsReader> reader, std::map<std::string, std::string> aliases) {
  return [reader, aliases](const std::string& key) -> Result<std::shared_ptr<const BertModel>> {
    IPFSKIT_ASSIGN_OR_RETURN(Cid cid, ResolveModelKey(key, aliases));
    UnixfsModelFiles files(reader, cid);
    return LoadBertModel(files);
  };
}

}  // namespace ipfskit::infer
