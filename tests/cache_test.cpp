// ArcBlockCache in a real repo's LMDB environment: zero-copy hits, verification, the byte bound
// under concurrent fills, and the ARC state surviving a restart.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/cache/arc_block_cache.h"
#include "core/store/repo.h"
#include "tests/fakes/cache_inspect.h"
#include "tests/fakes/test_dag.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

struct RawBlock {
  Cid cid;
  Bytes data;
};

RawBlock MakeBlock(uint32_t seed, size_t size = 1024) {
  Bytes b = testing::RandomBytes(size, seed);
  return {*Cid::Sum(1, codec::kRaw, mh::kSha2_256, b), b};
}

// True if p lies in a mapping of a file whose name ends with `name` (from /proc/self/maps).
bool InMappedFile(const void* p, const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.size() < name.size() || line.compare(line.size() - name.size(), name.size(), name) != 0) continue;
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi) return true;
  }
  return false;
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("ipfskit-cache"); }
  void TearDown() override {
    cache_.reset();
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(uint64_t max_bytes) {
    cache_.reset();
    repo_.reset();
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    repo_ = *r;
    ArcCacheOptions co;
    co.max_bytes = max_bytes;
    auto c = ArcBlockCache::Open(repo_, co);
    ASSERT_TRUE(c.ok()) << c.error().message;
    cache_ = *c;
  }
  std::string dir_;
  std::shared_ptr<Repo> repo_;
  std::shared_ptr<ArcBlockCache> cache_;
};

TEST_F(CacheTest, HitIsAViewIntoTheMemoryMap) {
  Open(1 << 20);
  RawBlock b = MakeBlock(1);
  EXPECT_FALSE(cache_->Get(b.cid).ok());
  ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
  ASSERT_TRUE(cache_->Flush().ok());  // committed, so served from the map, not the queue
  auto hit = cache_->Get(b.cid);
  ASSERT_TRUE(hit.ok());
  EXPECT_TRUE(std::equal(hit->data().begin(), hit->data().end(), b.data.begin(), b.data.end()));
  EXPECT_TRUE(InMappedFile(hit->data().data(), "data.mdb")) << "hit was copied, not served from the map";
  auto s = cache_->Stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_DOUBLE_EQ(s.hit_ratio, 0.5);
  EXPECT_EQ(s.bytes, 1024u);
}

TEST_F(CacheTest, ViewStaysValidAfterEviction) {
  Open(4096);
  RawBlock first = MakeBlock(10);
  ASSERT_TRUE(cache_->Put(first.cid, first.data).ok());
  auto hit = cache_->Get(first.cid);
  ASSERT_TRUE(hit.ok());
  // Blocks used twice go to T2 and push `first` (also in T2) out at its LRU end.
  for (uint32_t i = 0; i < 20; ++i) {
    RawBlock b = MakeBlock(100 + i);
    ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
    ASSERT_TRUE(cache_->Get(b.cid).ok());
  }
  EXPECT_FALSE(cache_->Has(first.cid));
  // The old read transaction keeps the evicted pages readable.
  EXPECT_TRUE(first.cid.Verifies(hit->data()));
}

TEST_F(CacheTest, RefusesBytesThatDoNotMatch) {
  Open(1 << 20);
  RawBlock b = MakeBlock(2);
  Bytes wrong = b.data;
  wrong[0] ^= 1;
  Status st = cache_->Put(b.cid, wrong);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHashMismatch);
  EXPECT_FALSE(cache_->Has(b.cid));
  EXPECT_EQ(cache_->Stats().verification_failures, 1u);
  EXPECT_EQ(testing::InspectCache(*repo_).blocks, 0u);
}

TEST_F(CacheTest, PutVerifiedStoresWithoutHashingAgain) {
  // For SourceChain, whose sources verified the bytes: stored and served like Put's.
  Open(1 << 20);
  RawBlock b = MakeBlock(3);
  ASSERT_TRUE(cache_->PutVerified(b.cid, b.data).ok());
  auto hit = cache_->Get(b.cid);
  ASSERT_TRUE(hit.ok()) << hit.error().message;
  EXPECT_TRUE(std::equal(hit->data().begin(), hit->data().end(), b.data.begin(), b.data.end()));
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(testing::InspectCache(*repo_).blocks, 1u);
  EXPECT_EQ(cache_->Stats().verification_failures, 0u);
}

TEST_F(CacheTest, ByteBoundHoldsUnderConcurrentFills) {
  const uint64_t max = 64 * 1024;
  Open(max);
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t i = 0; i < 150; ++i) {
        // Mixed sizes; some blocks repeat across threads, some are re-read.
        RawBlock b = MakeBlock(static_cast<uint32_t>((t * 97 + i) % 300), 512 + ((i * 37) % 1500));
        if (!cache_->Get(b.cid).ok()) {
          ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
        }
        if (cache_->Stats().bytes > max) over = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load());
  auto s = cache_->Stats();
  EXPECT_LE(s.bytes, max);
  EXPECT_GT(s.evictions, 0u);
  // What is really stored agrees with the policy and holds the bound.
  ASSERT_TRUE(cache_->Flush().ok());
  auto contents = testing::InspectCache(*repo_);
  EXPECT_EQ(contents.blocks, s.entries);
  EXPECT_EQ(contents.bytes, s.bytes);
  EXPECT_LE(contents.bytes, max);
  EXPECT_EQ(contents.bad, 0u);
}

TEST_F(CacheTest, StateSurvivesRestart) {
  Open(20 * 1024);
  std::vector<RawBlock> hot, cold;
  for (uint32_t i = 0; i < 8; ++i) hot.push_back(MakeBlock(1000 + i));
  for (uint32_t i = 0; i < 40; ++i) cold.push_back(MakeBlock(2000 + i));
  for (auto& b : hot) ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
  for (auto& b : hot) ASSERT_TRUE(cache_->Get(b.cid).ok());  // second access: T2
  for (auto& b : cold) ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());  // a scan through T1
  auto before = cache_->Stats();
  EXPECT_EQ(before.t2_entries, hot.size());

  Open(20 * 1024);  // closes cache and repo, reopens both
  auto after = cache_->Stats();
  EXPECT_EQ(after.t1_entries, before.t1_entries);
  EXPECT_EQ(after.t2_entries, before.t2_entries);
  EXPECT_EQ(after.b1_entries, before.b1_entries);
  EXPECT_EQ(after.b2_entries, before.b2_entries);
  EXPECT_EQ(after.p, before.p);
  EXPECT_EQ(after.bytes, before.bytes);
  for (auto& b : hot) {
    auto hit = cache_->Get(b.cid);
    ASSERT_TRUE(hit.ok());
    EXPECT_TRUE(b.cid.Verifies(hit->data()));
  }
  // The ghost list survived too: re-inserting a recently evicted cold block is a B1 hit that
  // raises p.
  const uint64_t p0 = cache_->Stats().p;
  ASSERT_GT(after.b1_entries, 0u);
  for (auto it = cold.rbegin(); it != cold.rend(); ++it) {  // the most recently evicted
    auto& b = *it;
    if (!cache_->Has(b.cid)) {
      ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
      break;
    }
  }
  EXPECT_GT(cache_->Stats().p, p0);
}

TEST_F(CacheTest, SmallerBoundOnReopenEvictsDownToIt) {
  Open(64 * 1024);
  for (uint32_t i = 0; i < 50; ++i) {
    RawBlock b = MakeBlock(3000 + i);
    ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
  }
  EXPECT_GT(cache_->Stats().bytes, 40u * 1024);
  Open(10 * 1024);
  EXPECT_LE(cache_->Stats().bytes, 10u * 1024);
  auto contents = testing::InspectCache(*repo_);
  EXPECT_LE(contents.bytes, 10u * 1024);
  EXPECT_EQ(contents.blocks, cache_->Stats().entries);
}

TEST_F(CacheTest, ScanDoesNotFlushHotBlocks) {
  Open(32 * 1024);
  std::vector<RawBlock> hot;
  for (uint32_t i = 0; i < 16; ++i) hot.push_back(MakeBlock(4000 + i));
  for (auto& b : hot) ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
  for (auto& b : hot) ASSERT_TRUE(cache_->Get(b.cid).ok());
  for (uint32_t i = 0; i < 200; ++i) {
    RawBlock b = MakeBlock(5000 + i);
    ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
  }
  for (auto& b : hot) EXPECT_TRUE(cache_->Has(b.cid));
}

TEST_F(CacheTest, WritesAreBatchedAndQueuedBlocksAreServed) {
  Open(8 << 20);
  std::vector<RawBlock> blocks;
  for (uint32_t i = 0; i < 300; ++i) blocks.push_back(MakeBlock(7000 + i));
  for (auto& b : blocks) {
    ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
    auto hit = cache_->Get(b.cid);  // served from the queue or the db, never missing
    ASSERT_TRUE(hit.ok());
    ASSERT_TRUE(b.cid.Verifies(hit->data()));
  }
  ASSERT_TRUE(cache_->Flush().ok());
  auto s = cache_->Stats();
  EXPECT_EQ(s.inserts, 300u);
  EXPECT_LT(s.commits, 100u) << "one transaction per block";
  EXPECT_EQ(s.pending_bytes, 0u);
  EXPECT_EQ(testing::InspectCache(*repo_).blocks, 300u);
}

TEST_F(CacheTest, BlocksAreNeverMissingWhileBatchesCommit) {
  // Readers keep asking for blocks already put while the flusher commits batch after batch: a
  // commit that ends between a reader's look in the store and its look in the queue must not
  // make the block missing (offline, a miss is an EIO).
  Open(64 << 20);
  std::vector<RawBlock> blocks;
  for (uint32_t i = 0; i < 3000; ++i) blocks.push_back(MakeBlock(20000 + i));
  std::atomic<size_t> put{0};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> misses{0}, gets{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!done) {
        const size_t n = put.load();
        if (n == 0) continue;
        const size_t i = n - 1 - rng() % std::min<size_t>(n, 64);  // the newest: mid-commit
        if (!cache_->Get(blocks[i].cid).ok()) misses.fetch_add(1);
        gets.fetch_add(1);
      }
    });
  for (size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_TRUE(cache_->Put(blocks[i].cid, blocks[i].data).ok());
    put.store(i + 1);
    if (i % 16 == 15) {
      ASSERT_TRUE(cache_->Flush().ok());
    }
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(gets.load(), 1000u);
  EXPECT_EQ(misses.load(), 0u) << "of " << gets.load() << " gets";
}

TEST_F(CacheTest, ClearEmptiesEverything) {
  Open(1 << 20);
  for (uint32_t i = 0; i < 10; ++i) {
    RawBlock b = MakeBlock(6000 + i);
    ASSERT_TRUE(cache_->Put(b.cid, b.data).ok());
  }
  ASSERT_TRUE(cache_->Clear().ok());
  EXPECT_EQ(cache_->Stats().bytes, 0u);
  EXPECT_EQ(testing::InspectCache(*repo_).blocks, 0u);
}

}  // namespace
}  // namespace ipfskit
