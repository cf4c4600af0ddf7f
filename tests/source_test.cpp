// Kubo RPC source against a loopback stand-in that follows Kubo's API, source ordering across
// Kubo and gateways, and the MakeSourceChain factory.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/cache/arc_block_cache.h"
#include "core/reader/unixfs_reader.h"
#include "core/source/make_source_chain.h"
#include "tests/fakes/cache_inspect.h"
#include "tests/fakes/fake_kubo.h"
#include "tests/fakes/nginx.h"
#include "tests/fakes/test_dag.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpServer;
using testing::FakeKubo;
using testing::FakeRequest;
using testing::FakeResponse;

RemoteOptions Fast() {
  RemoteOptions o;
  o.request_timeout = 3000ms;
  o.connect_timeout = 1000ms;
  o.low_speed_seconds = 1;
  o.backoff_base = 3000ms;
  return o;
}

struct Dag {
  Bytes data;
  Cid root;
  std::map<Cid, Bytes> blocks;
  explicit Dag(size_t n, uint32_t seed) : data(testing::RandomBytes(n, seed)) {
    testing::MemoryBlocks mem;
    root = testing::ImportFileDag(data, &mem);
    blocks = mem.blocks();
  }
};

Bytes ReadAll(BlockGetter* g, const Cid& root, size_t size) {
  UnixfsReader reader(std::shared_ptr<BlockGetter>(g, [](BlockGetter*) {}));
  Bytes out(size + 1);
  auto n = reader.Read(root, 0, out);
  if (!n.ok()) throw std::runtime_error(n.error().message);
  out.resize(*n);
  return out;
}

// A gateway that serves blocks from a map (used where nginx is not the point of the test).
FakeHttpServer::Handler ServeBlocks(const std::map<Cid, Bytes>* blocks) {
  return [blocks](const FakeRequest& req) {
    FakeResponse r;
    auto cid = Cid::Parse(req.path.size() > 6 ? req.path.substr(6) : "");
    if (!cid.ok() || !blocks->count(*cid)) {
      r.status = 404;
      return r;
    }
    const Bytes& b = blocks->at(*cid);
    r.body.assign(b.begin(), b.end());
    return r;
  };
}

TEST(KuboRpc, ReadsAFileWithPostBlockGet) {
  Dag dag(150 * 1024, 1);
  FakeKubo kubo;
  for (auto& [c, b] : dag.blocks) kubo.Add(c, b);
  auto http = std::make_shared<HttpClient>();
  auto src = std::make_shared<KuboRpcSource>(kubo.url(), http, Fast());
  SourceChain chain(nullptr, nullptr, {src}, ChainOptions{});
  EXPECT_EQ(ReadAll(&chain, dag.root, dag.data.size()), dag.data);
  // No cache here, so the reader may ask for a block twice; every block was asked for.
  auto log = kubo.server().log();
  std::set<Cid> asked;
  for (const auto& r : log) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/api/v0/block/get");
    auto cid = Cid::Parse(r.Param("arg"));
    ASSERT_TRUE(cid.ok()) << r.query;
    asked.insert(*cid);
  }
  EXPECT_EQ(asked.size(), dag.blocks.size());
  EXPECT_EQ(src->Stats().ok, log.size());
  EXPECT_STREQ(src->kind(), "kubo");
}

TEST(KuboRpc, StandInIsPostOnlyLikeKubo) {
  FakeKubo kubo;
  HttpClient http;
  HttpRequest get;
  get.url = kubo.url() + "/api/v0/version";
  auto r = http.Fetch(get);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 405);
  HttpRequest post = get;
  post.method = "POST";
  auto r2 = http.Fetch(post);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->status, 200);
  EXPECT_TRUE(KuboRpcSource::Probe(http, kubo.url(), 1000ms));
}

TEST(KuboRpc, MissingBlockIsNotFoundNotAFailure) {
  FakeKubo kubo;
  auto http = std::make_shared<HttpClient>();
  auto src = std::make_shared<KuboRpcSource>(kubo.url(), http, Fast());
  auto cid = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("absent"));
  auto r = src->Get(cid);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kNotFound) << r.error().message;
  EXPECT_NE(r.error().message.find("not found locally"), std::string::npos);
  EXPECT_EQ(src->Stats().not_found, 1u);
  EXPECT_FALSE(src->BackedOff(SteadyClock::now()));
}

TEST(KuboRpc, WrongBytesFromKuboAreRejected) {
  FakeKubo kubo;
  auto cid = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("the real bytes"));
  kubo.Add(cid, ToBytes("other bytes"));
  auto http = std::make_shared<HttpClient>();
  auto src = std::make_shared<KuboRpcSource>(kubo.url(), http, Fast());
  auto r = src->Get(cid);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kHashMismatch);
  EXPECT_EQ(src->Stats().hash_mismatches, 1u);
}

TEST(SourceOrder, KuboIsAskedBeforeGateways) {
  Dag dag(40 * 1024, 2);
  FakeKubo kubo;
  for (auto& [c, b] : dag.blocks) kubo.Add(c, b);
  FakeHttpServer gw(ServeBlocks(&dag.blocks));
  auto http = std::make_shared<HttpClient>();
  // Listed gateway first: the Kubo tier still goes first.
  SourceChain chain(nullptr, nullptr,
                    {std::make_shared<GatewaySource>(gw.url(), http, Fast()),
                     std::make_shared<KuboRpcSource>(kubo.url(), http, Fast())},
                    ChainOptions{});
  EXPECT_EQ(ReadAll(&chain, dag.root, dag.data.size()), dag.data);
  EXPECT_EQ(gw.requests(), 0);
  EXPECT_GE(kubo.server().requests(), static_cast<int>(dag.blocks.size()));
}

TEST(SourceOrder, DeadKuboFallsBackToGatewayAndIsBackedOff) {
  Dag dag(40 * 1024, 3);
  FakeHttpServer gw(ServeBlocks(&dag.blocks));
  auto http = std::make_shared<HttpClient>();
  const std::string dead = "http://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  auto kubo = std::make_shared<KuboRpcSource>(dead, http, Fast());
  SourceChain chain(nullptr, nullptr, {kubo, std::make_shared<GatewaySource>(gw.url(), http, Fast())},
                    ChainOptions{});
  EXPECT_EQ(ReadAll(&chain, dag.root, dag.data.size()), dag.data);
  auto ks = kubo->Stats();
  EXPECT_GE(ks.network_errors, 1u);
  EXPECT_LE(ks.requests, 2u);
  EXPECT_TRUE(kubo->BackedOff(SteadyClock::now()));
}

// MakeSourceChain over a real repo.
class FactoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("ipfskit-factory");
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    repo_ = *r;
  }
  void TearDown() override {
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }
  Config Base() {
    Config c;
    c.gateways.clear();
    c.kubo_api.clear();
    c.net.request_timeout_ms = 2000;
    c.net.overall_timeout_ms = 5000;
    return c;
  }
  std::string dir_;
  std::shared_ptr<Repo> repo_;
};

TEST_F(FactoryTest, OfflineReadsOnlyRepoAndCache) {
  Config c = Base();
  c.offline = true;
  auto chain = MakeSourceChain(c, repo_);
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_TRUE((*chain)->remotes().empty());
  auto local = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("local"));
  ASSERT_TRUE(repo_->Put(local, AsBytes("local")).ok());
  EXPECT_TRUE((*chain)->Get(local).ok());
  auto absent = *Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("absent"));
  auto r = (*chain)->Get(absent);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  auto j = ToJson((*chain)->Stats());
  EXPECT_TRUE(j["offline"].get<bool>());
  EXPECT_EQ(j["local_hits"], 1);
  EXPECT_TRUE(j["cache"].is_object());
}

TEST_F(FactoryTest, DefaultKuboIsUsedOnlyWhenItAnswers) {
  FakeKubo kubo;
  Config c = Base();
  c.kubo_api = kubo.url();
  c.kubo_api_is_default = true;
  auto with = MakeSourceChain(c, repo_);
  ASSERT_TRUE(with.ok());
  ASSERT_EQ((*with)->remotes().size(), 1u);
  EXPECT_STREQ((*with)->remotes()[0]->kind(), "kubo");
  with->reset();

  c.kubo_api = "http://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  auto without = MakeSourceChain(c, repo_);
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE((*without)->remotes().empty());
  without->reset();

  c.kubo_api_is_default = false;  // the user asked for it: kept even if down now
  auto explicit_kubo = MakeSourceChain(c, repo_);
  ASSERT_TRUE(explicit_kubo.ok());
  EXPECT_EQ((*explicit_kubo)->remotes().size(), 1u);
}

TEST_F(FactoryTest, NetworkBlocksAreCachedButLocalOnesAreNot) {
  Dag dag(30 * 1024, 4);
  FakeHttpServer gw(ServeBlocks(&dag.blocks));
  // The root is also in the repo (as if added locally): it must come from there, uncached.
  ASSERT_TRUE(repo_->Put(dag.root, dag.blocks.at(dag.root)).ok());
  Config c = Base();
  c.gateways = {gw.url()};
  auto chain = MakeSourceChain(c, repo_);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(ReadAll(chain->get(), dag.root, dag.data.size()), dag.data);
  auto st = (*chain)->Stats();
  EXPECT_GE(st.local_hits, 1u);
  EXPECT_EQ(st.remote_ok, dag.blocks.size() - 1);
  ASSERT_TRUE((*chain)->cache()->Flush().ok());
  auto contents = testing::InspectCache(*repo_);
  EXPECT_EQ(contents.blocks, dag.blocks.size() - 1);
  EXPECT_EQ(contents.bad, 0u);
  EXPECT_FALSE((*chain)->cache()->Has(dag.root));
}

}  // namespace
}  // namespace ipfskit
