// Known CIDs that Kubo prints, and the HAMT rules of the formats spec.
#include <gtest/gtest.h>

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

TEST(Importer, TsizeAddsUpAndLayoutDepth) {
  ImportOptions o = Profile("unixfs-v0-2015");
  o.chunk_size = 10;
  o.width = 3;
  Bytes data(95, 'x');  // 10 leaves -> depth 3 with width 3
  auto r = ImportBytes(data, o, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->filesize, 95u);
  EXPECT_GT(r->tsize, 95u);
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
