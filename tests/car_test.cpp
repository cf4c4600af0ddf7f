// CAR v1 (and v2 wrapper) reader/writer, ImportCar/ExportCar against the gateway-conformance
// fixtures, and hostile input: truncation at every offset, flipped bytes, oversized blocks.
#include "core/car/car.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/codec/dagpb.h"
#include "core/multiformats/varint.h"
#include "core/store/lmdb.h"
#include "core/store/repo.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

namespace fs = std::filesystem;

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Cid RawCid(ByteView data) { return Cid::Sum(1, codec::kRaw, mh::kSha2_256, data).value(); }

Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// Roots and section counts of every fixture CAR, taken from a separate throwaway reading of the
// files (and the READMEs where they state them, e.g. the 243-block HAMT).
struct FixtureFacts {
  const char* root;
  uint64_t blocks;
};
const std::map<std::string, FixtureFacts>& Fixtures() {
  static const std::map<std::string, FixtureFacts> m = {
      {"dir_listing/fixtures.car", {"bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i", 10}},
      {"gateway-cache/fixtures.car", {"bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui", 5}},
      {"gateway-raw-block.car", {"bafybeie72edlprgtlwwctzljf6gkn2wnlrddqjbkxo3jomh4n7omwblxly", 3}},
      {"path_gateway_dag/dag-cbor-traversal.car", {"bafyreibs4utpgbn7uqegmd2goqz4bkyflre2ek2iwv743fhvylwi4zeeim", 3}},
      {"path_gateway_dag/dag-json-traversal.car", {"baguqeeram5ujjqrwheyaty3w5gdsmoz6vittchvhk723jjqxk7hakxkd47xq", 3}},
      {"path_gateway_dag/dag-pb.car", {"bafybeiegxwlgmoh2cny7qlolykdf7aq7g6dlommarldrbm7c4hbckhfcke", 4}},
      {"path_gateway_dag/gateway-json-cbor.car", {"bafybeiafyvqlazbbbtjnn6how5d6h6l6rxbqc4qgpbmteaiskjrffmyy4a", 11}},
      {"path_gateway_dag/plain-cbor-that-can-be-dag-cbor.car", {"bafireidluuxmsc4uzpqkcq547wavvod7rrq2v7yixuvdy2qu3eqkbvycsu", 1}},
      {"path_gateway_dag/plain-cbor-that-can-be-dag-json.car", {"bagaaieraonzu3mlwidrcjnpqd2ibmjiiycnfucdzotvjq5ajubwnkmlzomrq", 1}},
      {"path_gateway_dag/plain-cbor.car", {"bafireif3aymeikgfbofx533yf5vlx4kimzq6zmzmpra2mnzfsfnmv4hchm", 1}},
      {"path_gateway_dag/plain-json.car", {"bagaaierajjsnhsxqlgfrvknlt7z2heoljcgfv37cn45tu7mhmr23x3ekiboq", 1}},
      {"path_gateway_tar/fixtures.car", {"bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i", 10}},
      {"path_gateway_tar/inside-root.car", {"bafybeibfevfxlvxp5vxobr5oapczpf7resxnleb7tkqmdorc4gl5cdva3y", 4}},
      {"path_gateway_tar/outside-root.car", {"bafybeicaj7kvxpcv4neaqzwhrqqmdstu4dhrwfpknrgebq6nzcecfucvyu", 2}},
      {"path_gateway_unixfs/dir-with-files.car", {"bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy", 9}},
      {"path_gateway_unixfs/dir-with-percent-encoded-filename.car", {"bafybeig675grnxcmshiuzdaz2xalm6ef4thxxds6o6ypakpghm5kghpc34", 2}},
      {"path_gateway_unixfs/symlink.car", {"QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt", 3}},
      {"redirects_file/redirects-spa.car", {"bafybeib5lboymwd6p2eo4qb2lkueaine577flvsjjeuevmp2nlio72xv5q", 3}},
      {"redirects_file/redirects.car", {"QmQyqMY5vUBSbSxyitJqthgwZunCQjDVtNd8ggVCxzuPQ4", 32}},
      {"subdomain_gateway/fixtures.car", {"QmYiPNLU7Hc739sqcBH5DgVmk5mKTQVzKSqvJJeNGWTgrE", 11}},
      {"trustless_gateway_car/dir-with-dag-cbor-with-links.car", {"bafybeia264q44a3kmfc2otctzu4egp2k235o3t7mslz2yjraymp4nv6asi", 9}},
      {"trustless_gateway_car/dir-with-duplicate-files.car", {"bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy", 9}},
      {"trustless_gateway_car/file-3k-and-3-blocks-missing-block.car", {"QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk", 3}},
      {"trustless_gateway_car/single-layer-hamt-with-multi-block-files.car", {"bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i", 243}},
      {"trustless_gateway_car/subdir-with-mixed-block-files.car", {"bafybeidh6k2vzukelqtrjsmd4p52cpmltd2ufqrdtdg6yigi73in672fwu", 10}},
      {"trustless_gateway_car/subdir-with-two-single-block-files.car", {"bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu", 4}},
  };
  return m;
}

const char* kMissingBlockCar = "trustless_gateway_car/file-3k-and-3-blocks-missing-block.car";

class CarTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("car_test"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::shared_ptr<Repo> NewRepo() {
    RepoOptions o;
    o.path = dir_ + "/repo" + std::to_string(n_++);
    auto r = Repo::Open(o);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return *r;
  }
  std::string Fixture(const std::string& rel) { return testing::FixturesDir() + "/" + rel; }

  std::string dir_;
  int n_ = 0;
};

// Every (cid, bytes) pair in the repo's blocks db verifies: nothing unchecked was stored.
void ExpectAllStoredBlocksVerify(Repo& repo, size_t* count = nullptr) {
  auto txn = repo.BeginRead();
  ASSERT_TRUE(txn.ok()) << txn.error().message;
  size_t n = 0;
  ASSERT_TRUE(txn->ForEachBlock([&](ByteView k, ByteView v) {
                   auto cid = Cid::FromBytes(k);
                   EXPECT_TRUE(cid.ok());
                   if (cid.ok()) {
                     EXPECT_TRUE(cid->Verifies(v)) << cid->ToString();
                   }
                   ++n;
                   return true;
                 }).ok());
  if (count) *count = n;
}

Bytes MakeCar(const std::vector<Cid>& roots, const std::vector<std::pair<Cid, Bytes>>& blocks) {
  Bytes out = EncodeCarHeader(roots);
  for (auto& [c, d] : blocks) AppendCarSection(out, c, d);
  return out;
}

TEST(CarHeaderTest, CanonicalDagCborBytes) {
  Cid root = RawCid(ToBytes("x")).ToV1();
  root = Cid::Make(1, codec::kDagPb, root.multihash()).value();
  Bytes h = EncodeCarHeader({root});
  Bytes want = {0x3a, 0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x81, 0xd8, 0x2a, 0x58, 0x25, 0x00};
  Append(want, root.bytes());
  for (char c : std::string("\x67version\x01")) want.push_back(static_cast<uint8_t>(c));
  EXPECT_EQ(HexEncode(h), HexEncode(want));
}

TEST_F(CarTest, FixtureHeadersMatchOurEncoder) {
  for (const auto& [rel, facts] : Fixtures()) {
    Bytes car = ReadFile(Fixture(rel));
    ASSERT_FALSE(car.empty()) << rel;
    Bytes h = EncodeCarHeader({Cid::Parse(facts.root).value()});
    ASSERT_GE(car.size(), h.size());
    EXPECT_TRUE(std::equal(h.begin(), h.end(), car.begin())) << rel;
  }
}

TEST_F(CarTest, EveryFixtureImports) {
  size_t seen = 0;
  for (const auto& entry : fs::recursive_directory_iterator(testing::FixturesDir())) {
    if (entry.path().extension() != ".car") continue;
    ++seen;
    std::string rel = fs::relative(entry.path(), testing::FixturesDir()).string();
    auto repo = NewRepo();
    int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    auto res = ImportCar(FdSource(fd), *repo, /*pin_roots=*/true);
    ::close(fd);
    ASSERT_TRUE(res.ok()) << rel << ": " << res.error().message;
    size_t stored = 0;
    ExpectAllStoredBlocksVerify(*repo, &stored);
    EXPECT_EQ(stored, res->blocks) << rel;
    ASSERT_EQ(res->roots.size(), 1u) << rel;
    auto it = Fixtures().find(rel);
    if (it == Fixtures().end()) {
      ADD_FAILURE() << "fixture not in the table: " << rel;
      continue;
    }
    EXPECT_EQ(res->roots[0].cid.ToString(), it->second.root) << rel;
    EXPECT_EQ(res->blocks, it->second.blocks) << rel;
    EXPECT_TRUE(repo->Has(res->roots[0].cid)) << rel;
    if (rel == kMissingBlockCar) {
      EXPECT_FALSE(res->roots[0].pinned);
      EXPECT_NE(res->roots[0].pin_error.find("not found"), std::string::npos) << res->roots[0].pin_error;
      EXPECT_FALSE(repo->PinnedAs(res->roots[0].cid).has_value());
    } else {
      EXPECT_TRUE(res->roots[0].pinned) << rel << ": " << res->roots[0].pin_error;
      EXPECT_EQ(repo->PinnedAs(res->roots[0].cid), PinType::kRecursive) << rel;
      // The pin protects the whole imported DAG.
      auto gc = repo->Gc();
      ASSERT_TRUE(gc.ok());
      EXPECT_EQ(gc->removed_blocks, 0u) << rel;
    }
  }
  EXPECT_EQ(seen, Fixtures().size());
}

TEST_F(CarTest, HamtFixtureMatchesReadme) {
  auto repo = NewRepo();
  std::ifstream in(Fixture("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car"), std::ios::binary);
  auto res = ImportCar(IstreamSource(in), *repo, false);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->blocks, 243u);
  EXPECT_EQ(res->roots[0].cid.ToString(), "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i");
  auto root = repo->Get(res->roots[0].cid);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->size(), 12046u);  // README: root 12046 B
  EXPECT_FALSE(repo->PinnedAs(res->roots[0].cid).has_value());
  EXPECT_EQ(repo->Stat()->num_blocks, 243u);
}

// Our export of a fixture root equals the fixture bytes where Kubo wrote the fixture with
// `dag export` (same DFS order, each block once), and export -> import -> export is stable.
TEST_F(CarTest, ExportRoundTripsByteIdentically) {
  int identical = 0;
  for (const auto& [rel, facts] : Fixtures()) {
    if (rel == kMissingBlockCar) continue;
    Bytes original = ReadFile(Fixture(rel));
    auto repo = NewRepo();
    auto res = ImportCar(BytesSource(original), *repo, false);
    ASSERT_TRUE(res.ok()) << rel << ": " << res.error().message;
    Bytes exported;
    auto st = ExportCar(*repo, res->roots[0].cid, BytesSink(exported));
    ASSERT_TRUE(st.ok()) << rel << ": " << st.error().message;
    if (exported == original) identical++;

    auto repo2 = NewRepo();
    auto res2 = ImportCar(BytesSource(exported), *repo2, false);
    ASSERT_TRUE(res2.ok()) << rel;
    EXPECT_EQ(res2->roots[0].cid, res->roots[0].cid);
    Bytes again;
    ASSERT_TRUE(ExportCar(*repo2, res2->roots[0].cid, BytesSink(again)).ok());
    EXPECT_EQ(again, exported) << rel;
  }
  // The fixtures generated with `ipfs dag export` of a full DAG.
  for (const char* rel : {"trustless_gateway_car/single-layer-hamt-with-multi-block-files.car",
                          "path_gateway_unixfs/dir-with-files.car", "path_gateway_unixfs/symlink.car",
                          "gateway-raw-block.car"}) {
    Bytes original = ReadFile(Fixture(rel));
    auto repo = NewRepo();
    auto res = ImportCar(BytesSource(original), *repo, false);
    ASSERT_TRUE(res.ok());
    Bytes exported;
    ASSERT_TRUE(ExportCar(*repo, res->roots[0].cid, BytesSink(exported)).ok());
    EXPECT_EQ(HexEncode(exported), HexEncode(original)) << rel;
  }
  EXPECT_GT(identical, 10);
}

TEST_F(CarTest, MissingBlockFixture) {
  auto repo = NewRepo();
  auto res = ImportCar(BytesSource(ReadFile(Fixture(kMissingBlockCar))), *repo, false);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->blocks, 3u);
  const Cid& root = res->roots[0].cid;
  auto rb = repo->Get(root);
  ASSERT_TRUE(rb.ok());
  auto node = DecodePbNode(rb->data());
  ASSERT_TRUE(node.ok());
  ASSERT_EQ(node->links.size(), 3u);
  Cid missing = node->links[1].hash;  // README: the middle block was removed
  EXPECT_FALSE(repo->Has(missing));
  EXPECT_TRUE(repo->Has(node->links[0].hash));
  EXPECT_TRUE(repo->Has(node->links[2].hash));

  Bytes out;
  auto st = ExportCar(*repo, root, BytesSink(out));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_NE(st.error().message.find(missing.ToString()), std::string::npos) << st.error().message;
  auto complete = CheckDagComplete(*repo, root);
  ASSERT_FALSE(complete.ok());
  EXPECT_NE(complete.error().message.find(missing.ToString()), std::string::npos);

  auto pinned = ImportCar(BytesSource(ReadFile(Fixture(kMissingBlockCar))), *repo, true);
  ASSERT_TRUE(pinned.ok());
  EXPECT_FALSE(pinned->roots[0].pinned);
  EXPECT_NE(pinned->roots[0].pin_error.find(missing.ToString()), std::string::npos);
}

TEST_F(CarTest, ReaderReportsOffsetsAndVerifies) {
  Bytes car = ReadFile(Fixture("path_gateway_unixfs/dir-with-files.car"));
  auto r = CarReader::Open(BytesSource(car));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->version(), 1);
  ASSERT_EQ((*r)->roots().size(), 1u);
  uint64_t expect_offset = EncodeCarHeader((*r)->roots()).size();
  int n = 0;
  for (;;) {
    auto b = (*r)->Next();
    ASSERT_TRUE(b.ok()) << b.error().message;
    if (!*b) break;
    EXPECT_EQ((*b)->offset, expect_offset);
    EXPECT_TRUE((*b)->cid.Verifies((*b)->data));
    Bytes sec;
    AppendCarSection(sec, (*b)->cid, (*b)->data);
    EXPECT_TRUE(std::equal(sec.begin(), sec.end(), car.begin() + expect_offset));
    expect_offset += sec.size();
    n++;
  }
  EXPECT_EQ(n, 9);
  EXPECT_EQ(expect_offset, car.size());
}

// Cutting the input anywhere gives an error naming the offset, except exactly at a section
// boundary, where the shorter file is itself a valid CAR. Nothing unverified is stored.
TEST_F(CarTest, TruncatedAtEveryOffset) {
  for (const char* rel : {"path_gateway_unixfs/dir-with-files.car", "path_gateway_unixfs/symlink.car"}) {
    Bytes car = ReadFile(Fixture(rel));
    std::set<size_t> boundaries;
    std::map<size_t, uint64_t> blocks_before;
    {
      auto r = CarReader::Open(BytesSource(car)).value();
      uint64_t count = 0;
      size_t off = EncodeCarHeader(r->roots()).size();
      boundaries.insert(off);
      blocks_before[off] = 0;
      while (auto b = r->Next().value()) {
        Bytes sec;
        AppendCarSection(sec, b->cid, b->data);
        off += sec.size();
        boundaries.insert(off);
        blocks_before[off] = ++count;
      }
    }
    auto repo = NewRepo();
    for (size_t cut = 0; cut < car.size(); ++cut) {
      ByteView part(car.data(), cut);
      auto res = ImportCar(BytesSource(part), *repo, false);
      if (boundaries.count(cut)) {
        ASSERT_TRUE(res.ok()) << rel << " cut " << cut << ": " << res.error().message;
        EXPECT_EQ(res->blocks, blocks_before[cut]);
      } else {
        ASSERT_FALSE(res.ok()) << rel << " cut " << cut;
        EXPECT_EQ(res.error().code, Errc::kTruncated) << cut << ": " << res.error().message;
        if (cut > 0) {
          EXPECT_NE(res.error().message.find("offset"), std::string::npos) << res.error().message;
        }
      }
      if (cut % 97 == 0) ExpectAllStoredBlocksVerify(*repo);
    }
    ExpectAllStoredBlocksVerify(*repo);
  }
}

// A flipped byte in a length or in block data is always caught; in a CID or the header it may
// give another valid CAR (e.g. codec dag-pb -> dag-cbor keeps the hash), but every stored block
// still verifies.
TEST_F(CarTest, FlippedBytes) {
  Bytes car = ReadFile(Fixture("path_gateway_unixfs/dir-with-files.car"));
  struct Region {
    size_t begin, cid_end, end;
  };
  std::vector<Region> sections;
  size_t header_end;
  {
    auto r = CarReader::Open(BytesSource(car)).value();
    header_end = EncodeCarHeader(r->roots()).size();
    size_t off = header_end;
    while (auto b = r->Next().value()) {
      Bytes sec;
      AppendCarSection(sec, b->cid, b->data);
      size_t data_start = off + sec.size() - b->data.size();
      sections.push_back({off, data_start, off + sec.size()});
      off += sec.size();
    }
  }
  auto repo = NewRepo();
  int must_fail = 0, failed = 0;
  for (size_t pos = 0; pos < car.size(); ++pos) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      Bytes bad = car;
      bad[pos] ^= mask;
      auto res = ImportCar(BytesSource(bad), *repo, false);
      bool in_len_or_data = false;
      for (const Region& s : sections) {
        size_t len_end = s.begin + (s.end - s.begin > 127 ? 2 : 1);
        if ((pos >= s.begin && pos < len_end) || (pos >= s.cid_end && pos < s.end)) in_len_or_data = true;
      }
      if (in_len_or_data) {
        must_fail++;
        EXPECT_FALSE(res.ok()) << "flip at " << pos;
      }
      if (!res.ok()) failed++;
    }
    if (pos % 101 == 0) ExpectAllStoredBlocksVerify(*repo);
  }
  ExpectAllStoredBlocksVerify(*repo);
  EXPECT_GT(must_fail, 1500);
  EXPECT_GE(failed, must_fail);
}

TEST_F(CarTest, HashMismatchNamesCidAndOffset) {
  Bytes a = ToBytes("block a"), b = ToBytes("block b");
  Cid ca = RawCid(a), cb = RawCid(b);
  Bytes car = EncodeCarHeader({cb});
  AppendCarSection(car, cb, b);
  size_t off = car.size();
  AppendCarSection(car, ca, b);  // wrong bytes for ca
  auto repo = NewRepo();
  auto res = ImportCar(BytesSource(car), *repo, false);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, Errc::kHashMismatch);
  EXPECT_NE(res.error().message.find(ca.ToString()), std::string::npos);
  EXPECT_NE(res.error().message.find("offset " + std::to_string(off)), std::string::npos) << res.error().message;
  EXPECT_FALSE(repo->Has(ca));
  EXPECT_TRUE(repo->Has(cb));  // verified before the bad one
}

TEST_F(CarTest, BlockSizeCap) {
  Bytes big = RandomBytes(kMaxCarBlockSize + 1, 1), ok = RandomBytes(kMaxCarBlockSize, 2);
  Cid cbig = RawCid(big), cok = RawCid(ok);
  auto repo = NewRepo();
  auto r1 = ImportCar(BytesSource(MakeCar({cok}, {{cok, ok}})), *repo, true);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_TRUE(r1->roots[0].pinned);
  Bytes car = MakeCar({cbig}, {{cbig, big}});
  auto r2 = ImportCar(BytesSource(car), *repo, false);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("limit"), std::string::npos) << r2.error().message;
  EXPECT_FALSE(repo->Has(cbig));
  CarReadOptions opts;
  opts.max_block_size = 4 << 20;
  auto r3 = ImportCar(BytesSource(car), *repo, false, opts);
  ASSERT_TRUE(r3.ok()) << r3.error().message;
  EXPECT_TRUE(repo->Has(cbig));
  // A section length far beyond the cap is refused before anything is allocated.
  Bytes huge = EncodeCarHeader({cok});
  PutUvarint(huge, uint64_t{1} << 40);
  auto r4 = ImportCar(BytesSource(huge), *repo, false);
  ASSERT_FALSE(r4.ok());
  EXPECT_EQ(r4.error().code, Errc::kMalformed);
}

TEST_F(CarTest, MalformedHeaders) {
  auto repo = NewRepo();
  auto err = [&](const Bytes& b) {
    auto r = ImportCar(BytesSource(b), *repo, false);
    EXPECT_FALSE(r.ok());
    return r.ok() ? Error{Errc::kInternal, ""} : r.error();
  };
  EXPECT_EQ(err({}).code, Errc::kTruncated);
  EXPECT_EQ(err({0x00}).code, Errc::kMalformed);            // zero-length header
  EXPECT_EQ(err({0x05, 0x01, 0x02}).code, Errc::kTruncated);  // header cut short
  EXPECT_EQ(err({0x01, 0x01}).code, Errc::kMalformed);      // not a map
  EXPECT_EQ(err({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}).code, Errc::kMalformed);
  // {"version": 3}
  Bytes v3 = {0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x03};
  Error e3 = err(v3);
  EXPECT_EQ(e3.code, Errc::kUnsupported);
  EXPECT_NE(e3.message.find("version 3"), std::string::npos);
  // {"version": 1} without roots; {"roots": [1], "version": 1}
  Bytes noroots = {0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01};
  EXPECT_EQ(err(noroots).code, Errc::kMalformed);
  Bytes badroot = {0x10, 0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x81, 0x01, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01};
  badroot[0] = static_cast<uint8_t>(badroot.size() - 1);
  EXPECT_EQ(err(badroot).code, Errc::kMalformed);
  // A zero-length section.
  Cid c = RawCid(ToBytes("x"));
  Bytes zero = EncodeCarHeader({c});
  zero.push_back(0);
  EXPECT_EQ(err(zero).code, Errc::kMalformed);
  EXPECT_EQ(repo->Stat()->num_blocks, 0u);
}

Bytes WrapV2(const Bytes& v1, size_t padding, const Bytes& trailer) {
  Bytes out = {0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02};
  Bytes header(40, 0);
  uint64_t data_offset = 11 + 40 + padding, data_size = v1.size(), index_offset = data_offset + data_size;
  for (int i = 0; i < 8; ++i) {
    header[16 + i] = static_cast<uint8_t>(data_offset >> (8 * i));
    header[24 + i] = static_cast<uint8_t>(data_size >> (8 * i));
    header[32 + i] = static_cast<uint8_t>(index_offset >> (8 * i));
  }
  Append(out, header);
  out.resize(out.size() + padding, 0);
  Append(out, v1);
  Append(out, trailer);
  return out;
}

TEST_F(CarTest, CarV2ReadsInnerPayload) {
  Bytes v1 = ReadFile(Fixture("path_gateway_unixfs/dir-with-files.car"));
  Bytes v2 = WrapV2(v1, 13, Bytes{0x01, 0x02, 0x03, 0x04, 0x05});  // trailer: a stand-in index
  auto r = CarReader::Open(BytesSource(v2));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->version(), 2);
  auto repo = NewRepo();
  auto res = ImportCar(BytesSource(v2), *repo, true);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->blocks, 9u);
  EXPECT_EQ(res->roots[0].cid.ToString(), "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy");
  EXPECT_TRUE(res->roots[0].pinned);
  // Payload cut short inside the v2 file.
  Bytes cut(v2.begin(), v2.begin() + static_cast<long>(v2.size() - 5 - 100));
  auto bad = ImportCar(BytesSource(cut), *repo, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kTruncated);
  Bytes stub(v2.begin(), v2.begin() + 30);
  EXPECT_FALSE(ImportCar(BytesSource(stub), *repo, false).ok());
}

TEST_F(CarTest, ExportOrderIsDfsEachBlockOnceIdentitySkipped) {
  auto repo = NewRepo();
  Bytes lb = ToBytes("leaf b"), lc = ToBytes("leaf c");
  Cid b = RawCid(lb), c = RawCid(lc);
  Bytes small = ToBytes("inline");
  Cid ident = Cid::Sum(1, codec::kRaw, mh::kIdentity, small).value();
  auto pb = [](std::vector<Cid> links) {
    PbNode n;
    for (auto& l : links) n.links.push_back(PbLink{l, "", 1});
    n.data = Bytes{0x08, 0x01};
    Bytes d = EncodePbNode(n);
    return std::make_pair(Cid::Sum(1, codec::kDagPb, mh::kSha2_256, d).value(), d);
  };
  auto [a, ad] = pb({b, ident});
  auto [root, rd] = pb({a, b, c});
  for (auto& [cid, d] : std::vector<std::pair<Cid, Bytes>>{{b, lb}, {c, lc}, {a, ad}, {root, rd}})
    ASSERT_TRUE(repo->Put(cid, d).ok());
  Bytes out;
  ASSERT_TRUE(ExportCar(*repo, root, BytesSink(out)).ok());
  Bytes want = MakeCar({root}, {{root, rd}, {a, ad}, {b, lb}, {c, lc}});
  EXPECT_EQ(HexEncode(out), HexEncode(want));

  // Export through an fd and a stream gives the same bytes; a failing sink stops the export.
  std::string path = dir_ + "/out.car";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(ExportCar(*repo, root, FdSink(fd)).ok());
  ::close(fd);
  EXPECT_EQ(ReadFile(path), want);
  std::ostringstream os;
  ASSERT_TRUE(ExportCar(*repo, root, OstreamSink(os)).ok());
  EXPECT_EQ(os.str(), std::string(want.begin(), want.end()));
  auto failing = [](ByteView) -> Status { return MakeError(Errc::kNoSpace, "disk full"); };
  auto st = ExportCar(*repo, root, failing);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNoSpace);

  // An identity CID inside a CAR is read and verified but not stored.
  auto res = ImportCar(BytesSource(MakeCar({ident}, {{ident, small}})), *repo, false);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->blocks, 1u);
  EXPECT_EQ(repo->Stat()->num_blocks, 4u);
}

TEST_F(CarTest, ExportOfMissingRoot) {
  auto repo = NewRepo();
  Cid c = RawCid(ToBytes("nowhere"));
  Bytes out;
  auto st = ExportCar(*repo, c, BytesSink(out));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_NE(st.error().message.find(c.ToString()), std::string::npos);
}

TEST_F(CarTest, SourceErrorsPropagate) {
  Bytes car = ReadFile(Fixture("path_gateway_unixfs/dir-with-files.car"));
  size_t calls = 0;
  CarSource flaky = [&](std::span<uint8_t> buf) -> Result<size_t> {
    if (calls++ == 3) return MakeError(Errc::kNetwork, "connection reset");
    size_t n = std::min<size_t>(buf.size(), 100);  // small reads: sections span refills
    size_t at = (calls - 1) * 100;
    if (at >= car.size()) return size_t{0};
    n = std::min(n, car.size() - at);
    std::memcpy(buf.data(), car.data() + at, n);
    return n;
  };
  auto repo = NewRepo();
  auto res = ImportCar(flaky, *repo, false);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, Errc::kNetwork);
  EXPECT_NE(res.error().message.find("connection reset"), std::string::npos);
  ExpectAllStoredBlocksVerify(*repo);
}

}  // namespace
}  // namespace ipfskit
