// Trustless gateway sources: a real nginx serving raw blocks on loopback, and misbehaving
// gateways (written here) placed in front of it. Every address is 127.0.0.1.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <filesystem>
#include <thread>

#include "core/cache/arc_block_cache.h"
#include "core/reader/unixfs_reader.h"
#include "core/source/source_chain.h"
#include "core/store/repo.h"
#include "tests/fakes/cache_inspect.h"
#include "tests/fakes/car_writer.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/nginx.h"
#include "tests/fakes/test_dag.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;

// Polls `done` until it holds or `limit` passes; true when it held. For a fake that must hold
// its answer until the client side reached a state (a sleep would only guess how long that takes).
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto until = SteadyClock::now() + limit;
  while (!done()) {
    if (SteadyClock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A fresh repo and cache in a temporary directory.
struct TestRepo {
  std::string dir = testing::MakeTempDir("ipfskit-gw");
  std::shared_ptr<Repo> repo;
  std::shared_ptr<ArcBlockCache> cache;
  explicit TestRepo(uint64_t max_bytes = 64 << 20) {
    RepoOptions o;
    o.path = dir + "/repo";
    auto r = Repo::Open(o);
    if (!r.ok()) throw std::runtime_error(r.error().message);
    repo = *r;
    ArcCacheOptions co;
    co.max_bytes = max_bytes;
    auto c = ArcBlockCache::Open(repo, co);
    if (!c.ok()) throw std::runtime_error(c.error().message);
    cache = *c;
  }
  ~TestRepo() {
    cache.reset();
    repo.reset();
    std::filesystem::remove_all(dir);
  }
};

// A UnixFS file made by the importer, its blocks written where nginx serves them.
struct Served {
  Bytes data;
  Cid root;
  std::map<Cid, Bytes> blocks;
  std::string dir = testing::MakeTempDir("ipfskit-www");
  std::unique_ptr<testing::NginxServer> nginx;

  explicit Served(size_t size, uint32_t seed = 1) {
    data = testing::RandomBytes(size, seed);
    testing::MemoryBlocks mem;
    root = testing::ImportFileDag(data, &mem);
    blocks = mem.blocks();
    std::filesystem::create_directories(dir + "/www/blocks");
    testing::WriteBlockFiles(dir + "/www/blocks", blocks);
    nginx = std::make_unique<testing::NginxServer>(dir + "/www", dir);
  }
  ~Served() {
    nginx.reset();
    std::filesystem::remove_all(dir);
  }
  // The block for a /ipfs/<cid> request, or nullptr.
  const Bytes* Find(const FakeRequest& req) const {
    if (req.path.rfind("/ipfs/", 0) != 0) return nullptr;
    auto cid = Cid::Parse(req.path.substr(6));
    if (!cid.ok()) return nullptr;
    auto it = blocks.find(*cid);
    return it == blocks.end() ? nullptr : &it->second;
  }
};

// What is committed in the cache db (after committing the write-behind queue).
testing::CacheContents Inspect(TestRepo& t) {
  EXPECT_TRUE(t.cache->Flush().ok());
  return testing::InspectCache(*t.repo);
}

RemoteOptions FastOptions() {
  RemoteOptions o;
  o.request_timeout = 5000ms;
  o.connect_timeout = 1000ms;
  o.low_speed_bytes = 100;  // a drip of a few bytes per second is a stall...
  o.low_speed_seconds = 1;  // ...after one second
  o.backoff_base = 3000ms;
  o.backoff_max = 30000ms;
  return o;
}

Bytes ReadAll(std::shared_ptr<BlockGetter> getter, const Cid& root, size_t size) {
  UnixfsReader reader(std::move(getter));
  Bytes out(size + 10);
  auto n = reader.Read(root, 0, out);
  if (!n.ok()) throw std::runtime_error("read failed: " + n.error().message);
  out.resize(*n);
  return out;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::NginxServer::Available()) GTEST_SKIP() << "nginx is not installed (apt-get install nginx-light)";
  }
};

TEST_F(GatewayTest, NginxServesWholeFileThroughChainVerifiedAndCached) {
  Served s(300 * 1024);
  TestRepo t;
  auto http = std::make_shared<HttpClient>();
  auto gw = std::make_shared<GatewaySource>(s.nginx->url(), http, FastOptions());
  auto chain = std::make_shared<SourceChain>(t.repo, t.cache, std::vector<std::shared_ptr<RemoteSource>>{gw},
                                             ChainOptions{});
  EXPECT_EQ(ReadAll(chain, s.root, s.data.size()), s.data);

  // Every block went over the network once, was verified, and is in the cache.
  SourceStats st = gw->Stats();
  EXPECT_EQ(st.ok, s.blocks.size());
  EXPECT_EQ(st.requests, s.blocks.size());
  auto contents = Inspect(t);
  EXPECT_EQ(contents.blocks, s.blocks.size());
  EXPECT_EQ(contents.bad, 0u);
  // Keep-alive: far fewer connections than requests.
  EXPECT_GT(http->transfers(), 50u);
  EXPECT_LE(http->connections_opened(), 4u) << "connections are not being reused";

  // Each block by itself, bytes compared with what the importer produced.
  for (const auto& [cid, bytes] : s.blocks) {
    auto b = chain->Get(cid);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_TRUE(std::equal(b->data().begin(), b->data().end(), bytes.begin(), bytes.end()));
  }

  // With nginx gone, the file still reads, from the cache.
  s.nginx->Stop();
  EXPECT_EQ(ReadAll(chain, s.root, s.data.size()), s.data);
  ChainStats cs = chain->Stats();
  EXPECT_GE(cs.cache_hits, 2 * s.blocks.size());
  EXPECT_EQ(gw->Stats().requests, s.blocks.size());
  auto j = ToJson(cs);
  EXPECT_EQ(j["sources"][0]["ok"], s.blocks.size());
  EXPECT_TRUE(j["cache"]["hit_ratio"].get<double>() > 0.5) << j["cache"].dump();
}

TEST_F(GatewayTest, MissingBlockIsNotFoundAndNotAFailure) {
  Served s(10000);
  auto http = std::make_shared<HttpClient>();
  auto gw = std::make_shared<GatewaySource>(s.nginx->url(), http, FastOptions());
  SourceChain chain(nullptr, nullptr, {gw}, ChainOptions{});
  auto absent = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("not served anywhere"));
  auto r = chain.Get(absent);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kNotFound) << r.error().message;
  auto st = gw->Stats();
  EXPECT_EQ(st.not_found, 1u);
  EXPECT_EQ(st.http_status[404], 1u);
  EXPECT_EQ(st.backoffs, 0u);
  EXPECT_FALSE(gw->BackedOff(SteadyClock::now()));
}

struct Misbehaviour {
  const char* name;
  std::function<FakeResponse(const Bytes& good)> respond;
  uint64_t SourceStats::*counter;
};

class MisbehavingGatewayTest : public GatewayTest, public ::testing::WithParamInterface<Misbehaviour> {};

TEST_P(MisbehavingGatewayTest, BadGatewayFirstStillReadsRightBytesAndIsBackedOff) {
  const Misbehaviour& m = GetParam();
  Served s(200 * 1024, 7);
  TestRepo t;
  FakeHttpServer bad([&](const FakeRequest& req) {
    const Bytes* b = s.Find(req);
    return m.respond(b ? *b : Bytes{});
  });
  auto http = std::make_shared<HttpClient>();
  auto bad_src = std::make_shared<GatewaySource>(bad.url(), http, FastOptions());
  auto good_src = std::make_shared<GatewaySource>(s.nginx->url(), http, FastOptions());
  ChainOptions co;
  co.overall_timeout = 20s;
  auto chain = std::make_shared<SourceChain>(t.repo, t.cache,
                                             std::vector<std::shared_ptr<RemoteSource>>{bad_src, good_src}, co);

  const auto start = SteadyClock::now();
  EXPECT_EQ(ReadAll(chain, s.root, s.data.size()), s.data);
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_LT(elapsed, 15s);
  std::cout << m.name << ": read took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
            << " ms, bad source saw " << bad_src->Stats().requests << " requests\n";

  // A slow bad source may have been left behind by a hedge: its attempt is counted when it ends.
  EXPECT_TRUE(WaitFor([&] { return bad_src->Stats().*m.counter >= 1; })) << m.name << " was not counted under its cause";
  SourceStats bs = bad_src->Stats();
  EXPECT_EQ(bs.ok, 0u);
  // Backed off after failing: it saw only a few of the requests.
  EXPECT_GE(bs.backoffs, 1u);
  EXPECT_LE(bs.requests, 4u) << m.name;
  EXPECT_EQ(good_src->Stats().ok, s.blocks.size());
  // The good one is now preferred.
  auto order = chain->Stats().sources;
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0].url, good_src->url());

  // Nothing wrong in the cache: every stored value matches its key.
  auto contents = Inspect(t);
  EXPECT_EQ(contents.bad, 0u);
  EXPECT_EQ(contents.blocks, s.blocks.size());
  EXPECT_EQ(t.cache->Stats().verification_failures, 0u);
}

FakeResponse WrongBytes(const Bytes& good) {
  FakeResponse r;
  r.body.assign(good.begin(), good.end());
  if (r.body.empty()) r.body = "x";
  r.body[r.body.size() / 2] ^= 0x5a;
  return r;
}
FakeResponse Status500(const Bytes&) {
  FakeResponse r;
  r.status = 500;
  r.body = "internal error";
  return r;
}
FakeResponse Truncated(const Bytes& good) {
  FakeResponse r;
  r.body.assign(good.begin(), good.end());
  r.mode = FakeResponse::Mode::kTruncate;
  r.truncate_at = good.size() / 2;
  return r;
}
FakeResponse Drip(const Bytes& good) {
  FakeResponse r;
  r.body.assign(good.begin(), good.end());
  r.mode = FakeResponse::Mode::kDrip;
  r.drip_interval = 300ms;
  return r;
}
FakeResponse Hang(const Bytes&) {
  FakeResponse r;
  r.mode = FakeResponse::Mode::kHang;
  return r;
}
FakeResponse Close(const Bytes&) {
  FakeResponse r;
  r.mode = FakeResponse::Mode::kClose;
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Modes, MisbehavingGatewayTest,
    ::testing::Values(Misbehaviour{"wrong_bytes", WrongBytes, &SourceStats::hash_mismatches},
                      Misbehaviour{"http_500", Status500, &SourceStats::http_errors},
                      Misbehaviour{"truncated", Truncated, &SourceStats::truncated},
                      Misbehaviour{"slow_drip", Drip, &SourceStats::timeouts},
                      Misbehaviour{"never_answers", Hang, &SourceStats::timeouts},
                      Misbehaviour{"closes", Close, &SourceStats::network_errors}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(GatewayTest, AStalledFirstGatewayIsHedgedNotWaitedFor) {
  // The first gateway never answers, and its stall limit is 30 s: asked one after the other, the
  // first block would take 30 s. Hedged, it takes about the hedge delay, and the stalled gateway
  // ranks last while its attempt runs, so the rest of the file does not wait for it either.
  Served s(600 * 1024, 11);
  TestRepo t;
  std::atomic<int> stalled_requests{0};
  FakeHttpServer stall([&](const FakeRequest&) {
    ++stalled_requests;
    return Hang({});
  });
  auto http = std::make_shared<HttpClient>();
  RemoteOptions ro = FastOptions();
  ro.low_speed_seconds = 30;
  ro.request_timeout = 30000ms;
  auto slow_src = std::make_shared<GatewaySource>(stall.url(), http, ro);
  auto good_src = std::make_shared<GatewaySource>(s.nginx->url(), http, ro);
  ChainOptions co;
  co.hedge_after = 100ms;
  co.hedge_drain = 100ms;  // the stalled attempt ends only when the fake stops
  auto chain = std::make_shared<SourceChain>(t.repo, t.cache,
                                             std::vector<std::shared_ptr<RemoteSource>>{slow_src, good_src}, co);
  const auto start = SteadyClock::now();
  EXPECT_EQ(ReadAll(chain, s.root, s.data.size()), s.data);
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_LT(elapsed, 5s) << "the read waited for the stalled gateway";
  ChainStats cs = chain->Stats();
  EXPECT_GE(cs.hedged, 1u);
  EXPECT_GE(cs.hedge_wins, 1u);
  EXPECT_EQ(good_src->Stats().ok, s.blocks.size());
  // Ranked last while its first attempt runs: asked again only by hedges of a slow good source.
  EXPECT_LE(stalled_requests.load(), 3) << "the stalled gateway kept being asked first";
  ASSERT_EQ(cs.sources.size(), 2u);
  EXPECT_EQ(cs.sources[0].url, good_src->url());
  auto j = ToJson(cs);
  EXPECT_EQ(j["hedged"], cs.hedged);
  // Nothing the stalled gateway could have sent is in the cache; all is verified.
  auto contents = Inspect(t);
  EXPECT_EQ(contents.bad, 0u);
  EXPECT_EQ(contents.blocks, s.blocks.size());
  // The chain goes away promptly although an attempt is still stalled.
  const auto drop = SteadyClock::now();
  chain.reset();
  EXPECT_LT(SteadyClock::now() - drop, 2s);
}

TEST_F(GatewayTest, WithoutHedgingAStalledFirstGatewayIsWaitedFor) {
  // The same stall with hedging off: the first block waits for the stall limit. This shows the
  // hedging test above measures the hedge, not a fast failure of the stalled gateway.
  Served s(10 * 1024, 12);
  FakeHttpServer stall([](const FakeRequest&) { return Hang({}); });
  auto http = std::make_shared<HttpClient>();
  RemoteOptions ro = FastOptions();
  ro.low_speed_seconds = 1;
  auto slow_src = std::make_shared<GatewaySource>(stall.url(), http, ro);
  auto good_src = std::make_shared<GatewaySource>(s.nginx->url(), http, ro);
  ChainOptions co;
  co.hedge_after = 0ms;
  SourceChain chain(nullptr, nullptr, {slow_src, good_src}, co);
  const auto start = SteadyClock::now();
  auto b = chain.Get(s.root);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_GE(SteadyClock::now() - start, 900ms);
  EXPECT_EQ(chain.Stats().hedged, 0u);
}

TEST_F(GatewayTest, OnlySourceHangingIsBoundedByOverallTimeout) {
  FakeHttpServer hang([](const FakeRequest&) { return Hang({}); });
  auto http = std::make_shared<HttpClient>();
  RemoteOptions ro = FastOptions();
  ro.low_speed_seconds = 30;  // only the overall deadline can end this wait
  ro.request_timeout = 30000ms;
  auto src = std::make_shared<GatewaySource>(hang.url(), http, ro);
  ChainOptions co;
  co.overall_timeout = 1500ms;
  SourceChain chain(nullptr, nullptr, {src}, co);
  auto cid = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("x"));
  const auto start = SteadyClock::now();
  auto r = chain.Get(cid);
  const auto elapsed = SteadyClock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTimeout) << r.error().message;
  EXPECT_GE(elapsed, 1400ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(chain.Stats().deadline_exceeded, 1u);
}

TEST_F(GatewayTest, TransientErrorsAreRetriedWithBackoff) {
  Bytes data = testing::RandomBytes(5000, 3);
  Cid cid = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, data);
  std::atomic<int> calls{0};
  FakeHttpServer flaky([&](const FakeRequest&) {
    FakeResponse r;
    if (calls.fetch_add(1) < 2) {
      r.status = 503;
      return r;
    }
    r.body.assign(data.begin(), data.end());
    return r;
  });
  auto http = std::make_shared<HttpClient>();
  RemoteOptions ro = FastOptions();
  ro.backoff_base = 100ms;
  auto src = std::make_shared<GatewaySource>(flaky.url(), http, ro);
  ChainOptions co;
  co.max_rounds = 4;
  co.retry_base = 50ms;
  SourceChain chain(nullptr, nullptr, {src}, co);
  auto r = chain.Get(cid);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(chain.Stats().retry_rounds, 2u);
  EXPECT_EQ(src->Stats().http_status[503], 2u);

  // With too few rounds the same failure surfaces as kHttp with the attempts in the message.
  calls = 0;
  co.max_rounds = 2;
  SourceChain chain2(nullptr, nullptr, {std::make_shared<GatewaySource>(flaky.url(), http, ro)}, co);
  auto r2 = chain2.Get(cid);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, Errc::kHttp);
  EXPECT_NE(r2.error().message.find("503"), std::string::npos) << r2.error().message;
}

TEST_F(GatewayTest, ConcurrentGetsForOneCidAreCollapsed) {
  Bytes data = testing::RandomBytes(8000, 4);
  Cid cid = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, data);
  // The one request is answered only once the other 7 Gets have joined it.
  std::atomic<SourceChain*> chain_seen{nullptr};
  std::atomic<bool> all_joined{false};
  FakeHttpServer slow([&](const FakeRequest&) {
    all_joined = WaitFor([&] {
      SourceChain* c = chain_seen.load();
      return c && c->Stats().collapsed >= 7;
    });
    FakeResponse r;
    r.body.assign(data.begin(), data.end());
    return r;
  });
  auto http = std::make_shared<HttpClient>();
  auto src = std::make_shared<GatewaySource>(slow.url(), http, FastOptions());
  SourceChain chain(nullptr, nullptr, {src}, ChainOptions{});
  chain_seen = &chain;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto r = chain.Get(cid);
      if (r.ok() && std::equal(r->data().begin(), r->data().end(), data.begin(), data.end())) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_joined.load()) << "the other Gets did not join the request in flight";
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(slow.requests(), 1);
  EXPECT_EQ(chain.Stats().collapsed, 7u);
}

TEST_F(GatewayTest, InFlightRequestsAreBounded) {
  std::map<Cid, Bytes> blocks;
  for (int i = 0; i < 24; ++i) {
    Bytes b = testing::RandomBytes(1000, 100 + i);
    blocks[*Cid::Sum(1, codec::kRaw, mh::kSha2_256, b)] = b;
  }
  const int total = int(blocks.size()), bound = 3;
  std::atomic<int> now{0}, peak{0}, answered{0};
  std::atomic<bool> filled{true};
  FakeHttpServer srv([&](const FakeRequest& req) {
    int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    // Hold each answer until the bound is reached (or too few requests are left to reach it), so
    // that a chain which respects it runs exactly `bound` at once and one that does not exceeds it.
    if (!WaitFor([&] { return now.load() >= std::min(bound, total - answered.load()); }))
      filled = false;
    ++answered;
    --now;
    FakeResponse r;
    auto cid = Cid::Parse(req.path.substr(6));
    const Bytes& b = blocks.at(*cid);
    r.body.assign(b.begin(), b.end());
    return r;
  });
  auto http = std::make_shared<HttpClient>();
  ChainOptions co;
  co.max_inflight = bound;
  SourceChain chain(nullptr, nullptr, {std::make_shared<GatewaySource>(srv.url(), http, FastOptions())}, co);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (const auto& [cid, b] : blocks)
    threads.emplace_back([&, c = cid] { ok += chain.Get(c).ok() ? 1 : 0; });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), total);
  EXPECT_TRUE(filled.load()) << "fewer than " << bound << " requests ever ran at once";
  EXPECT_EQ(peak.load(), bound);
}

TEST_F(GatewayTest, PrefetchFillsCacheThroughSameQueue) {
  Served s(120 * 1024, 9);
  TestRepo t;
  auto http = std::make_shared<HttpClient>();
  auto gw = std::make_shared<GatewaySource>(s.nginx->url(), http, FastOptions());
  SourceChain chain(t.repo, t.cache, {gw}, ChainOptions{});
  std::vector<Cid> all;
  for (const auto& [cid, b] : s.blocks) all.push_back(cid);
  chain.Prefetch(all);
  chain.Prefetch(all);  // duplicates while queued are ignored or skipped later
  const auto until = SteadyClock::now() + 10s;
  while (SteadyClock::now() < until && Inspect(t).blocks < all.size())
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(Inspect(t).blocks, all.size());
  s.nginx->Stop();
  EXPECT_EQ(ReadAll(std::shared_ptr<BlockGetter>(&chain, [](BlockGetter*) {}), s.root, s.data.size()), s.data);
  auto st = chain.Stats();
  EXPECT_EQ(st.prefetch_fetched, all.size());
  EXPECT_EQ(gw->Stats().requests, all.size());
}

// CAR ranges: nginx cannot build CARs, so a fake gateway answers with CARs built here.
TEST(GatewayCar, RangeStreamsVerifiedBlocksIntoCache) {
  Bytes data = testing::RandomBytes(100 * 1024, 11);
  testing::MemoryBlocks mem;
  Cid root = testing::ImportFileDag(data, &mem);
  auto blocks = mem.blocks();
  Bytes car = testing::MakeCar(root, blocks);
  std::string query;
  FakeHttpServer srv([&](const FakeRequest& req) {
    FakeResponse r;
    query = req.query;
    if (req.Param("format") != "car" || req.path != "/ipfs/" + root.ToString()) {
      r.status = 400;
      return r;
    }
    r.content_type = "application/vnd.ipld.car; version=1; order=dfs; dups=n";
    r.body.assign(car.begin(), car.end());
    return r;
  });
  TestRepo t;
  auto http = std::make_shared<HttpClient>();
  auto gw = std::make_shared<GatewaySource>(srv.url(), http, FastOptions());
  SourceChain chain(t.repo, t.cache, {gw}, ChainOptions{});
  Status st = chain.PrefetchRange(root, 0, -1);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(query, "format=car&dag-scope=entity&entity-bytes=0:*");
  auto contents = Inspect(t);
  EXPECT_EQ(contents.blocks, blocks.size());
  EXPECT_EQ(contents.bad, 0u);
  EXPECT_EQ(gw->Stats().car_blocks, blocks.size());
  srv.Stop();
  EXPECT_EQ(ReadAll(std::shared_ptr<BlockGetter>(&chain, [](BlockGetter*) {}), root, data.size()), data);
  ASSERT_TRUE(chain.PrefetchRange(root, 4096, 8191).ok() == false);  // server gone: an error, not a hang
}

TEST(GatewayCar, CorruptOrTruncatedCarIsRejectedAndNothingBadIsCached) {
  Bytes data = testing::RandomBytes(60 * 1024, 12);
  testing::MemoryBlocks mem;
  Cid root = testing::ImportFileDag(data, &mem);
  auto blocks = mem.blocks();
  Bytes good = testing::MakeCar(root, blocks);
  Bytes corrupt = good;
  corrupt[corrupt.size() - 10] ^= 0xff;  // inside the last block's data
  Bytes truncated(good.begin(), good.end() - 100);
  const Bytes* serve = &corrupt;
  FakeHttpServer srv([&](const FakeRequest&) {
    FakeResponse r;
    r.body.assign(serve->begin(), serve->end());
    return r;
  });
  TestRepo t;
  auto http = std::make_shared<HttpClient>();
  auto gw = std::make_shared<GatewaySource>(srv.url(), http, FastOptions());
  SourceChain chain(t.repo, t.cache, {gw}, ChainOptions{});
  Status st = chain.PrefetchRange(root, 0, -1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHashMismatch) << st.error().message;
  auto c1 = Inspect(t);
  EXPECT_EQ(c1.bad, 0u);
  EXPECT_EQ(c1.blocks, blocks.size() - 1);  // all but the corrupted one, each verified

  ASSERT_TRUE(t.cache->Clear().ok());
  serve = &truncated;
  st = chain.PrefetchRange(root, 0, -1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kTruncated) << st.error().message;
  EXPECT_EQ(Inspect(t).bad, 0u);
  auto ss = gw->Stats();
  EXPECT_EQ(ss.hash_mismatches, 1u);
  EXPECT_EQ(ss.truncated, 1u);
}

}  // namespace
}  // namespace ipfskit
