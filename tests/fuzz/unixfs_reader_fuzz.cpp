// UnixfsReader over fuzzed blocks. The input is a run of CAR sections (varint(len) ‖ CID ‖
// block); the first CID is the root. Blocks are served without hash checks, and a CID that no
// section names gets the block its last digest byte picks, so links in fuzzed blocks lead
// somewhere and the walks (including ones that repeat blocks) are exercised.
#include <unordered_map>

#include "core/multiformats/varint.h"
#include "core/reader/unixfs_reader.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

namespace {
class FuzzBlocks : public BlockGetter {
 public:
  std::unordered_map<Cid, Bytes> by_cid;
  std::vector<const Bytes*> by_index;
  Result<Block> Get(const Cid& cid) override {
    if (cid.is_identity()) return IdentityBlock(cid);
    auto it = by_cid.find(cid);
    if (it != by_cid.end()) return Block::Owned(it->second);
    ByteView d = cid.digest();
    if (by_index.empty() || d.empty()) return MakeError(Errc::kNotFound, "no block");
    return Block::Owned(*by_index[d.back() % by_index.size()]);
  }
  bool Has(const Cid& cid) override { return Get(cid).ok(); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto blocks = std::make_shared<FuzzBlocks>();
  ByteView in = fuzz::Input(data, size);
  Cid root;
  while (!in.empty() && blocks->by_cid.size() < 64) {
    auto len = ReadUvarint(in);
    if (!len.ok() || *len > in.size()) break;
    ByteView section = in.first(*len);
    in = in.subspan(*len);
    auto cid = Cid::ReadFrom(section);
    if (!cid.ok()) break;
    if (!root.valid()) root = *cid;
    auto [it, added] = blocks->by_cid.emplace(*cid, Bytes(section.begin(), section.end()));
    if (added) blocks->by_index.push_back(&it->second);
  }
  if (!root.valid()) return 0;
  UnixfsReader reader(blocks);
  auto info = reader.Stat(root);
  Bytes out(4096);
  (void)reader.Read(root, 0, out);
  (void)reader.Read(root, 1000, std::span<uint8_t>(out).first(100));
  (void)reader.LeavesFor(root, 0, 1 << 20);
  auto list = reader.ListDir(root);
  (void)reader.Lookup(root, "a");
  if (list.ok() && !list->empty()) {
    (void)reader.Lookup(root, list->front().name);
    (void)reader.Resolve(root, list->front().name + "/b");
  }
  return 0;
}
