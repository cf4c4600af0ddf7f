// The IPFS project's gateway-conformance CARs, imported and read back as their READMEs say,
// and their DAGs rebuilt by our importer with identical CIDs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/car/car.h"
#include "core/importer/importer.h"
#include "core/reader/unixfs_reader.h"
#include "core/store/repo.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

namespace fs = std::filesystem;

class Fixtures : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("ipfskit-fixtures");
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    repo_ = *r;
    reader_ = std::make_unique<UnixfsReader>(repo_);
  }
  void TearDown() override {
    reader_.reset();
    repo_.reset();
    fs::remove_all(dir_);
  }
  Cid Import(const std::string& rel) {
    std::string p = testing::FixturesDir() + "/" + rel;
    int fd = ::open(p.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0) << p;
    auto r = ImportCar(FdSource(fd), *repo_, false);
    ::close(fd);
    EXPECT_TRUE(r.ok()) << rel << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() && !r->roots.empty() ? r->roots[0].cid : Cid();
  }
  std::string Cat(const Cid& root, const std::string& path) {
    auto c = reader_->Resolve(root, path);
    EXPECT_TRUE(c.ok()) << path << ": " << (c.ok() ? "" : c.error().message);
    if (!c.ok()) return "";
    auto info = reader_->Stat(*c);
    EXPECT_TRUE(info.ok());
    std::string s(info->size, '\0');
    auto n = reader_->Read(*c, 0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().message);
    return s;
  }
  std::string dir_;
  std::shared_ptr<Repo> repo_;
  std::unique_ptr<UnixfsReader> reader_;
};

TEST_F(Fixtures, EveryCarImports) {
  int n = 0;
  for (auto& e : fs::recursive_directory_iterator(testing::FixturesDir())) {
    if (e.path().extension() != ".car") continue;
    int fd = ::open(e.path().c_str(), O_RDONLY);
    auto r = ImportCar(FdSource(fd), *repo_, true);
    ::close(fd);
    ASSERT_TRUE(r.ok()) << e.path() << ": " << r.error().message;
    EXPECT_FALSE(r->roots.empty()) << e.path();
    ++n;
  }
  EXPECT_GE(n, 20);
}

TEST_F(Fixtures, UnixfsContentsAsDescribed) {
  Cid d = Import("path_gateway_unixfs/dir-with-files.car");
  EXPECT_EQ(d.ToString(), "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy");
  EXPECT_EQ(Cat(d, "hello.txt"), "hello world\n");
  EXPECT_EQ(Cat(d, "ascii.txt"), "hello application/vnd.ipld.car\n");
  EXPECT_EQ(Cat(d, "ascii-copy.txt"), Cat(d, "ascii.txt"));
  std::string multi = Cat(d, "multiblock.txt");
  EXPECT_EQ(multi.size(), 1026u);
  EXPECT_EQ(multi.substr(0, 26), "Lorem ipsum dolor sit amet");
  // Reads at offsets spanning the 256-byte leaves touch only what they need and agree.
  std::vector<uint8_t> buf(300);
  auto file = reader_->Resolve(d, "multiblock.txt");
  ASSERT_TRUE(file.ok());
  auto n = reader_->Read(*file, 200, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf.begin(), buf.end()), multi.substr(200, 300));

  Cid s = Import("path_gateway_unixfs/symlink.car");
  EXPECT_EQ(s.ToString(), "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt");
  EXPECT_EQ(Cat(s, "foo"), "content\n");
  auto bar = reader_->Resolve(s, "bar");
  ASSERT_TRUE(bar.ok());
  auto binfo = reader_->Stat(*bar);
  ASSERT_TRUE(binfo.ok());
  EXPECT_EQ(binfo->kind, NodeKind::kSymlink);
  EXPECT_EQ(binfo->symlink_target, "foo");

  Cid g = Import("gateway-cache/fixtures.car");
  EXPECT_EQ(Cat(g, "root2/root3/root4/index.html"), "hello\n");
  Cid u = Import("dir_listing/fixtures.car");
  EXPECT_EQ(Cat(u, "ą/ę/file-źł.txt"), "I am a txt file on path with utf8\n");
  EXPECT_EQ(Cat(u, "ipfs/file.txt"), "I am a txt file in confusing /ipfs dir\n");
}

TEST_F(Fixtures, HamtDirectoryReadsAndRebuildsIdentically) {
  Cid h = Import("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car");
  EXPECT_EQ(h.ToString(), "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i");
  auto info = reader_->Stat(h);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kind, NodeKind::kHamtDirectory);
  auto entries = reader_->ListDir(h);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  EXPECT_EQ(entries->size(), 1000u);
  EXPECT_EQ(Cat(h, "470.txt").size(), 1026u);
  EXPECT_FALSE(reader_->Lookup(h, "1001.txt").ok());
  // Our HAMT writer, fed the same (name, CID, Tsize) entries, yields Kubo's root CID.
  std::vector<DirEntryIn> in;
  for (const auto& e : *entries) in.push_back(DirEntryIn{e.name, DagEntry{e.cid, e.tsize, 0}});
  ImportOptions o;
  o.cid_version = 1;
  DagWriter w(o, nullptr);
  auto rebuilt = BuildHamt(in, w);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->cid, h);
}

TEST_F(Fixtures, BasicDirectoriesRebuildIdentically) {
  // Kubo `ipfs add -r --cid-version 1`: our directory writer gives the same CIDs.
  for (const char* car : {"dir_listing/fixtures.car", "gateway-cache/fixtures.car",
                          "path_gateway_unixfs/dir-with-files.car"}) {
    Cid root = Import(car);
    std::function<Cid(const Cid&)> rebuild = [&](const Cid& c) -> Cid {
      auto info = reader_->Stat(c);
      if (!info.ok() || info->kind != NodeKind::kDirectory) return c;
      auto entries = reader_->ListDir(c);
      std::vector<DirEntryIn> in;
      for (const auto& e : *entries) {
        Cid child = rebuild(e.cid);
        in.push_back(DirEntryIn{e.name, DagEntry{child, e.tsize, 0}});
      }
      ImportOptions o;
      o.cid_version = 1;
      DagWriter w(o, nullptr);
      auto d = BuildDirectory(in, w);
      return d.ok() ? d->cid : Cid();
    };
    EXPECT_EQ(rebuild(root), root) << car;
  }
}

TEST_F(Fixtures, MissingBlockIsAClearErrorNotAHang) {
  Cid f = Import("trustless_gateway_car/file-3k-and-3-blocks-missing-block.car");
  auto info = reader_->Stat(f);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 3072u);
  std::vector<uint8_t> buf(3072);
  auto n = reader_->Read(f, 0, buf);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, Errc::kUnavailable);
  EXPECT_NE(n.error().message.find("QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W"), std::string::npos)
      << n.error().message;
  // The blocks before and after it are readable on their own.
  auto first = reader_->Read(f, 0, std::span<uint8_t>(buf.data(), 1024));
  EXPECT_TRUE(first.ok());
  auto last = reader_->Read(f, 2048, std::span<uint8_t>(buf.data(), 1024));
  EXPECT_TRUE(last.ok());
}

}  // namespace
}  // namespace ipfskit
