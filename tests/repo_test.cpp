// Repo: the LMDB blockstore, pins, GC, meta, versioning and the map-full path, on real LMDB
// environments in temporary directories.
#include "core/store/repo.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/codec/dagcbor.h"
#include "core/codec/dagpb.h"
#include "core/store/lmdb.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

namespace fs = std::filesystem;

Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

Cid RawCid(ByteView data) { return Cid::Sum(1, codec::kRaw, mh::kSha2_256, data).value(); }

struct Node {
  Cid cid;
  Bytes data;
};

Node RawNode(size_t n, uint32_t seed) {
  Bytes d = RandomBytes(n, seed);
  Cid c = RawCid(d);
  return {c, d};
}

Node PbNodeOf(const std::vector<Cid>& children, uint64_t version = 1) {
  PbNode n;
  int i = 0;
  for (const Cid& c : children) n.links.push_back(PbLink{c, "c" + std::to_string(i++), 1});
  n.data = Bytes{0x08, 0x01};
  Bytes data = EncodePbNode(n);
  return {Cid::Sum(version, codec::kDagPb, mh::kSha2_256, data).value(), data};
}

Node CborNodeOf(const Cid& child) {
  CborItem map(cbor_new_definite_map(1));
  CborItem key(cbor_build_string("link"));
  CborItem link = CborCidLink(child);
  EXPECT_TRUE(cbor_map_add(map.get(), cbor_pair{key.get(), link.get()}));
  Bytes data = CborSerialize(map.get());
  return {Cid::Sum(1, codec::kDagCbor, mh::kSha2_256, data).value(), data};
}

class RepoTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("repo_test"); }
  void TearDown() override {
    repo_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::shared_ptr<Repo> Open(size_t map_size = size_t{1} << 40) {
    RepoOptions o;
    o.path = dir_ + "/repo";
    o.map_size = map_size;
    auto r = Repo::Open(o);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : nullptr;
  }
  void Put(Repo& r, const Node& n) {
    auto st = r.Put(n.cid, n.data);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  std::string dir_;
  std::shared_ptr<Repo> repo_;
};

TEST_F(RepoTest, PutGetHasDelete) {
  repo_ = Open();
  Node n = RawNode(1000, 1);
  EXPECT_FALSE(repo_->Has(n.cid));
  auto miss = repo_->Get(n.cid);
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.error().code, Errc::kNotFound);
  EXPECT_NE(miss.error().message.find(n.cid.ToString()), std::string::npos);

  Put(*repo_, n);
  Put(*repo_, n);  // idempotent
  EXPECT_TRUE(repo_->Has(n.cid));
  auto got = repo_->Get(n.cid);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_TRUE(std::equal(got->data().begin(), got->data().end(), n.data.begin(), n.data.end()));

  ASSERT_TRUE(repo_->Delete(n.cid).ok());
  EXPECT_FALSE(repo_->Has(n.cid));
  EXPECT_EQ(repo_->Get(n.cid).error().code, Errc::kNotFound);
  auto again = repo_->Delete(n.cid);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kNotFound);
  // The Block taken before the delete still reads the old bytes.
  EXPECT_TRUE(std::equal(got->data().begin(), got->data().end(), n.data.begin(), n.data.end()));
}

TEST_F(RepoTest, EmptyBlockAndCidV0) {
  repo_ = Open();
  Node empty{RawCid({}), {}};
  Put(*repo_, empty);
  auto g = repo_->Get(empty.cid);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->size(), 0u);
  Node v0 = PbNodeOf({}, 0);
  ASSERT_EQ(v0.cid.version(), 0u);
  Put(*repo_, v0);
  EXPECT_TRUE(repo_->Has(v0.cid));
  EXPECT_FALSE(repo_->Has(v0.cid.ToV1()));  // CIDs are keys by their bytes
}

TEST_F(RepoTest, HashMismatchIsNeverStored) {
  repo_ = Open();
  Node a = RawNode(100, 1), b = RawNode(100, 2);
  auto st = repo_->Put(a.cid, b.data);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHashMismatch);
  EXPECT_NE(st.error().message.find(a.cid.ToString()), std::string::npos);
  EXPECT_FALSE(repo_->Has(a.cid));

  auto w = repo_->NewWriter();
  auto st2 = w->Put(a.cid, b.data);
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.error().code, Errc::kHashMismatch);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_FALSE(repo_->Has(a.cid));
  EXPECT_EQ(repo_->Stat()->num_blocks, 0u);

  // A hash function we cannot compute is refused rather than stored unchecked: the CID itself
  // cannot be made (ReadMultihash knows no digest size for it), so no such key reaches Put.
  Bytes mh = {0xa0, 0xe4, 0x02, 0x20};  // varint 0xb220 = blake2b-256, 32-byte digest
  mh.resize(4 + 32, 0x11);
  auto odd = Cid::Make(1, codec::kRaw, mh);
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().code, Errc::kUnsupported);
  Bytes cid_bytes = {0x01, 0x55};  // CIDv1, raw
  Append(cid_bytes, mh);
  ByteView in = cid_bytes;
  auto read = Cid::ReadFrom(in);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::kUnsupported);
  EXPECT_EQ(repo_->Stat()->num_blocks, 0u);
}

TEST_F(RepoTest, IdentityCidsAreAnsweredNotStored) {
  repo_ = Open();
  Bytes d = ToBytes("hello");
  Cid id = Cid::Sum(1, codec::kRaw, mh::kIdentity, d).value();
  EXPECT_TRUE(repo_->Has(id));
  ASSERT_TRUE(repo_->Put(id, d).ok());
  EXPECT_EQ(repo_->Stat()->num_blocks, 0u);
  auto g = repo_->Get(id);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(AsChars(g->data()), "hello");
  auto bad = repo_->Put(id, ToBytes("other"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kHashMismatch);
}

TEST_F(RepoTest, GetReturnsAViewIntoTheMap) {
  repo_ = Open();
  Node n = RawNode(300000, 3);
  Put(*repo_, n);
  auto g = repo_->Get(n.cid);
  ASSERT_TRUE(g.ok());
  // The bytes lie inside the mapping of data.mdb: no copy was made.
  auto addr = reinterpret_cast<uintptr_t>(g->data().data());
  std::ifstream maps("/proc/self/maps");
  std::string line;
  bool inside = false;
  while (std::getline(maps, line)) {
    if (line.find(dir_ + "/repo/data.mdb") == std::string::npos) continue;
    uintptr_t lo = 0, hi = 0;
    if (sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr + g->size() <= hi) inside = true;
  }
  EXPECT_TRUE(inside);
}

TEST_F(RepoTest, ViewsStayValidAcrossThreadsWhileTheBlockLives) {
  repo_ = Open();
  std::vector<Node> nodes;
  for (uint32_t i = 0; i < 64; ++i) nodes.push_back(RawNode(5000 + i * 997, 100 + i));
  for (auto& n : nodes) Put(*repo_, n);

  std::vector<Block> held;
  for (auto& n : nodes) held.push_back(repo_->Get(n.cid).value());

  // Churn: delete every block and write new ones, so LMDB would reuse pages if it could.
  std::thread writer([&] {
    for (auto& n : nodes) ASSERT_TRUE(repo_->Delete(n.cid).ok());
    for (uint32_t i = 0; i < 64; ++i) {
      Node n = RawNode(8000, 900 + i);
      ASSERT_TRUE(repo_->Put(n.cid, n.data).ok());
    }
  });
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (size_t i = t; i < nodes.size(); i += 4) {
        Block b = held[i];  // shares the keepalive across threads
        if (!std::equal(b.data().begin(), b.data().end(), nodes[i].data.begin(), nodes[i].data.end())) bad++;
      }
    });
  }
  for (auto& r : readers) r.join();
  writer.join();
  EXPECT_EQ(bad.load(), 0);
  for (size_t i = 0; i < nodes.size(); ++i)
    EXPECT_TRUE(std::equal(held[i].data().begin(), held[i].data().end(), nodes[i].data.begin(), nodes[i].data.end()));
  for (auto& n : nodes) EXPECT_FALSE(repo_->Has(n.cid));
}

TEST_F(RepoTest, ConcurrentGetsFromManyThreads) {
  repo_ = Open();
  std::vector<Node> nodes;
  for (uint32_t i = 0; i < 200; ++i) nodes.push_back(RawNode(100 + i * 31, i));
  auto w = repo_->NewWriter();
  for (auto& n : nodes) ASSERT_TRUE(w->Put(n.cid, n.data).ok());
  ASSERT_TRUE(w->Flush().ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = (t + round) % nodes.size(); i < nodes.size(); i += 7) {
          auto b = repo_->Get(nodes[i].cid);
          if (!b.ok() || !std::equal(b->data().begin(), b->data().end(), nodes[i].data.begin(), nodes[i].data.end()))
            bad++;
        }
        // Interleave writes so snapshots get replaced under the readers.
        if (t == 0) {
          Node n = RawNode(64, 5000 + round);
          if (!repo_->Put(n.cid, n.data).ok()) bad++;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(RepoTest, BatchWriterCommitsOnFlushAndAbortsOnDestroy) {
  repo_ = Open();
  std::vector<Node> nodes;
  for (uint32_t i = 0; i < 50; ++i) nodes.push_back(RawNode(1024, i));
  {
    auto w = repo_->NewWriter(1 << 30);
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(w->Put(nodes[i].cid, nodes[i].data).ok());
    EXPECT_FALSE(repo_->Has(nodes[0].cid));  // not committed yet
    ASSERT_TRUE(w->Flush().ok());
    EXPECT_TRUE(repo_->Has(nodes[0].cid));
    for (int i = 25; i < 50; ++i) ASSERT_TRUE(w->Put(nodes[i].cid, nodes[i].data).ok());
    // Destroyed without Flush: the second half is dropped.
  }
  for (int i = 0; i < 25; ++i) EXPECT_TRUE(repo_->Has(nodes[i].cid)) << i;
  for (int i = 25; i < 50; ++i) EXPECT_FALSE(repo_->Has(nodes[i].cid)) << i;
  EXPECT_EQ(repo_->Stat()->num_blocks, 25u);
}

TEST_F(RepoTest, BatchWriterCommitsEveryBatchBytes) {
  repo_ = Open();
  auto w = repo_->NewWriter(10 * 1024);
  std::vector<Node> nodes;
  for (uint32_t i = 0; i < 30; ++i) nodes.push_back(RawNode(1024, 7000 + i));
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(w->Put(nodes[i].cid, nodes[i].data).ok());
  // 30 KiB through 10 KiB batches: the first 30 are committed without a Flush.
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(repo_->Has(nodes[i].cid)) << i;
  ASSERT_TRUE(w->Put(nodes[0].cid, nodes[0].data).ok());  // duplicate: fine
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(repo_->Stat()->num_blocks, 30u);
}

// KiB of the repo's map resident in this process's page tables (smaps' Rss).
size_t MappedRepoKib(const std::string& repo_dir) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_map = false;
  size_t kib = 0;
  while (std::getline(smaps, line)) {
    if (line.find('-') < line.find(' ') && line.find(' ') != std::string::npos && isxdigit(line[0]))
      in_map = line.find(repo_dir + "/data.mdb") != std::string::npos;
    else if (in_map && line.rfind("Rss:", 0) == 0)
      kib += std::stoul(line.substr(4));
  }
  return kib;
}

TEST_F(RepoTest, BatchWriterLeavesLittleOfTheMapResident) {
  // Each commit reads B-tree pages that lie between the blocks written before; the kernel
  // maps whole large folios around them, which counted most of a 1 GiB `add` in its RSS.
  repo_ = Open();
  const std::string repo_dir = dir_ + "/repo";
  auto w = repo_->NewWriter(4 << 20);
  Node first = RawNode(256 << 10, 9000);
  ASSERT_TRUE(w->Put(first.cid, first.data).ok());
  ASSERT_TRUE(w->Flush().ok());
  auto view = repo_->Get(first.cid);  // a view into the map, held across the next commits
  ASSERT_TRUE(view.ok());
  for (uint32_t i = 1; i < 160; ++i) {  // 40 MiB in 10 commits
    Node n = RawNode(256 << 10, 9000 + i);
    ASSERT_TRUE(w->Put(n.cid, n.data).ok());
    ASSERT_TRUE(repo_->Has(first.cid));
  }
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_LE(MappedRepoKib(repo_dir), 1024u) << "of 40 MiB written";
  // The held view reads the same bytes after its pages were dropped from the page tables.
  EXPECT_TRUE(std::equal(view->data().begin(), view->data().end(), first.data.begin(), first.data.end()));
  EXPECT_EQ(repo_->Stat()->num_blocks, 160u);
}

TEST_F(RepoTest, BatchWriterUsedFromSeveralThreadsInTurn) {
  repo_ = Open();
  auto w = repo_->NewWriter(4096);
  std::vector<Node> nodes;
  for (uint32_t i = 0; i < 40; ++i) nodes.push_back(RawNode(1500, 300 + i));
  std::mutex mu;
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (size_t i = t; i < nodes.size(); i += 4) {
        std::lock_guard lock(mu);  // serial use, from different threads
        if (!w->Put(nodes[i].cid, nodes[i].data).ok()) failures++;
      }
    });
  for (auto& t : ts) t.join();
  std::thread([&] { ASSERT_TRUE(w->Flush().ok()); }).join();
  EXPECT_EQ(failures.load(), 0);
  for (auto& n : nodes) EXPECT_TRUE(repo_->Has(n.cid));
}

TEST_F(RepoTest, PinsListUnpin) {
  repo_ = Open();
  Node a = RawNode(10, 1), b = RawNode(10, 2);
  EXPECT_FALSE(repo_->PinnedAs(a.cid).has_value());
  ASSERT_TRUE(repo_->Pin(a.cid, PinType::kRecursive).ok());
  ASSERT_TRUE(repo_->Pin(b.cid, PinType::kDirect).ok());
  ASSERT_TRUE(repo_->Pin(b.cid, PinType::kRecursive).ok());  // direct -> recursive
  ASSERT_TRUE(repo_->Pin(a.cid, PinType::kRecursive).ok());  // idempotent
  auto narrow = repo_->Pin(a.cid, PinType::kDirect);
  ASSERT_FALSE(narrow.ok());
  EXPECT_EQ(narrow.error().code, Errc::kExists);
  EXPECT_EQ(repo_->PinnedAs(a.cid), PinType::kRecursive);
  EXPECT_EQ(repo_->PinnedAs(b.cid), PinType::kRecursive);
  auto pins = repo_->ListPins();
  ASSERT_TRUE(pins.ok());
  EXPECT_EQ(pins->size(), 2u);
  ASSERT_TRUE(repo_->Unpin(a.cid).ok());
  EXPECT_FALSE(repo_->PinnedAs(a.cid).has_value());
  auto again = repo_->Unpin(a.cid);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kNotFound);
  EXPECT_EQ(repo_->ListPins()->size(), 1u);

  // A pinned block cannot be deleted directly.
  Put(*repo_, b);
  auto del = repo_->Delete(b.cid);
  ASSERT_FALSE(del.ok());
  EXPECT_TRUE(repo_->Has(b.cid));
}

TEST_F(RepoTest, GcKeepsPinnedDagsAndRemovesTheRest) {
  repo_ = Open();
  // Recursive: pb root -> {leaf1, leaf2, cbor -> leaf3, missing}; the missing child is fine.
  Node leaf1 = RawNode(100, 1), leaf2 = RawNode(200, 2), leaf3 = RawNode(300, 3);
  Node missing = RawNode(50, 4);
  Node cbor = CborNodeOf(leaf3.cid);
  Node root = PbNodeOf({leaf1.cid, leaf2.cid, cbor.cid, missing.cid});
  // Direct: keeps itself only.
  Node dchild = RawNode(400, 5);
  Node direct = PbNodeOf({dchild.cid});
  // Extra root (e.g. MFS): kept with its DAG.
  Node echild = RawNode(500, 6);
  Node extra = PbNodeOf({echild.cid});
  // Inline root linking a stored block: the identity node is walked.
  Node ichild = RawNode(600, 7);
  Node inl = PbNodeOf({ichild.cid});
  Cid inline_cid = Cid::Sum(1, codec::kDagPb, mh::kIdentity, inl.data).value();
  // Garbage.
  Node g1 = RawNode(700, 8), g2 = RawNode(800, 9);
  Node gdag = PbNodeOf({g1.cid});

  for (const Node* n : {&leaf1, &leaf2, &leaf3, &cbor, &root, &dchild, &direct, &echild, &extra,
                        &ichild, &g1, &g2, &gdag})
    Put(*repo_, *n);
  ASSERT_TRUE(repo_->Pin(root.cid, PinType::kRecursive).ok());
  ASSERT_TRUE(repo_->Pin(direct.cid, PinType::kDirect).ok());
  ASSERT_TRUE(repo_->Pin(inline_cid, PinType::kRecursive).ok());

  auto gc = repo_->Gc({extra.cid});
  ASSERT_TRUE(gc.ok()) << gc.error().message;
  EXPECT_EQ(gc->removed_blocks, 4u);  // g1, g2, gdag, dchild
  EXPECT_EQ(gc->removed_bytes, 700u + 800u + gdag.data.size() + 400u);
  EXPECT_EQ(gc->removed.size(), 4u);
  for (const Node* n : {&leaf1, &leaf2, &leaf3, &cbor, &root, &direct, &echild, &extra, &ichild})
    EXPECT_TRUE(repo_->Has(n->cid)) << n->cid.ToString();
  for (const Node* n : {&g1, &g2, &gdag, &dchild}) EXPECT_FALSE(repo_->Has(n->cid)) << n->cid.ToString();

  // Unpinning lets the next GC take the DAG.
  ASSERT_TRUE(repo_->Unpin(root.cid).ok());
  auto gc2 = repo_->Gc({extra.cid});
  ASSERT_TRUE(gc2.ok());
  EXPECT_EQ(gc2->removed_blocks, 5u);
  EXPECT_FALSE(repo_->Has(leaf3.cid));
  EXPECT_TRUE(repo_->Has(echild.cid));
  EXPECT_EQ(repo_->Gc({})->removed_blocks, 2u);  // extra and echild once not named
}

TEST_F(RepoTest, GcFollowsDagJsonLinks) {
  repo_ = Open();
  Node leaf = RawNode(100, 21);
  Node bytes_not_link = RawNode(100, 22);
  std::string json = R"({"a":{"/":")" + leaf.cid.ToString() + R"("},"b":{"/":{"bytes":"AAE"}},"c":[{"/":")" +
                     bytes_not_link.cid.ToString() + R"(","x":1}]})";
  Bytes jd = ToBytes(json);
  Node doc{Cid::Sum(1, codec::kDagJson, mh::kSha2_256, jd).value(), jd};
  for (const Node* n : {&leaf, &bytes_not_link, &doc}) Put(*repo_, *n);
  ASSERT_TRUE(repo_->Pin(doc.cid, PinType::kRecursive).ok());
  auto gc = repo_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.error().message;
  EXPECT_EQ(gc->removed_blocks, 1u);  // {"/": ..., "x": 1} is a map, not a link
  EXPECT_TRUE(repo_->Has(leaf.cid));
  EXPECT_FALSE(repo_->Has(bytes_not_link.cid));

  // A pinned block whose links cannot be read stops GC instead of losing its children.
  Bytes broken = ToBytes("{not json");
  Node bad{Cid::Sum(1, codec::kDagJson, mh::kSha2_256, broken).value(), broken};
  Put(*repo_, bad);
  ASSERT_TRUE(repo_->Pin(bad.cid, PinType::kRecursive).ok());
  auto gc2 = repo_->Gc();
  ASSERT_FALSE(gc2.ok());
  EXPECT_EQ(gc2.error().code, Errc::kMalformed);
  EXPECT_NE(gc2.error().message.find(bad.cid.ToString()), std::string::npos);
}

TEST_F(RepoTest, GcSparesBlocksOfALiveWriter) {
  repo_ = Open();
  Node leaf = RawNode(1000, 11);
  Node root = PbNodeOf({leaf.cid});
  auto w = repo_->NewWriter(1);  // commits every Put
  ASSERT_TRUE(w->Put(leaf.cid, leaf.data).ok());
  ASSERT_TRUE(w->Put(root.cid, root.data).ok());
  ASSERT_TRUE(repo_->Has(root.cid));
  // An import in progress has not pinned its root yet.
  EXPECT_EQ(repo_->Gc()->removed_blocks, 0u);
  EXPECT_TRUE(repo_->Has(leaf.cid));
  w.reset();
  EXPECT_EQ(repo_->Gc()->removed_blocks, 2u);
}

// The lease is in the database: a gc in another process keeps an import's blocks while the
// importer lives, and reclaims them once it died by kill -9 (issue 10, reproduction 2).
TEST_F(RepoTest, ABlockAnotherProcessCommitsIsFoundAtOnceAndAMissStaysAMiss) {
  Node n = RawNode(5000, 31), absent = RawNode(5000, 32);
  int go[2], done[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t child = ::fork();  // before this process opens the repo
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(2);
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    if (!r.ok() || !(*r)->Put(n.cid, n.data).ok()) ::_exit(3);
    (void)!::write(done[1], &c, 1);
    ::_exit(0);
  }
  repo_ = Open();
  // Misses with nothing committed since the snapshot: answered from it, many times over.
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(repo_->Has(n.cid));
  char c = 'g';
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  ASSERT_EQ(::read(done[0], &c, 1), 1) << "the child could not write its block";
  // Our snapshot (under a second old) predates the child's commit: the miss looks again.
  EXPECT_TRUE(repo_->Has(n.cid));
  auto g = repo_->Get(n.cid);
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->size(), n.data.size());
  EXPECT_FALSE(repo_->Has(absent.cid));
  auto miss = repo_->Get(absent.cid);
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.error().code, Errc::kNotFound);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int fd : {go[0], go[1], done[0], done[1]}) ::close(fd);
}

TEST_F(RepoTest, GcInAnotherProcessSparesALiveLeaseAndReclaimsADeadOne) {
  Node leaf = RawNode(3000, 21);
  Node root = PbNodeOf({leaf.cid});
  int ready[2], hold[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(hold), 0);
  // Forked before this process opens the repo: an LMDB environment must not cross a fork.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    ::close(hold[1]);
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    if (!r.ok()) ::_exit(2);
    auto w = (*r)->NewWriter(1);
    if (!w->Put(leaf.cid, leaf.data).ok() || !w->Put(root.cid, root.data).ok()) ::_exit(3);
    char c = 'r';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(hold[0], &c, 1);  // until killed (or the test ends)
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(hold[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the child could not write its blocks";
  repo_ = Open();
  EXPECT_EQ(repo_->CountLeases().value(), 1u);
  auto g = repo_->Gc();
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->removed_blocks, 0u);
  EXPECT_EQ(g->live_leases, 1u);
  EXPECT_TRUE(repo_->Has(leaf.cid));
  EXPECT_TRUE(repo_->Has(root.cid));

  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  g = repo_->Gc();
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->reclaimed_leases, 1u);
  EXPECT_EQ(g->live_leases, 0u);
  EXPECT_EQ(g->removed_blocks, 2u);
  EXPECT_FALSE(repo_->Has(leaf.cid));
  EXPECT_EQ(repo_->CountLeases().value(), 0u);
  EXPECT_TRUE(fs::is_empty(dir_ + "/repo/leases"));
  ::close(ready[0]);
  ::close(hold[1]);
}

// A tree root kept in meta ("<name>.root") is a gc root, so a gc run by any process (the CLI
// without knowing the tree) keeps the tree; other meta keys are not roots.
TEST_F(RepoTest, GcKeepsTreeRootsRecordedInMeta) {
  repo_ = Open();
  Node a = RawNode(500, 31), b = RawNode(500, 32), c = RawNode(500, 33);
  Node tree = PbNodeOf({a.cid});
  for (const Node* n : {&a, &b, &c, &tree}) Put(*repo_, *n);
  ASSERT_TRUE(repo_->PutMeta("mfs.root", tree.cid.bytes()).ok());
  ASSERT_TRUE(repo_->PutMeta("ipns.k51test.root", b.cid.bytes()).ok());
  ASSERT_TRUE(repo_->PutMeta("not-a-root", c.cid.bytes()).ok());
  auto g = repo_->Gc();
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_TRUE(repo_->Has(tree.cid));
  EXPECT_TRUE(repo_->Has(a.cid));
  EXPECT_TRUE(repo_->Has(b.cid));
  EXPECT_FALSE(repo_->Has(c.cid));
  EXPECT_EQ(g->removed_blocks, 1u);
}

// The store contract: a component's db, a txn that is not committed changes nothing, and the
// repo's own databases cannot be opened by anyone else.
TEST_F(RepoTest, StoreTransactionsAndComponentDatabases) {
  repo_ = Open();
  EXPECT_FALSE(repo_->OpenDb("blocks").ok());
  EXPECT_FALSE(repo_->OpenDb("leases").ok());
  auto db = repo_->OpenDb("test.db");
  ASSERT_TRUE(db.ok()) << db.error().message;
  Node n = RawNode(100, 41);
  {
    auto txn = repo_->BeginWrite();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Put(*db, AsBytes(std::string_view("k")), AsBytes(std::string_view("v"))).ok());
    ASSERT_TRUE(txn->PutBlock(n.cid, n.data).ok());
    // Destroyed without Commit: aborted.
  }
  EXPECT_FALSE(repo_->Has(n.cid));
  {
    auto txn = repo_->BeginWrite();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Put(*db, AsBytes(std::string_view("k")), AsBytes(std::string_view("v"))).ok());
    ASSERT_TRUE(txn->PutBlock(n.cid, n.data).ok());
    ASSERT_TRUE(txn->Commit().ok());
    EXPECT_FALSE(txn->Commit().ok());  // a committed txn is closed
  }
  EXPECT_TRUE(repo_->Has(n.cid));
  auto r = repo_->BeginRead({*db});
  ASSERT_TRUE(r.ok());
  auto v = r->Get(*db, AsBytes(std::string_view("k")));
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(AsChars(**v), "v");
  EXPECT_FALSE(r->Get(*db, AsBytes(std::string_view("absent")))->has_value());
  // A lease released in the txn that also records what covers its blocks.
  auto lease = repo_->NewLease();
  ASSERT_TRUE(lease.ok());
  Node m = RawNode(100, 42);
  {
    auto txn = repo_->BeginWrite();
    ASSERT_TRUE(txn->PutBlock(m.cid, m.data, lease->get()).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ(repo_->Gc()->live_leases, 1u);
  EXPECT_TRUE(repo_->Has(m.cid));
  {
    auto txn = repo_->BeginWrite();
    ASSERT_TRUE(txn->PutMeta("t.root", m.cid.bytes()).ok());
    ASSERT_TRUE(txn->ReleaseLease(**lease).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ(repo_->CountLeases().value(), 0u);
  auto g = repo_->Gc();
  EXPECT_EQ(g->live_leases, 0u);
  EXPECT_TRUE(repo_->Has(m.cid));
}

TEST_F(RepoTest, MetaAndStat) {
  repo_ = Open();
  EXPECT_EQ(repo_->GetMeta("mfs.root").error().code, Errc::kNotFound);
  ASSERT_TRUE(repo_->PutMeta("mfs.root", ToBytes("abc")).ok());
  ASSERT_TRUE(repo_->PutMeta("mfs.root", ToBytes("abcd")).ok());
  EXPECT_EQ(AsChars(*repo_->GetMeta("mfs.root")), "abcd");
  EXPECT_FALSE(repo_->PutMeta("", ToBytes("x")).ok());

  Node a = RawNode(3000, 1), b = RawNode(5000, 2);
  Put(*repo_, a);
  Put(*repo_, b);
  ASSERT_TRUE(repo_->Pin(a.cid, PinType::kDirect).ok());
  auto st = repo_->Stat();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->num_blocks, 2u);
  EXPECT_EQ(st->blocks_bytes, 8000u);
  EXPECT_EQ(st->num_pins, 1u);
  EXPECT_EQ(st->map_size, uint64_t{1} << 40);
  EXPECT_GT(st->disk_bytes, 0u);
}

TEST_F(RepoTest, DefaultOneTebibyteMapIsSparse) {
  repo_ = Open();
  for (uint32_t i = 0; i < 10; ++i) Put(*repo_, RawNode(100000, i));
  struct stat sb;
  ASSERT_EQ(::stat((dir_ + "/repo/data.mdb").c_str(), &sb), 0);
  EXPECT_LT(static_cast<uint64_t>(sb.st_blocks) * 512, uint64_t{64} << 20);
  EXPECT_LT(static_cast<uint64_t>(sb.st_size), uint64_t{64} << 20);
}

TEST_F(RepoTest, ReopenKeepsEverything) {
  Node a = RawNode(4000, 1);
  {
    auto r = Open();
    Put(*r, a);
    ASSERT_TRUE(r->Pin(a.cid, PinType::kRecursive).ok());
    ASSERT_TRUE(r->PutMeta("k", ToBytes("v")).ok());
    // A second Open in the same process shares the environment.
    auto r2 = Open();
    auto meta = r2->GetMeta("k");
    ASSERT_TRUE(meta.ok());
    EXPECT_EQ(*meta, ToBytes("v"));
    EXPECT_TRUE(r2->Has(a.cid));
  }
  auto r = Open();
  auto g = r->Get(a.cid);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(std::equal(g->data().begin(), g->data().end(), a.data.begin(), a.data.end()));
  EXPECT_EQ(r->PinnedAs(a.cid), PinType::kRecursive);
  EXPECT_EQ(AsChars(*r->GetMeta("k")), "v");
  std::ifstream vf(dir_ + "/repo/version");
  std::string v;
  vf >> v;
  EXPECT_EQ(v, "1");
}

TEST_F(RepoTest, BlockOutlivesRepo) {
  Node a = RawNode(4000, 1);
  Block held;
  {
    auto r = Open();
    Put(*r, a);
    held = r->Get(a.cid).value();
  }
  EXPECT_TRUE(std::equal(held.data().begin(), held.data().end(), a.data.begin(), a.data.end()));
  auto r = Open();  // reuses the environment the Block keeps open
  EXPECT_TRUE(r->Has(a.cid));
}

TEST_F(RepoTest, ReadOnlyOpen) {
  Node a = RawNode(100, 1);
  {
    auto r = Open();
    Put(*r, a);
  }
  RepoOptions o;
  o.path = dir_ + "/repo";
  o.read_only = true;
  auto r = Repo::Open(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE((*r)->Has(a.cid));
  auto st = (*r)->Put(RawNode(10, 2).cid, RawNode(10, 2).data);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kReadOnly);
  EXPECT_EQ((*r)->Pin(a.cid, PinType::kDirect).error().code, Errc::kReadOnly);
}

TEST_F(RepoTest, VersionFileChecks) {
  RepoOptions o;
  o.path = dir_ + "/missing";
  o.create = false;
  auto r = Repo::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kNotFound);

  { auto ok = Open(); }
  std::string vfile = dir_ + "/repo/version";
  std::ofstream(vfile) << "2\n";
  o.path = dir_ + "/repo";
  o.create = true;
  r = Repo::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
  EXPECT_NE(r.error().message.find("version 2"), std::string::npos) << r.error().message;

  std::ofstream(vfile) << "one\n";
  r = Repo::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);

  fs::remove(vfile);
  r = Repo::Open(o);  // data.mdb without a version file is not silently adopted
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("version"), std::string::npos);

  fs::create_directories(dir_ + "/foreign");
  std::ofstream(dir_ + "/foreign/notes.txt") << "mine";
  o.path = dir_ + "/foreign";
  r = Repo::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(dir_ + "/foreign/data.mdb"));

  std::ofstream(dir_ + "/file") << "x";
  o.path = dir_ + "/file";
  r = Repo::Open(o);
  ASSERT_FALSE(r.ok());
}

TEST_F(RepoTest, MapFullGivesNoSpaceAndKeepsEarlierData) {
  repo_ = Open(2 << 20);
  std::vector<Node> stored;
  Status st;
  for (uint32_t i = 0; i < 200; ++i) {
    Node n = RawNode(64 * 1024, 50 + i);
    st = repo_->Put(n.cid, n.data);
    if (!st.ok()) break;
    stored.push_back(n);
  }
  ASSERT_FALSE(st.ok()) << "a 2 MiB map never filled";
  EXPECT_EQ(st.error().code, Errc::kNoSpace);
  EXPECT_NE(st.error().message.find("full"), std::string::npos) << st.error().message;
  ASSERT_GT(stored.size(), 5u);
  for (auto& n : stored) {
    auto g = repo_->Get(n.cid);
    ASSERT_TRUE(g.ok());
    EXPECT_TRUE(std::equal(g->data().begin(), g->data().end(), n.data.begin(), n.data.end()));
  }

  // A batch that does not fit fails as a whole with kNoSpace; earlier blocks stay.
  auto w = repo_->NewWriter(1 << 30);
  for (uint32_t i = 0; i < 10; ++i) {
    Node n = RawNode(64 * 1024, 900 + i);
    ASSERT_TRUE(w->Put(n.cid, n.data).ok());
  }
  auto fl = w->Flush();
  ASSERT_FALSE(fl.ok());
  EXPECT_EQ(fl.error().code, Errc::kNoSpace);
  w.reset();
  EXPECT_EQ(repo_->Stat()->num_blocks, stored.size());

  // After GC frees space, writes succeed again.
  auto gc = repo_->Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->removed_blocks, stored.size());
  for (uint32_t i = 0; i < 5; ++i) {
    Node n = RawNode(64 * 1024, 4242 + i);
    auto s = repo_->Put(n.cid, n.data);
    ASSERT_TRUE(s.ok()) << i << " " << s.error().message;
  }
}

TEST(LmdbErrorTest, CorruptionStopsTheProcessOtherErrorsAreValues) {
  EXPECT_DEATH(lmdb::CheckFatal(MDB_CORRUPTED, "get block X in repo /r"), "fatal: LMDB .*get block X");
  EXPECT_DEATH(lmdb::CheckFatal(MDB_PANIC, "commit"), "fatal: LMDB");
  lmdb::CheckFatal(MDB_NOTFOUND, "fine");
  EXPECT_EQ(lmdb::ToError(MDB_MAP_FULL, "put").code, Errc::kNoSpace);
  EXPECT_EQ(lmdb::ToError(MDB_READERS_FULL, "get").code, Errc::kIo);
  EXPECT_EQ(lmdb::ToError(EACCES, "open").code, Errc::kReadOnly);
}

TEST(RepoPathTest, DefaultRepoPathFollowsEnvironment) {
  auto save = [](const char* k) -> std::optional<std::string> {
    const char* v = getenv(k);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  auto restore = [](const char* k, const std::optional<std::string>& v) {
    if (v) setenv(k, v->c_str(), 1); else unsetenv(k);
  };
  auto p = save("IPFSKIT_PATH"), x = save("XDG_DATA_HOME"), h = save("HOME");
  setenv("IPFSKIT_PATH", "/tmp/a", 1);
  setenv("XDG_DATA_HOME", "/tmp/xdg", 1);
  setenv("HOME", "/tmp/home", 1);
  EXPECT_EQ(DefaultRepoPath(), "/tmp/a");
  unsetenv("IPFSKIT_PATH");
  EXPECT_EQ(DefaultRepoPath(), "/tmp/xdg/ipfskit");
  unsetenv("XDG_DATA_HOME");
  EXPECT_EQ(DefaultRepoPath(), "/tmp/home/.local/share/ipfskit");
  restore("IPFSKIT_PATH", p);
  restore("XDG_DATA_HOME", x);
  restore("HOME", h);
}

}  // namespace
}  // namespace ipfskit
