// MfsTree against the importer: same bytes, same CID; partial rewrites touch O(depth) blocks;
// POSIX directory semantics; persistence, reload, ENOSPC.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "core/importer/importer.h"
#include "core/mfs/mfs_tree.h"
#include "core/store/memory_store.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using NodeRef = MfsTree::NodeRef;

Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

Cid AddCid(ByteView data, const ImportOptions& o) {
  MemoryBlockStore mem;
  auto e = ImportBytes(data, o, &mem);
  EXPECT_TRUE(e.ok());
  return e->cid;
}

// 4 KiB chunks and limits small enough that a test's writes spill leaves to the repo.
MfsOptions SmallLimits() {
  MfsOptions o;
  o.import.chunk_size = 4096;
  o.file_dirty_limit = 4 * 4096;
  o.tree_dirty_limit = 8 * 4096;
  o.pending_limit = 64 * 1024;
  return o;
}

class MfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("mfs-test");
    OpenRepo();
  }
  void TearDown() override {
    tree_.reset();
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenRepo(size_t map_size = size_t{1} << 34) {
    RepoOptions ro;
    ro.path = dir_ + "/repo";
    ro.map_size = map_size;
    auto r = Repo::Open(ro);
    ASSERT_TRUE(r.ok()) << r.error().message;
    repo_ = *r;
  }
  std::shared_ptr<MfsTree> OpenTree(MfsOptions o = {}) {
    auto t = MfsTree::Open(repo_, o);
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t.ok() ? *t : nullptr;
  }
  Bytes ReadAll(MfsTree& t, const NodeRef& n) {
    auto a = t.Getattr(n);
    EXPECT_TRUE(a.ok());
    Bytes out(a->size);
    size_t done = 0;
    while (done < out.size()) {
      auto r = t.Read(n, done, std::span<uint8_t>(out).subspan(done, std::min<size_t>(1 << 20, out.size() - done)));
      EXPECT_TRUE(r.ok()) << r.error().message;
      if (!r.ok() || *r == 0) break;
      done += *r;
    }
    EXPECT_EQ(done, out.size());
    return out;
  }
  uint64_t NumBlocks() { return repo_->Stat()->num_blocks; }

  std::string dir_;
  std::shared_ptr<Repo> repo_;
  std::shared_ptr<MfsTree> tree_;
};

TEST_F(MfsTest, EmptyRootIsPersisted) {
  auto t = OpenTree();
  auto meta = repo_->GetMeta("mfs.root");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(Cid::FromBytes(*meta)->ToString(), "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  EXPECT_TRUE(repo_->Has(*Cid::FromBytes(*meta)));
}

// Written in odd-sized pieces, in order and out of order, the file's CID is `add`'s.
TEST_F(MfsTest, FileCidEqualsImporterForBothProfiles) {
  for (const char* profile : {"unixfs-v0-2015", "unixfs-v1-2025"}) {
    MfsOptions o;
    ASSERT_TRUE(ApplyMfsProfile(profile, o).ok());
    auto t = OpenTree(o);
    for (size_t size : {size_t{0}, size_t{1}, size_t{262144}, size_t{262145}, size_t{3} * 1048576 + 17}) {
      Bytes data = RandomBytes(size, static_cast<uint32_t>(size));
      std::string name = std::string(profile) + "-" + std::to_string(size);
      auto f = t->Create(t->Root(), name, 0644, true);
      ASSERT_TRUE(f.ok());
      // Back to front in 100000-byte pieces: every chunk is assembled from several writes.
      std::vector<size_t> offs;
      for (size_t off = 0; off < size; off += 100000) offs.push_back(off);
      std::reverse(offs.begin(), offs.end());
      for (size_t off : offs) {
        size_t n = std::min<size_t>(100000, size - off);
        ASSERT_TRUE(t->Write(*f, off, ByteView(data).subspan(off, n)).ok());
      }
      auto cid = t->CidOf(*f);
      ASSERT_TRUE(cid.ok()) << cid.error().message;
      EXPECT_EQ(cid->ToString(), AddCid(data, o.import).ToString()) << name;
      EXPECT_EQ(ReadAll(*t, *f), data) << name;
    }
  }
}

TEST_F(MfsTest, DeepTreePartialRewriteTouchesDepthBlocks) {
  MfsOptions o;
  o.import.chunk_size = 1024;
  o.import.width = 4;
  auto t = OpenTree(o);
  Bytes data = RandomBytes(300 * 1024 + 5, 7);  // 301 leaves, depth 5
  auto f = t->Create(t->Root(), "big", 0644, true);
  ASSERT_TRUE(f.ok());
  for (size_t off = 0; off < data.size(); off += 65536)
    ASSERT_TRUE(t->Write(*f, off, ByteView(data).subspan(off, std::min<size_t>(65536, data.size() - off))).ok());
  ASSERT_TRUE(t->Commit().ok());
  EXPECT_EQ(t->CidOf(*f)->ToString(), AddCid(data, o.import).ToString());
  uint64_t before = NumBlocks();
  // A few bytes in the middle.
  data[150 * 1024 + 3] ^= 0xff;
  data[150 * 1024 + 4] ^= 0xff;
  ASSERT_TRUE(t->Write(*f, 150 * 1024 + 3, ByteView(data).subspan(150 * 1024 + 3, 2)).ok());
  ASSERT_TRUE(t->Commit().ok());
  uint64_t added = NumBlocks() - before;
  // One leaf, the internal nodes above it (depth 5) and the root directory; not 301 leaves.
  EXPECT_LE(added, 8u);
  EXPECT_GE(added, 3u);
  EXPECT_EQ(t->CidOf(*f)->ToString(), AddCid(data, o.import).ToString());
  EXPECT_EQ(ReadAll(*t, *f), data);
}

TEST_F(MfsTest, TruncateAndHolesReadAsZeros) {
  MfsOptions o;
  o.import.chunk_size = 4096;
  auto t = OpenTree(o);
  auto f = t->Create(t->Root(), "f", 0644, true);
  ASSERT_TRUE(f.ok());
  Bytes shadow = RandomBytes(10000, 3);
  ASSERT_TRUE(t->Write(*f, 0, shadow).ok());
  ASSERT_TRUE(t->FlushFile(*f).ok());  // content now in leaves
  ASSERT_TRUE(t->Truncate(*f, 5000).ok());
  shadow.resize(5000);
  ASSERT_TRUE(t->Truncate(*f, 9000).ok());  // the cut-off bytes must come back as zeros
  shadow.resize(9000, 0);
  Bytes tail = RandomBytes(10, 4);
  ASSERT_TRUE(t->Write(*f, 20000, tail).ok());  // a hole across chunks
  shadow.resize(20000, 0);
  shadow.insert(shadow.end(), tail.begin(), tail.end());
  EXPECT_EQ(ReadAll(*t, *f), shadow);
  EXPECT_EQ(t->CidOf(*f)->ToString(), AddCid(shadow, o.import).ToString());
  EXPECT_EQ(ReadAll(*t, *f), shadow);
  ASSERT_TRUE(t->Truncate(*f, 0).ok());
  EXPECT_EQ(t->CidOf(*f)->ToString(), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
}

TEST_F(MfsTest, AppendAndSpillWithSmallLimits) {
  MfsOptions o = SmallLimits();
  auto t = OpenTree(o);
  auto f = t->Create(t->Root(), "log", 0644, true);
  ASSERT_TRUE(f.ok());
  Bytes shadow;
  std::mt19937 rng(11);
  for (int i = 0; i < 400; ++i) {
    Bytes piece = RandomBytes(rng() % 3000 + 1, i);
    ASSERT_TRUE(t->Write(*f, 0, piece, /*append=*/true).ok());
    shadow.insert(shadow.end(), piece.begin(), piece.end());
  }
  EXPECT_LE(t->Stats().dirty_bytes, 4096u * 5);  // bounded, not the whole file
  EXPECT_EQ(ReadAll(*t, *f), shadow);
  EXPECT_EQ(t->CidOf(*f)->ToString(), AddCid(shadow, o.import).ToString());
}

// A gc while a large file is being written (its leaves spilled to the repo, no root covers
// them yet) keeps those leaves: they are in the tree's lease, in the database (issue 10,
// reproduction 2). Without it, the commit would reference removed blocks.
TEST_F(MfsTest, GcDuringALargeWriteKeepsSpilledLeaves) {
  MfsOptions o = SmallLimits();
  auto t = OpenTree(o);
  auto f = t->Create(t->Root(), "big", 0644, true);
  ASSERT_TRUE(f.ok());
  t->WriterOpened();  // as an open FUSE handle
  Bytes data = RandomBytes(1 << 20, 77);
  auto write = [&](size_t from, size_t to) {  // in pieces, as FUSE writes
    for (size_t off = from; off < to; off += 32 * 1024)
      ASSERT_TRUE(t->Write(*f, off, ByteView(data).subspan(off, 32 * 1024)).ok());
  };
  write(0, data.size() / 2);
  ASSERT_GT(NumBlocks(), 1u) << "nothing was spilled; the test does not exercise the case";
  EXPECT_EQ(repo_->CountLeases().value(), 1u);
  auto g = repo_->Gc();
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->removed_blocks, 0u);
  EXPECT_EQ(g->live_leases, 1u);
  write(data.size() / 2, data.size());
  // A commit with the writer still open keeps the lease (more leaves may come).
  ASSERT_TRUE(t->Commit().ok());
  ASSERT_TRUE(repo_->Gc().ok());
  t->WriterClosed();
  ASSERT_TRUE(t->FlushFile(*f).ok());
  ASSERT_TRUE(t->Commit().ok());
  // Committed with no writer: the root covers everything and the lease is released.
  EXPECT_EQ(repo_->CountLeases().value(), 0u);
  ASSERT_TRUE(repo_->Gc().ok());
  EXPECT_EQ(ReadAll(*t, *f), data);
  ASSERT_TRUE(t->Close().ok());
  t.reset();
  auto t2 = OpenTree(o);
  auto f2 = t2->Resolve("/big");
  ASSERT_TRUE(f2.ok());
  EXPECT_EQ(ReadAll(*t2, *f2), data);
}

TEST_F(MfsTest, RechunksForeignContentOnFirstChange) {
  Bytes data = RandomBytes(700000, 5);
  ImportOptions foreign;
  foreign.chunk_size = 100000;  // not the MFS chunker
  auto w = repo_->NewWriter();
  auto e = ImportBytes(data, foreign, w.get());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(w->Flush().ok());
  auto t = OpenTree();
  auto f = t->Link(t->Root(), "foreign", e->cid, false);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(t->CidOf(*f)->ToString(), e->cid.ToString());  // linking keeps the CID
  data[123] = 'x';
  ASSERT_TRUE(t->Write(*f, 123, AsBytes("x")).ok());
  EXPECT_EQ(t->CidOf(*f)->ToString(), AddCid(data, ImportOptions{}).ToString());
  EXPECT_EQ(ReadAll(*t, *f), data);
}

TEST_F(MfsTest, DirectoriesAndRenameSemantics) {
  auto t = OpenTree();
  auto root = t->Root();
  auto a = t->Mkdir(root, "a", 0755);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(t->Mkdir(*a, "sub", 0755).ok());
  EXPECT_EQ(t->Mkdir(root, "a", 0755).error().code, Errc::kExists);
  EXPECT_EQ(t->Rmdir(root, "a").error().code, Errc::kNotEmpty);
  EXPECT_EQ(t->Unlink(root, "a").error().code, Errc::kIsDir);
  auto f = t->Create(root, "f", 0644, true);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(t->Write(*f, 0, AsBytes("hello")).ok());
  EXPECT_EQ(t->Create(root, "f", 0644, true).error().code, Errc::kExists);
  EXPECT_EQ(t->Rmdir(root, "f").error().code, Errc::kNotDir);
  // Into its own subtree.
  EXPECT_EQ(t->Rename(root, "a", *t->Lookup(*a, "sub"), "x", 0).error().code, Errc::kInvalidArgument);
  // File over directory, directory over file, directory over non-empty directory.
  EXPECT_EQ(t->Rename(root, "f", root, "a", 0).error().code, Errc::kIsDir);
  EXPECT_EQ(t->Rename(root, "a", root, "f", 0).error().code, Errc::kNotDir);
  ASSERT_TRUE(t->Mkdir(root, "b", 0755).ok());
  ASSERT_TRUE(t->Create(*t->Lookup(root, "b"), "in-b", 0644, true).ok());
  EXPECT_EQ(t->Rename(root, "a", root, "b", 0).error().code, Errc::kNotEmpty);
  // Replace a file atomically; NOREPLACE refuses.
  auto g = t->Create(root, "g", 0644, true);
  ASSERT_TRUE(t->Write(*g, 0, AsBytes("new")).ok());
  EXPECT_EQ(t->Rename(root, "g", root, "f", kMfsRenameNoReplace).error().code, Errc::kExists);
  ASSERT_TRUE(t->Rename(root, "g", root, "f", 0).ok());
  EXPECT_EQ(t->Lookup(root, "g").error().code, Errc::kNotFound);
  EXPECT_EQ(ReadAll(*t, *t->Lookup(root, "f")), ToBytes("new"));
  // The replaced file stays usable through its handle.
  EXPECT_EQ(ReadAll(*t, *f), ToBytes("hello"));
  ASSERT_TRUE(t->Write(*f, 5, AsBytes("!")).ok());
  EXPECT_EQ(ReadAll(*t, *f), ToBytes("hello!"));
  // Exchange.
  ASSERT_TRUE(t->Rename(root, "a", root, "b", kMfsRenameExchange).ok());
  EXPECT_TRUE(t->Lookup(*t->Lookup(root, "a"), "in-b").ok());
  EXPECT_TRUE(t->Lookup(*t->Lookup(root, "b"), "sub").ok());
  // Move a directory across parents.
  ASSERT_TRUE(t->Rename(root, "b", *t->Lookup(root, "a"), "moved", 0).ok());
  EXPECT_TRUE(t->Resolve("/a/moved/sub").ok());
  // Symlink.
  ASSERT_TRUE(t->Symlink(root, "link", "a/moved").ok());
  EXPECT_EQ(*t->Readlink(*t->Lookup(root, "link")), "a/moved");
  ASSERT_TRUE(t->Commit().ok());
  auto list = t->List(root);
  ASSERT_TRUE(list.ok());
  std::vector<std::string> names;
  for (auto& i : *list) names.push_back(i.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "f", "link"}));
}

TEST_F(MfsTest, PersistsAcrossReopenAndReloadsExternalChanges) {
  Bytes data = RandomBytes(600000, 9);
  Cid root;
  {
    auto t = OpenTree();
    ASSERT_TRUE(t->MkdirAll("/x/y").ok());
    auto f = t->Create(*t->Resolve("/x/y"), "data", 0644, true);
    ASSERT_TRUE(t->Write(*f, 0, data).ok());
    ASSERT_TRUE(t->Commit().ok());
    root = t->Stats().root;
  }
  auto a = OpenTree();
  EXPECT_EQ(a->Stats().root, root);
  EXPECT_EQ(ReadAll(*a, *a->Resolve("/x/y/data")), data);
  // A second tree on the same repo (as the CLI would be) changes it; `a` adopts the change.
  auto b = OpenTree();
  ASSERT_TRUE(b->Unlink(*b->Resolve("/x/y"), "data").ok());
  ASSERT_TRUE(b->Commit().ok());
  EXPECT_EQ(a->Resolve("/x/y/data").ok(), true);
  a->WriterOpened();
  EXPECT_FALSE(*a->ReloadIfChanged());  // not while a writer is open
  a->WriterClosed();
  EXPECT_TRUE(*a->ReloadIfChanged());
  EXPECT_EQ(a->Resolve("/x/y/data").error().code, Errc::kNotFound);
}

// A reload re-binds the nodes callers hold by path instead of swapping in a new tree: writes
// through a held directory or file land in the tree that is committed; nodes the other process
// removed (and their subtrees) refuse changes.
TEST_F(MfsTest, ReloadKeepsHeldNodesAndFailsRemovedOnes) {
  auto a = OpenTree();
  ASSERT_TRUE(a->MkdirAll("/keep/in").ok());
  ASSERT_TRUE(a->MkdirAll("/drop/deep").ok());
  auto f = a->Create(*a->Resolve("/keep"), "f", 0644, true);
  ASSERT_TRUE(a->Write(*f, 0, AsBytes("old")).ok());
  auto g = a->Create(*a->Resolve("/drop/deep"), "g", 0644, true);
  ASSERT_TRUE(a->Write(*g, 0, AsBytes("g")).ok());
  ASSERT_TRUE(a->Commit().ok());
  auto bytes = [](std::string_view v) { return Bytes(AsBytes(v).begin(), AsBytes(v).end()); };
  NodeRef root = a->Root(), keep = *a->Resolve("/keep"), in = *a->Resolve("/keep/in");
  NodeRef drop = *a->Resolve("/drop"), deep = *a->Resolve("/drop/deep");
  {
    auto b = OpenTree();
    auto bf = b->Resolve("/keep/f");
    ASSERT_TRUE(b->Truncate(*bf, 0).ok());
    ASSERT_TRUE(b->Write(*bf, 0, AsBytes("new!")).ok());
    ASSERT_TRUE(b->MkdirAll("/other").ok());
    ASSERT_TRUE(b->Unlink(*b->Resolve("/drop/deep"), "g").ok());
    ASSERT_TRUE(b->Rmdir(*b->Resolve("/drop"), "deep").ok());
    ASSERT_TRUE(b->Rmdir(b->Root(), "drop").ok());
    ASSERT_TRUE(b->Commit().ok());
  }
  ASSERT_TRUE(*a->ReloadIfChanged());
  // The same node objects, now showing the other process's content.
  EXPECT_EQ(a->Root(), root);
  EXPECT_EQ(*a->Resolve("/keep"), keep);
  EXPECT_EQ(*a->Resolve("/keep/in"), in);
  EXPECT_EQ(*a->Resolve("/keep/f"), *f);
  EXPECT_EQ(ReadAll(*a, *f), bytes("new!"));
  EXPECT_TRUE(a->Resolve("/other").ok());
  // Writes through held nodes reach the committed tree.
  ASSERT_TRUE(a->Create(in, "h", 0644, true).ok());
  ASSERT_TRUE(a->Write(*f, 4, AsBytes("+")).ok());
  ASSERT_TRUE(a->Commit().ok());
  {
    auto c = OpenTree();
    EXPECT_TRUE(c->Resolve("/keep/in/h").ok());
    EXPECT_TRUE(c->Resolve("/other").ok());
    EXPECT_EQ(ReadAll(*c, *c->Resolve("/keep/f")), bytes("new!+"));
  }
  // The removed subtree refuses changes instead of swallowing them.
  EXPECT_EQ(a->Resolve("/drop").error().code, Errc::kNotFound);
  EXPECT_EQ(a->Create(drop, "x", 0644, true).error().code, Errc::kNotFound);
  EXPECT_EQ(a->Mkdir(deep, "x", 0755).error().code, Errc::kNotFound);
  EXPECT_EQ(a->Write(*g, 0, AsBytes("lost")).error().code, Errc::kNotFound);
  EXPECT_EQ(a->Truncate(*g, 0).error().code, Errc::kNotFound);
  EXPECT_EQ(a->SetMode(deep, 0700).error().code, Errc::kNotFound);
  EXPECT_EQ(a->SetMtime(*g, timespec{1, 0}).error().code, Errc::kNotFound);
}

TEST_F(MfsTest, ModeAndMtimeOnlyStoredWhenAsked) {
  auto plain = OpenTree();
  auto f = plain->Create(plain->Root(), "f", 0644, true);
  ASSERT_TRUE(plain->Write(*f, 0, AsBytes("x")).ok());
  Cid before = *plain->CidOf(*f);
  ASSERT_TRUE(plain->SetMode(*f, 0755).ok());
  ASSERT_TRUE(plain->SetMtime(*f, timespec{1000, 5}).ok());
  EXPECT_EQ(*plain->CidOf(*f), before);
  EXPECT_EQ(plain->Getattr(*f)->mode, 0755u);  // kept in memory all the same
  plain.reset();

  MfsOptions o;
  o.store_mode = o.store_mtime = true;
  o.root_key = "mfs.root.meta";
  auto t = OpenTree(o);
  auto g = t->Create(t->Root(), "g", 0644, true);
  ASSERT_TRUE(t->Write(*g, 0, AsBytes("x")).ok());
  ASSERT_TRUE(t->SetMode(*g, 0700).ok());
  ASSERT_TRUE(t->SetMtime(*g, timespec{1000, 5}).ok());
  Cid c = *t->CidOf(*g);
  EXPECT_NE(c, before);
  auto info = t->reader().Stat(c);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->mode.value_or(0), 0700u);
  EXPECT_EQ(info->mtime->seconds, 1000);
  EXPECT_EQ(info->mtime->nanos, 5u);
}

// What UnixFS cannot hold (owner, hard links, special files, a mode not in the DAG) is kept
// beside the tree in repo meta "<root_key>.posix": it survives a reopen and changes no CID.
TEST_F(MfsTest, PosixSideDataSurvivesReopenAndChangesNoCid) {
  Bytes data = RandomBytes(300000, 21);
  MfsOptions o;  // default import options: a file's CID is `ipfskit add`'s
  Cid root_before;
  {
    auto t = OpenTree(o);
    auto d = t->Mkdir(t->Root(), "d", 0755);
    ASSERT_TRUE(d.ok());
    auto f = t->Create(*d, "f", 0644, true, MfsCaller{1000, 100});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(t->Write(*f, 0, data).ok());
    EXPECT_EQ(t->Getattr(*f)->uid, 1000u);
    EXPECT_EQ(t->Getattr(*f)->gid, 100u);
    ASSERT_TRUE(t->Commit().ok());
    root_before = t->Stats().root;
    ASSERT_TRUE(t->SetOwner(*f, 2000, 3000).ok());
    ASSERT_TRUE(t->SetMode(*f, 04755).ok());  // setuid, kept beside the DAG (no store_mode)
    ASSERT_TRUE(t->Commit().ok());
    EXPECT_EQ(t->Stats().root, root_before);  // chown and chmod moved no CID
    EXPECT_TRUE(repo_->GetMeta("mfs.root.posix").ok());
    ASSERT_TRUE(t->HardLink(*f, t->Root(), "link").ok());
    EXPECT_EQ(t->Getattr(*f)->nlink, 2u);
    EXPECT_EQ(t->HardLink(*f, t->Root(), "link").error().code, Errc::kExists);
    ASSERT_TRUE(t->Mknod(*d, "fifo", MfsKind::kFifo, 0640, 0, MfsCaller{7, 8}).ok());
    ASSERT_TRUE(t->Mknod(*d, "null", MfsKind::kCharDevice, 0666, 0x103, std::nullopt).ok());
    auto sg = t->Mkdir(t->Root(), "sg", 02775, MfsCaller{0, 50});
    ASSERT_TRUE(sg.ok());
    ASSERT_TRUE(t->SetOwner(t->Root(), 1000, std::nullopt).ok());  // the tree handed to a user
    auto inherited = t->Mkdir(*sg, "sub", 0755, MfsCaller{1000, 100});
    EXPECT_EQ(t->Getattr(*inherited)->gid, 50u);  // a setgid directory gives its group
    EXPECT_EQ(t->Getattr(*inherited)->mode, 02755u);
    ASSERT_TRUE(t->Close().ok());
  }
  auto t = OpenTree(o);
  Cid fcid = AddCid(data, o.import);
  auto f = t->Resolve("/d/f");
  auto l = t->Resolve("/link");
  ASSERT_TRUE(f.ok() && l.ok());
  EXPECT_EQ(*f, *l);  // one node under two names
  EXPECT_EQ(*t->CidOf(*f), fcid);
  EXPECT_EQ(*t->CidOf(*l), fcid);
  auto a = t->Getattr(*f);
  EXPECT_EQ(a->uid, 2000u);
  EXPECT_EQ(a->gid, 3000u);
  EXPECT_EQ(a->mode, 04755u);
  EXPECT_EQ(a->nlink, 2u);
  auto fifo = t->Resolve("/d/fifo");
  ASSERT_TRUE(fifo.ok());
  EXPECT_EQ(MfsTree::KindOf(*fifo), MfsKind::kFifo);
  EXPECT_EQ(t->Getattr(*fifo)->mode, 0640u);
  EXPECT_EQ(t->Getattr(*fifo)->uid, 7u);
  auto dev = t->Resolve("/d/null");
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(MfsTree::KindOf(*dev), MfsKind::kCharDevice);
  EXPECT_EQ(t->Getattr(*dev)->rdev, 0x103u);
  EXPECT_EQ(t->Getattr(*t->Resolve("/sg/sub"))->gid, 50u);
  EXPECT_EQ(t->Getattr(t->Root())->uid, 1000u);
  // Special files are not in the DAG: the directory's CID is that of d holding only f.
  auto info = t->reader().ListDir(*t->CidOf(*t->Resolve("/d")));
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->size(), 1u);
  EXPECT_EQ((*info)[0].name, "f");
  // A write through one name shows through the other and moves both entries' CIDs.
  ASSERT_TRUE(t->Write(*l, 0, AsBytes("changed")).ok());
  Bytes expect = data;
  std::copy_n(AsBytes("changed").begin(), 7, expect.begin());
  EXPECT_EQ(ReadAll(*t, *f), expect);
  ASSERT_TRUE(t->Commit().ok());
  auto root_list = t->reader().ListDir(t->Stats().root);
  auto d_list = t->reader().ListDir(*t->CidOf(*t->Resolve("/d")));
  Cid link_cid, f_cid;
  for (auto& e : *root_list)
    if (e.name == "link") link_cid = e.cid;
  for (auto& e : *d_list)
    if (e.name == "f") f_cid = e.cid;
  EXPECT_EQ(link_cid, f_cid);
  EXPECT_EQ(link_cid, AddCid(expect, o.import));
  // Unlinking one name leaves the other with one link; chown back to the defaults empties
  // the record.
  ASSERT_TRUE(t->Unlink(*t->Resolve("/d"), "f").ok());
  EXPECT_EQ(t->Getattr(*l)->nlink, 1u);
  ASSERT_TRUE(t->Close().ok());
  t.reset();
  t = OpenTree(o);
  EXPECT_EQ(t->Getattr(*t->Resolve("/link"))->nlink, 1u);
  EXPECT_EQ(t->Getattr(*t->Resolve("/link"))->uid, 2000u);
  ASSERT_TRUE(t->SetOwner(*t->Resolve("/link"), 0, 0).ok());
  ASSERT_TRUE(t->SetOwner(t->Root(), 0, 0).ok());
  ASSERT_TRUE(t->SetMode(*t->Resolve("/link"), 0644).ok());
  ASSERT_TRUE(t->Unlink(*t->Resolve("/d"), "fifo").ok());
  ASSERT_TRUE(t->Unlink(*t->Resolve("/d"), "null").ok());
  ASSERT_TRUE(t->Rmdir(*t->Resolve("/sg"), "sub").ok());
  ASSERT_TRUE(t->Rmdir(t->Root(), "sg").ok());
  ASSERT_TRUE(t->Commit().ok());
  EXPECT_EQ(repo_->GetMeta("mfs.root.posix").error().code, Errc::kNotFound);
}

TEST_F(MfsTest, ConcurrentWritersOnDifferentFiles) {
  auto t = OpenTree();
  constexpr int kThreads = 6;
  std::vector<Bytes> data;
  for (int i = 0; i < kThreads; ++i) data.push_back(RandomBytes(1500000 + i * 1000, 100 + i));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      auto f = t->Create(t->Root(), "f" + std::to_string(i), 0644, true);
      ASSERT_TRUE(f.ok());
      for (size_t off = 0; off < data[i].size(); off += 70000) {
        size_t n = std::min<size_t>(70000, data[i].size() - off);
        ASSERT_TRUE(t->Write(*f, off, ByteView(data[i]).subspan(off, n)).ok());
        if (off % 700000 == 0) {
          ASSERT_TRUE(t->Commit().ok());
        }
      }
      ASSERT_TRUE(t->FlushFile(*f).ok());
    });
  for (auto& th : threads) th.join();
  ASSERT_TRUE(t->Commit().ok());
  for (int i = 0; i < kThreads; ++i) {
    auto f = t->Resolve("/f" + std::to_string(i));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(t->CidOf(*f)->ToString(), AddCid(data[i], ImportOptions{}).ToString());
  }
}

// A full repo gives kNoSpace; what was committed before stays readable after reopening.
TEST_F(MfsTest, NoSpaceKeepsCommittedState) {
  tree_.reset();
  repo_.reset();
  std::filesystem::remove_all(dir_ + "/repo");
  OpenRepo(8 << 20);
  Bytes small = RandomBytes(100000, 1);
  {
    MfsOptions o;
    o.pending_limit = 1 << 20;
    auto t = OpenTree(o);
    auto f = t->Create(t->Root(), "kept", 0644, true);
    ASSERT_TRUE(t->Write(*f, 0, small).ok());
    ASSERT_TRUE(t->Commit().ok());
    auto g = t->Create(t->Root(), "huge", 0644, true);
    Bytes chunk = RandomBytes(1 << 20, 2);
    Errc code = Errc::kInternal;
    for (int i = 0; i < 64; ++i) {
      chunk[0] = static_cast<uint8_t>(i);
      auto w = t->Write(*g, uint64_t(i) << 20, chunk);
      if (!w.ok()) {
        code = w.error().code;
        break;
      }
      Status st = t->Commit();
      if (!st.ok()) {
        code = st.error().code;
        break;
      }
    }
    EXPECT_EQ(code, Errc::kNoSpace);
  }
  repo_.reset();
  OpenRepo(8 << 20);
  auto t = OpenTree();
  auto f = t->Resolve("/kept");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(ReadAll(*t, *f), small);
}

}  // namespace
}  // namespace ipfskit
