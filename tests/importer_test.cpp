// Known CIDs that Kubo prints, and the HAMT rules of the formats spec.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>

#include "core/importer/importer.h"
#include "core/importer/murmur3.h"

namespace ipfskit {
namespace {

std::string Cid0(ByteView data, const ImportOptions& o) {
  auto r = ImportBytes(data, o, nullptr);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r->cid.ToString() : "";
}

ImportOptions Profile(const char* name) {
  ImportOptions o;
  EXPECT_TRUE(ApplyProfile(name, o).ok());
  return o;
}

TEST(Importer, KuboSmallFileVectors) {
  EXPECT_EQ(Cid0(AsBytes("hello\n"), Profile("unixfs-v0-2015")), "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN");
  EXPECT_EQ(Cid0(AsBytes("hello\n"), Profile("unixfs-v1-2025")),
            "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am");
  EXPECT_EQ(Cid0({}, Profile("unixfs-v0-2015")), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  EXPECT_EQ(Cid0({}, Profile("unixfs-v1-2025")), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  ImportOptions inl = Profile("unixfs-v1-2025");
  inl.inline_blocks = true;
  EXPECT_EQ(Cid0({}, inl), "bafkqaaa");
}

TEST(Importer, EmptyDirectories) {
  ImportOptions v0 = Profile("unixfs-v0-2015");
  DagWriter w0(v0, nullptr);
  auto d0 = BuildDirectory({}, w0);
  ASSERT_TRUE(d0.ok());
  EXPECT_EQ(d0->cid.ToString(), "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  ImportOptions v1 = Profile("unixfs-v1-2025");
  v1.inline_blocks = true;
  DagWriter w1(v1, nullptr);
  auto d1 = BuildDirectory({}, w1);
  ASSERT_TRUE(d1.ok());
  EXPECT_EQ(d1->cid.ToString(), "bafyaabakaieac");
}

TEST(Importer, MurmurBucketOfKnownName) {
  // Formats spec §1.8: "470.txt" lands in bucket 0x00, next byte 0x6E.
  uint64_t h = Murmur3X64_64("470.txt", 7);
  EXPECT_EQ(h >> 56, 0x00u);
  EXPECT_EQ((h >> 48) & 0xff, 0x6Eu);
}

TEST(Importer, FlagInterplayFollowsKubo) {
  ImportFlags f;
  f.cid_version = 1;
  auto o = ResolveImportOptions(f);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->raw_leaves);
  f.raw_leaves = false;
  EXPECT_FALSE(ResolveImportOptions(f)->raw_leaves);
  ImportFlags g;
  g.hash = "sha2-512";
  EXPECT_EQ(ResolveImportOptions(g)->cid_version, 1u);
  ImportFlags bad;
  bad.chunker = "rabin-1-2-3";
  EXPECT_FALSE(ResolveImportOptions(bad).ok());
  bad.chunker = "size-0";
  EXPECT_FALSE(ResolveImportOptions(bad).ok());
  bad.chunker = "size-4194304";
  EXPECT_FALSE(ResolveImportOptions(bad).ok());
  ImportFlags meta;
  meta.preserve_mode = true;
  meta.raw_leaves = true;
  EXPECT_FALSE(ResolveImportOptions(meta).ok());
  ImportFlags prof;
  prof.profile = "nope";
  EXPECT_FALSE(ResolveImportOptions(prof).ok());
}

// Keeps every block the importer writes, so that a test can walk the DAG it produced.
class MapSink : public BlockSink {
 public:
  Status Put(const Cid& cid, ByteView data, bool) override {
    blocks_[cid] = Bytes(data.begin(), data.end());
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  const std::map<Cid, Bytes>& blocks() const { return blocks_; }

 private:
  std::map<Cid, Bytes> blocks_;
};

struct TreeShape {
  size_t leaves = 0;
  size_t min_leaf_depth = SIZE_MAX;
  size_t max_leaf_depth = 0;
};

// Walks the DAG from `cid`; a leaf is a raw block or a dag-pb node without links.
void Walk(const std::map<Cid, Bytes>& blocks, const Cid& cid, size_t depth, TreeShape& shape) {
  auto it = blocks.find(cid);
  ASSERT_NE(it, blocks.end()) << "block " << cid.ToString() << " was not written";
  std::vector<PbLink> links;
  if (cid.codec() == codec::kDagPb) {
    auto n = DecodePbNode(it->second);
    ASSERT_TRUE(n.ok()) << n.error().message;
    links = n->links;
  }
  if (links.empty()) {
    shape.leaves++;
    shape.min_leaf_depth = std::min(shape.min_leaf_depth, depth);
    shape.max_leaf_depth = std::max(shape.max_leaf_depth, depth);
    return;
  }
  for (const auto& l : links) Walk(blocks, l.hash, depth + 1, shape);
}

// Depth (links from the root to the deepest leaf) that each layout must give for `n` chunks and
// at most `w` links per node, from the layouts' definitions rather than from the importer:
// balanced: every leaf at the smallest d with w^d >= n.
size_t BalancedDepth(size_t n, size_t w) {
  size_t d = 0;
  for (size_t cap = 1; cap < n; cap *= w) d++;
  return d;
}
// trickle (go-unixfs, 4 repeats per layer): a node takes w leaves, then 4 subtrees of each depth
// 1, 2, ...; a subtree of depth j holds at most w * 5^(j-1) leaves and, once full, is j deep, so
// the layers below depth j hold w * 5^(j-1) leaves with the node's own. The deepest leaf is
// under the last full layer or in the first subtree of the layer being filled.
size_t TrickleDepth(size_t n, size_t w) {
  if (n <= w) return 1;
  size_t before = w, j = 1;  // before = w * 5^(j-1): leaves ahead of layer j
  while (before * 5 < n) before *= 5, j++;
  size_t first = std::min(n - before, before);  // leaves in the first subtree of layer j
  return 1 + std::max(j - 1, TrickleDepth(first, w));
}

TEST(Importer, TsizeAddsUpAndLayoutDepth) {
  ImportOptions o = Profile("unixfs-v0-2015");
  o.chunk_size = 10;
  o.width = 3;
  Bytes data(95, 'x');  // 10 leaves -> depth 3 with width 3
  auto r = ImportBytes(data, o, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->filesize, 95u);
  EXPECT_GT(r->tsize, 95u);
  EXPECT_EQ(BalancedDepth(10, 3), 3u);  // the helpers themselves, on hand-counted trees
  EXPECT_EQ(TrickleDepth(3, 3), 1u);
  EXPECT_EQ(TrickleDepth(4, 3), 2u);    // 3 leaves + one depth-1 subtree of 1
  EXPECT_EQ(TrickleDepth(15, 3), 2u);   // 3 + 4 * 3
  EXPECT_EQ(TrickleDepth(18, 3), 2u);   // + a depth-2 subtree's own 3 leaves, at depth 2
  EXPECT_EQ(TrickleDepth(19, 3), 3u);   // + its first depth-1 subtree

  for (Layout layout : {Layout::kBalanced, Layout::kTrickle}) {
    bool balanced = layout == Layout::kBalanced;
    // Sizes at and just past each capacity step of the layout.
    std::vector<size_t> counts = balanced ? std::vector<size_t>{1, 2, 3, 4, 9, 10, 27, 28}
                                          : std::vector<size_t>{2, 3, 4, 15, 16, 18, 19, 75, 76, 93, 94};
    for (size_t n : counts) {
      SCOPED_TRACE(std::string(balanced ? "balanced " : "trickle ") + std::to_string(n) + " chunks");
      ImportOptions lo = o;
      lo.layout = layout;
      Bytes file(n * lo.chunk_size - 3);  // a short last chunk
      for (size_t i = 0; i < file.size(); i++) file[i] = uint8_t(i * 7 + i / 10);
      MapSink sink;
      auto root = ImportBytes(file, lo, &sink);
      ASSERT_TRUE(root.ok()) << root.error().message;
      EXPECT_EQ(root->filesize, file.size());
      TreeShape shape;
      Walk(sink.blocks(), root->cid, 0, shape);
      EXPECT_EQ(shape.leaves, n);
      if (balanced) {
        EXPECT_EQ(shape.max_leaf_depth, BalancedDepth(n, lo.width));
        EXPECT_EQ(shape.min_leaf_depth, shape.max_leaf_depth) << "balanced leaves at one depth";
      } else {
        EXPECT_EQ(shape.max_leaf_depth, TrickleDepth(n, lo.width));
        EXPECT_EQ(shape.min_leaf_depth, 1u) << "trickle roots hold leaves directly";
      }
    }
  }
}

}  // namespace
}  // namespace ipfskit

#include <filesystem>
#include <fstream>

#include "tests/support/paths.h"

namespace ipfskit {
namespace {

TEST(Importer, SymlinkTreeMatchesKuboFixture) {
  // path_gateway_unixfs/symlink.car: `ipfs add -r testfiles` with foo = "content\n", bar -> foo.
  std::string dir = testing::MakeTempDir("ipfskit-symlink");
  std::filesystem::create_directories(dir + "/testfiles");
  std::ofstream(dir + "/testfiles/foo") << "content\n";
  std::filesystem::create_symlink("foo", dir + "/testfiles/bar");
  ImportOptions o;
  AddPathOptions po;
  po.recursive = true;
  std::vector<std::string> lines;
  auto r = AddPath(dir + "/testfiles", o, po, nullptr,
                   [&](const AddedItem& i) { lines.push_back(i.entry.cid.ToString() + " " + i.path); });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cid.ToString(), "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt");
  // Kubo's order: files as added (sorted), then directories.
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "QmTB8BaCJdCH5H3k7GrxJsxgDNmNYGGR71C58ERkivXoj5 testfiles/bar");
  EXPECT_EQ(lines[1], "Qme2y5HA5kvo2jAx13UsnV5bQJVijiAJCPvaW3JGQWhvJZ testfiles/foo");
  EXPECT_EQ(lines[2], "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt testfiles");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ipfskit

namespace ipfskit {
namespace {

TEST(Importer, FastLeafEncoderMatchesTheGenericOne) {
  // The one-copy leaf encoder must produce the bytes of the field-by-field encoder.
  for (size_t n : {size_t{0}, size_t{1}, size_t{127}, size_t{128}, size_t{16383}, size_t{16384}, size_t{262144}}) {
    Bytes chunk(n, 0x5a);
    for (UnixfsType t : {UnixfsType::kFile, UnixfsType::kRaw}) {
      UnixfsData d;
      d.type = t;
      if (n) d.data = chunk;
      d.filesize = n;
      PbNode node;
      node.data = EncodeUnixfs(d);
      EXPECT_EQ(EncodeLeafNode(chunk, t), EncodePbNode(node)) << n;
    }
  }
}

}  // namespace
}  // namespace ipfskit
