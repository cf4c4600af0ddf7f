// UnixfsReader's two read paths (copies and views) and its DecodedNodeCache: every layout the
// importer makes reads back the same bytes both ways at every offset tried, from a cold and a
// warm cache, from several threads, with the cache far too small or large enough.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "core/importer/importer.h"
#include "core/reader/unixfs_reader.h"
#include "core/store/memory_store.h"
#include "tests/fakes/test_dag.h"

namespace ipfskit {
namespace {

using testing::RandomBytes;

struct Layouts {
  std::string name;
  ImportOptions opts;
};

std::vector<Layouts> AllLayouts() {
  std::vector<Layouts> out;
  ImportOptions o;
  o.chunk_size = 1000;  // many leaves for little data
  o.width = 11;         // and several levels of inner nodes
  out.push_back({"balanced v0 dag-pb leaves", o});
  ImportOptions raw = o;
  raw.cid_version = 1;
  raw.raw_leaves = true;
  out.push_back({"balanced v1 raw leaves", raw});
  ImportOptions trickle = o;
  trickle.layout = Layout::kTrickle;
  out.push_back({"trickle", trickle});
  ImportOptions meta = o;
  meta.cid_version = 1;
  meta.preserve_mode = true;  // leaves carry metadata: not plain, through the full decoders
  out.push_back({"with metadata", meta});
  return out;
}

// Reads [off, off + len) both ways and checks them against the file.
void ExpectBothPathsRead(UnixfsReader& reader, const Cid& root, const Bytes& file, uint64_t off, size_t len) {
  SCOPED_TRACE("offset " + std::to_string(off) + " length " + std::to_string(len));
  const size_t want = off >= file.size() ? 0 : std::min<uint64_t>(len, file.size() - off);
  Bytes copy(len);
  auto n = reader.Read(root, off, copy);
  ASSERT_TRUE(n.ok()) << n.error().message;
  ASSERT_EQ(*n, want);
  EXPECT_TRUE(std::equal(copy.begin(), copy.begin() + want, file.begin() + std::min<uint64_t>(off, file.size())));
  std::vector<Block> views;
  auto v = reader.ReadViews(root, off, len, views);
  ASSERT_TRUE(v.ok()) << v.error().message;
  ASSERT_EQ(*v, want);
  Bytes joined;
  for (const Block& b : views) joined.insert(joined.end(), b.data().begin(), b.data().end());
  ASSERT_EQ(joined.size(), want);
  EXPECT_TRUE(std::equal(joined.begin(), joined.end(), file.begin() + std::min<uint64_t>(off, file.size())));
}

TEST(UnixfsReader, ViewsAndCopiesReadEveryLayoutTheSame) {
  for (const auto& [name, opts] : AllLayouts()) {
    SCOPED_TRACE(name);
    for (size_t size : {size_t{0}, size_t{1}, size_t{999}, size_t{1000}, size_t{1001}, size_t{54321}, size_t{250000}}) {
      SCOPED_TRACE("file of " + std::to_string(size));
      auto store = std::make_shared<MemoryBlockStore>();
      Bytes file = RandomBytes(size, static_cast<uint32_t>(size));
      auto root = ImportBytes(file, opts, store.get());
      ASSERT_TRUE(root.ok()) << root.error().message;
      UnixfsReader reader(store);
      std::mt19937 rng(7);
      // Edges, the whole file, past the end, and random ranges; twice, so the second pass
      // reads the inner nodes from the decoded-node cache.
      for (int pass = 0; pass < 2; ++pass) {
        ExpectBothPathsRead(reader, root->cid, file, 0, size + 10);
        ExpectBothPathsRead(reader, root->cid, file, size, 10);
        ExpectBothPathsRead(reader, root->cid, file, size + 5, 10);
        for (int i = 0; i < 40 && size > 0; ++i)
          ExpectBothPathsRead(reader, root->cid, file, rng() % size, 1 + rng() % 5000);
        if (HasFatalFailure()) return;
      }
      if (size > 1000) {
        EXPECT_GT(reader.decoded_cache().hits(), 0u) << "inner nodes were decoded on every read";
      }
    }
  }
}

TEST(UnixfsReader, ATinyDecodedCacheStaysInItsBoundAndReadsStayRight) {
  auto store = std::make_shared<MemoryBlockStore>();
  ImportOptions o;
  o.chunk_size = 1000;
  o.width = 11;
  std::vector<std::pair<Cid, Bytes>> files;
  for (uint32_t i = 0; i < 20; ++i) {
    Bytes f = RandomBytes(50000 + i * 777, i);
    auto r = ImportBytes(f, o, store.get());
    ASSERT_TRUE(r.ok());
    files.emplace_back(r->cid, std::move(f));
  }
  // Room for about one inner node per shard: almost every read evicts something.
  UnixfsReader reader(store, 8 * 2000);
  std::mt19937 rng(3);
  for (int i = 0; i < 400; ++i) {
    auto& [cid, f] = files[rng() % files.size()];
    ExpectBothPathsRead(reader, cid, f, rng() % f.size(), 1 + rng() % 3000);
    if (HasFatalFailure()) return;
  }
  EXPECT_LE(reader.decoded_cache().bytes(), 8u * 2000);
}

TEST(UnixfsReader, ConcurrentReadersShareTheDecodedCache) {
  auto store = std::make_shared<MemoryBlockStore>();
  ImportOptions o;
  o.chunk_size = 1000;
  o.width = 11;
  Bytes file = RandomBytes(300000, 9);
  auto root = ImportBytes(file, o, store.get());
  ASSERT_TRUE(root.ok());
  UnixfsReader reader(store, 20000);  // small: threads evict what others are using
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 300; ++i) {
        uint64_t off = rng() % file.size();
        size_t len = 1 + rng() % 4000;
        std::vector<Block> views;
        auto n = reader.ReadViews(root->cid, off, len, views);
        if (!n.ok()) {
          ++bad;
          continue;
        }
        size_t at = off;
        for (const Block& b : views) {
          if (!std::equal(b.data().begin(), b.data().end(), file.begin() + at)) ++bad;
          at += b.size();
        }
        if (at != off + *n) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(DecodedNodeCache, EvictsTheLeastRecentlyUsedWithinItsBound) {
  DecodedNodeCache cache(8 * 10000);  // 10,000 bytes a shard
  auto node = [](size_t block_size) {
    auto n = std::make_shared<DecodedNode>();
    n->block_size = block_size;
    return std::shared_ptr<const DecodedNode>(n);
  };
  std::vector<Cid> cids;
  for (int i = 0; i < 200; ++i) {
    cids.push_back(Cid::Sum(1, codec::kRaw, mh::kSha2_256, ToBytes("n" + std::to_string(i))).value());
    cache.Insert(cids.back(), node(3000));
    // The first one is used all the time: it must survive.
    EXPECT_NE(cache.Find(cids.front()), nullptr) << i;
  }
  EXPECT_LE(cache.bytes(), 8u * 10000);
  EXPECT_LT(cache.entries(), 200u);
  EXPECT_GT(cache.entries(), 8u);
  // Too big for any shard: not kept.
  Cid big = Cid::Sum(1, codec::kRaw, mh::kSha2_256, ToBytes("big")).value();
  cache.Insert(big, node(20000));
  EXPECT_EQ(cache.Find(big), nullptr);
}

}  // namespace
}  // namespace ipfskit
