// CAR streams in the source chain (PrefetchFileRange, PrefetchTree): ipfskit's own gateway
// (GatewayHandler over an HttpServer on loopback) serves the CARs, behind wrappers that count,
// cut and corrupt them. What is checked: one request brings a whole range or tree, Gets of the
// blocks a stream is bringing wait for it instead of asking on their own, a cut stream resumes
// from its first missing block, a lying gateway is passed over, and nothing unverified is cached.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/cache/arc_block_cache.h"
#include "core/importer/importer.h"
#include "core/reader/unixfs_reader.h"
#include "core/serve/gateway_handler.h"
#include "core/serve/http_server.h"
#include "core/source/gateway.h"
#include "core/source/source_chain.h"
#include "core/store/repo.h"
#include "tests/fakes/cache_inspect.h"
#include "tests/fakes/test_dag.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using testing::MemoryBlocks;

// A gateway over `mem`, counting raw and CAR requests; `cut_after` bytes into each of the first
// `cuts` CAR bodies the connection is cut.
struct Gateway {
  std::shared_ptr<MemoryBlocks> mem = std::make_shared<MemoryBlocks>();
  std::unique_ptr<GatewayHandler> handler;
  std::unique_ptr<HttpServer> server;
  std::atomic<int> raw{0}, car{0}, cuts{0};
  uint64_t cut_after = 0;
  std::mutex mu;
  std::vector<std::string> car_queries;

  void Start() {
    handler = std::make_unique<GatewayHandler>(mem, nullptr);
    HttpServerOptions so;
    so.port = 0;
    server = std::make_unique<HttpServer>(so, [this](const ServerRequest& req) {
      const bool is_car = req.Query("format") == "car";
      (is_car ? car : raw)++;
      if (is_car) {
        std::lock_guard<std::mutex> lock(mu);
        std::string q;
        for (const auto& [k, v] : req.query) q += k + "=" + v + "&";
        car_queries.push_back(q);
      }
      ServerResponse r = handler->Handle(req);
      if (is_car && r.reader && cuts > 0) {
        cuts--;
        auto sent = std::make_shared<uint64_t>(0);
        r.reader = [inner = std::move(r.reader), sent, limit = cut_after](uint8_t* buf, size_t max) -> Result<size_t> {
          if (*sent >= limit) return MakeError(Errc::kIo, "cut on purpose");
          auto n = inner(buf, std::min<uint64_t>(max, limit - *sent));
          if (n.ok()) *sent += *n;
          return n;
        };
      }
      return r;
    });
    ASSERT_TRUE(server->Start().ok());
  }
  std::string url() const { return "http://" + server->address(); }
};

struct Node {
  std::string dir = testing::MakeTempDir("ipfskit-stream");
  std::shared_ptr<Repo> repo;
  std::shared_ptr<ArcBlockCache> cache;
  std::shared_ptr<SourceChain> chain;
  explicit Node(const std::vector<std::string>& urls) {
    RepoOptions o;
    o.path = dir + "/repo";
    repo = *Repo::Open(o);
    cache = *ArcBlockCache::Open(repo, ArcCacheOptions{});
    RemoteOptions ro;
    ro.request_timeout = 5000ms;
    ro.connect_timeout = 1000ms;
    ro.low_speed_bytes = 100;
    ro.low_speed_seconds = 1;
    auto http = std::make_shared<HttpClient>();
    std::vector<std::shared_ptr<RemoteSource>> remotes;
    for (const auto& u : urls) remotes.push_back(std::make_shared<GatewaySource>(u, http, ro));
    ChainOptions co;
    co.overall_timeout = 20s;
    chain = std::make_shared<SourceChain>(repo, cache, remotes, co);
  }
  ~Node() {
    chain.reset();
    cache.reset();
    repo.reset();
    std::filesystem::remove_all(dir);
  }
};

// Reads the whole file with `threads` readers, each taking every n-th 256 KiB piece.
Bytes ReadParallel(std::shared_ptr<BlockGetter> g, const Cid& root, size_t size, int threads) {
  UnixfsReader reader(std::move(g));
  Bytes out(size);
  std::vector<std::thread> ts;
  std::atomic<bool> failed{false};
  constexpr size_t kPiece = 256 << 10;
  for (int t = 0; t < threads; t++)
    ts.emplace_back([&, t] {
      for (size_t off = t * kPiece; off < size; off += threads * kPiece) {
        auto n = reader.Read(root, off, std::span<uint8_t>(out.data() + off, std::min(kPiece, size - off)));
        if (!n.ok()) failed = true;
      }
    });
  for (auto& t : ts) t.join();
  if (failed) return {};
  return out;
}

Cid ImportFile(ByteView data, MemoryBlocks* mem) { return testing::ImportFileDag(data, mem, 64 << 10, 16); }

TEST(StreamFetch, AFileRangeComesInOneStreamAndReadersWaitForIt) {
  Gateway gw;
  const Bytes data = testing::RandomBytes(6 << 20, 3);
  const Cid root = ImportFile(data, gw.mem.get());
  gw.Start();
  Node node({gw.url()});
  UnixfsReader reader(node.chain);
  ASSERT_TRUE(node.chain->Get(root).ok());  // the root, block by block, as a stat would
  auto spans = reader.LeafSpansFor(root, 0, data.size());
  ASSERT_TRUE(spans.ok()) << spans.error().message;
  // Inner nodes not yet fetched stand for their leaves: the walk asked the network for nothing.
  EXPECT_EQ(gw.raw.load(), 1);
  EXPECT_LT(spans->size(), 96u / 16 + 2);
  EXPECT_EQ(spans->front().offset, 0u);
  ASSERT_TRUE(node.chain->PrefetchFileRange(root, *spans, 0, -1));
  EXPECT_EQ(ReadParallel(node.chain, root, data.size(), 4), data);
  const ChainStats st = node.chain->Stats();
  EXPECT_EQ(gw.car.load(), 1);
  EXPECT_EQ(gw.raw.load(), 1) << "readers asked for blocks the stream was bringing";
  EXPECT_EQ(st.car_ranges, 1u);
  EXPECT_EQ(st.car_released, 0u);
  EXPECT_EQ(gw.car_queries.at(0), "dag-scope=entity&entity-bytes=0:*&format=car&");
  // Everything is in the cache, verified: a second node-less read needs no gateway.
  gw.server->Stop();
  EXPECT_EQ(ReadParallel(node.chain, root, data.size(), 1), data);
}

TEST(StreamFetch, ACutStreamResumesFromItsFirstMissingBlock) {
  Gateway gw;
  const Bytes data = testing::RandomBytes(6 << 20, 4);
  const Cid root = ImportFile(data, gw.mem.get());
  gw.cuts = 2;
  gw.cut_after = 1 << 20;  // each of the first two CARs stops after 1 MiB
  gw.Start();
  Node node({gw.url()});
  UnixfsReader reader(node.chain);
  ASSERT_TRUE(node.chain->Get(root).ok());
  auto spans = reader.LeafSpansFor(root, 0, data.size());
  ASSERT_TRUE(spans.ok());
  ASSERT_TRUE(node.chain->PrefetchFileRange(root, *spans, 0, -1));
  EXPECT_EQ(ReadParallel(node.chain, root, data.size(), 2), data);
  const ChainStats st = node.chain->Stats();
  EXPECT_EQ(gw.car.load(), 3);
  EXPECT_EQ(st.car_resumes, 2u);
  EXPECT_EQ(st.car_released, 0u);
  EXPECT_EQ(gw.raw.load(), 1);
  // The second and third requests start past the start: where the first missing block begins.
  std::lock_guard<std::mutex> lock(gw.mu);
  ASSERT_EQ(gw.car_queries.size(), 3u);
  auto from = [](const std::string& q) {
    size_t at = q.find("entity-bytes=") + 13;
    return std::stoull(q.substr(at, q.find(':', at) - at));
  };
  EXPECT_GT(from(gw.car_queries[1]), 0u);
  EXPECT_GT(from(gw.car_queries[2]), from(gw.car_queries[1]));
  EXPECT_EQ(testing::InspectCache(*node.repo).bad, 0u);
}

TEST(StreamFetch, ALyingGatewayIsPassedOverAndNothingBadIsCached) {
  Gateway good;
  const Bytes data = testing::RandomBytes(3 << 20, 5);
  const Cid root = ImportFile(data, good.mem.get());
  good.Start();
  // The liar serves the same DAG with one leaf's bytes changed (its CID unchanged).
  Gateway liar;
  for (const auto& [cid, bytes] : good.mem->blocks()) {
    Bytes b = bytes;
    if (cid.codec() == codec::kRaw && b.size() > 100 && cid != root) b[50] ^= 1;
    ASSERT_TRUE(liar.mem->Put(cid, b, true).ok());
  }
  liar.Start();
  Node node({liar.url(), good.url()});
  // The spans from the good copy (so no request has ranked the gateways yet: the liar, listed
  // first, is asked first), and no read until the liar has answered.
  auto spans = UnixfsReader(good.mem).LeafSpansFor(root, 0, data.size());
  ASSERT_TRUE(spans.ok());
  ASSERT_TRUE(node.chain->PrefetchFileRange(root, *spans, 0, -1));
  const auto until = SteadyClock::now() + 10s;
  while (good.car.load() == 0 && SteadyClock::now() < until) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(ReadParallel(node.chain, root, data.size(), 2), data);
  EXPECT_GE(liar.car.load(), 1);
  EXPECT_GE(good.car.load(), 1);
  EXPECT_EQ(testing::InspectCache(*node.repo).bad, 0u);
  bool counted = false;
  for (const auto& s : node.chain->Stats().sources)
    if (s.url == liar.url()) counted = s.hash_mismatches >= 1;
  EXPECT_TRUE(counted) << "the liar's bad block was not counted";
}

TEST(StreamFetch, ASmallTreeComesInOneStream) {
  Gateway gw;
  ImportOptions o;
  o.cid_version = 1;
  o.raw_leaves = true;
  o.chunk_size = 4096;
  DagWriter w(o, gw.mem.get());
  std::vector<DirEntryIn> entries;
  std::map<std::string, Bytes> files;
  for (int i = 0; i < 300; i++) {
    Bytes d = testing::RandomBytes(1000 + i * 10, static_cast<uint32_t>(i + 1));
    auto e = ImportBytes(d, o, gw.mem.get());
    ASSERT_TRUE(e.ok());
    entries.push_back({"f" + std::to_string(i), *e});
    files["f" + std::to_string(i)] = d;
  }
  auto dir = BuildDirectory(entries, w);
  ASSERT_TRUE(dir.ok());
  gw.Start();
  Node node({gw.url()});
  UnixfsReader reader(node.chain);
  auto list = reader.ListDir(dir->cid);  // the directory block: one raw request
  ASSERT_TRUE(list.ok());
  std::vector<Cid> children;
  for (const auto& e : *list) children.push_back(e.cid);
  ASSERT_TRUE(node.chain->PrefetchTree(dir->cid, children));
  for (const auto& e : *list) {
    Bytes out(files[e.name].size() + 1);
    auto n = reader.Read(e.cid, 0, out);
    ASSERT_TRUE(n.ok()) << n.error().message;
    out.resize(*n);
    EXPECT_EQ(out, files[e.name]) << e.name;
  }
  EXPECT_EQ(gw.car.load(), 1);
  EXPECT_EQ(gw.raw.load(), 1);
  EXPECT_EQ(node.chain->Stats().car_trees, 1u);
  std::lock_guard<std::mutex> lock(gw.mu);
  EXPECT_EQ(gw.car_queries.at(0), "dag-scope=all&format=car&");
}

// A plain file server (as nginx over block files) answers every /ipfs/<cid> with the block,
// whatever the format: the first CAR request shows it, the stream's blocks are fetched one by
// one, its health is not charged, and no stream is asked of it again.
TEST(StreamFetch, AGatewayWithoutCarsIsLeftToPerBlockFetching) {
  Gateway real;  // only for its blocks
  const Bytes data = testing::RandomBytes(2 << 20, 6);
  const Cid root = ImportFile(data, real.mem.get());
  std::atomic<int> requests{0};
  HttpServerOptions so;
  so.port = 0;
  HttpServer plain(so, [&](const ServerRequest& req) {
    requests++;
    auto cid = Cid::Parse(req.path.substr(req.path.rfind('/') + 1));
    if (!cid.ok() || !real.mem->Has(*cid)) return ServerResponse::Text(404, "no");
    ServerResponse r;
    auto b = real.mem->Get(*cid);
    r.body.assign(reinterpret_cast<const char*>(b->data().data()), b->size());
    r.With("Content-Type", "application/octet-stream");
    return r;
  });
  ASSERT_TRUE(plain.Start().ok());
  Node node({"http://" + plain.address()});
  auto spans = UnixfsReader(real.mem).LeafSpansFor(root, 0, data.size());
  ASSERT_TRUE(spans.ok());
  ASSERT_TRUE(node.chain->PrefetchFileRange(root, *spans, 0, -1));
  EXPECT_EQ(ReadParallel(node.chain, root, data.size(), 2), data);
  const ChainStats st = node.chain->Stats();
  ASSERT_EQ(st.sources.size(), 1u);
  EXPECT_EQ(st.sources[0].malformed, 0u) << "a CAR-less gateway was charged as failing";
  EXPECT_EQ(st.sources[0].consecutive_failures, 0u);
  EXPECT_EQ(st.car_released, spans->size());
  EXPECT_FALSE(node.chain->PrefetchFileRange(root, *spans, 0, -1)) << "asked a CAR-less gateway again";
}

TEST(StreamFetch, NoGatewayOrAFullQueueRefusesAndTheCallerFallsBack) {
  Node offline({});
  const Bytes bytes{1, 2, 3};
  std::vector<LeafSpan> spans{{*Cid::Sum(1, codec::kRaw, mh::kSha2_256, bytes), 0}};
  EXPECT_FALSE(offline.chain->PrefetchFileRange(spans[0].cid, spans, 0, -1));
  EXPECT_FALSE(offline.chain->PrefetchTree(spans[0].cid, {}));
  EXPECT_EQ(offline.chain->Stats().stream_refused, 2u);
}

}  // namespace
}  // namespace ipfskit
