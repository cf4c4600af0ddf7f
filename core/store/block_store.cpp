#include "core/store/block_store.h"

namespace ipfskit {

Result<Block> IdentityBlock(const Cid& cid) {
  if (!cid.is_identity()) return MakeError(Errc::kNotFound, "not an identity CID");
  ByteView d = cid.digest();
  return Block::Owned(Bytes(d.begin(), d.end()));
}

}  // namespace ipfskit
