// NameSys against loopback record sources that misbehave on purpose: delegated routing servers,
// a gateway and a Kubo RPC fake, all FakeHttpServers on 127.0.0.1. Records are made with our
// own signer; their verification against an independent implementation is ipns_record_test's.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "core/ipns/namesys.h"
#include "core/multiformats/cid.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/fake_ipns_router.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using Clock = std::chrono::steady_clock;
using testing::Router;

constexpr int64_t kSec = 1000000000;

std::string CidPath(int n) {
  auto c = Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("content " + std::to_string(n)));
  return "/ipfs/" + c->ToString();
}

struct Key {
  PrivateKey priv;
  IpnsName name;
  explicit Key(KeyType t = KeyType::kEd25519) {
    priv = *PrivateKey::Generate(t);
    name = IpnsName::FromPublicKey(priv.Public());
  }
  std::string Record(const std::string& value, uint64_t seq, int64_t life_ns = 3600 * kSec,
                     uint64_t ttl_ns = 3600ull * kSec) const {
    IpnsRecordParams p;
    p.value = value;
    p.sequence = seq;
    p.eol = NowUnixNanos() + life_ns;
    p.ttl_ns = ttl_ns;
    auto r = CreateIpnsRecord(priv, p);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return std::string(r->begin(), r->end());
  }
};

class IpnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("ipfskit-ipns");
    RepoOptions o;
    o.path = dir_ + "/repo";
    repo_ = *Repo::Open(o);
  }
  void TearDown() override {
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }
  IpnsSettings Settings(std::vector<std::string> routers) {
    IpnsSettings s;
    s.routers = std::move(routers);
    s.timeout_ms = 2000;
    s.grace_ms = 50;
    return s;
  }
  std::shared_ptr<NameSys> Open(IpnsSettings s) {
    auto ns = NameSys::Open(repo_, std::move(s));
    EXPECT_TRUE(ns.ok()) << ns.error().message;
    return *ns;
  }
  std::string dir_;
  std::shared_ptr<Repo> repo_;
};

TEST_F(IpnsResolverTest, ResolvesFromRoutingThenServesTheCacheWithoutNetwork) {
  Key k;
  Router r;
  r.Set(k.name, k.Record(CidPath(1) + "/sub", 3));
  auto ns = Open(Settings({r.url()}));
  auto res = ns->Resolve("/ipns/" + k.name.ToString() + "/a/b");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->path, CidPath(1) + "/sub/a/b");
  EXPECT_EQ(res->sequence, 3u);
  EXPECT_EQ(res->source, "routing:" + r.url());
  EXPECT_EQ(r.gets.load(), 1);
  // Every spelling of the name is the same name; within the TTL no request is made.
  for (const std::string& spelling : {k.name.ToString(), k.name.ToBase58(), "ipns://" + k.name.ToString()}) {
    auto again = ns->Resolve(spelling);
    ASSERT_TRUE(again.ok()) << spelling << ": " << again.error().message;
    EXPECT_EQ(again->path, CidPath(1) + "/sub");
    EXPECT_EQ(again->source.rfind("cache:", 0), 0u) << again->source;
  }
  EXPECT_EQ(r.gets.load(), 1);
  EXPECT_EQ(ns->Stats().cache_hits, 3u);
}

TEST_F(IpnsResolverTest, NoRecordIsNotFoundWhether404OrIpip0513) {
  Key k;
  Router r;  // answers 200 text/plain for unknown names
  Router r404;
  r404.Misbehave([](const FakeRequest&) {
    FakeResponse f;
    f.status = 404;
    return f;
  });
  auto ns = Open(Settings({r.url(), r404.url()}));
  auto res = ns->Resolve(k.name.ToString());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, Errc::kNotFound) << res.error().message;
}

TEST_F(IpnsResolverTest, BadNamesAreClearErrors) {
  auto ns = Open(Settings({}));
  auto cid = Cid::Sum(1, codec::kDagPb, mh::kSha2_256, AsBytes("x"));
  auto r = ns->Resolve("/ipns/" + cid->ToString());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("libp2p-key"), std::string::npos) << r.error().message;
  auto bad = ns->Resolve("/ipns/not a name");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
}

struct Lie {
  const char* what;
  const char* reason;  // IpnsRejectName, or "" when it is not a rejection
  std::function<FakeResponse(const Key& k, const Key& other)> make;
};

class IpnsLyingSourceTest : public IpnsResolverTest, public ::testing::WithParamInterface<Lie> {};

FakeResponse RecordResponse(std::string body) {
  FakeResponse f;
  f.content_type = "application/vnd.ipfs.ipns-record";
  f.body = std::move(body);
  return f;
}

// A lying source alone never yields a value; beside an honest one, the honest value wins, and
// nothing waits past the timeout.
TEST_P(IpnsLyingSourceTest, NeverServesAWrongValueAndNeverHangs) {
  const Lie& lie = GetParam();
  Key k, other;
  Router liar;
  liar.Misbehave([&](const FakeRequest&) { return std::optional<FakeResponse>(lie.make(k, other)); });
  {
    IpnsSettings s = Settings({liar.url()});
    s.timeout_ms = 500;
    auto ns = Open(s);
    auto t0 = Clock::now();
    auto res = ns->Resolve(k.name.ToString());
    EXPECT_LT(Clock::now() - t0, 2500ms) << lie.what;
    ASSERT_FALSE(res.ok()) << lie.what << " gave " << res->path;
    if (*lie.reason) {
      EXPECT_EQ(ns->Stats().rejected[lie.reason], 1u) << lie.what;
    }
  }
  Router honest;
  honest.Set(k.name, k.Record(CidPath(7), 1));
  IpnsSettings s = Settings({liar.url(), honest.url()});
  s.timeout_ms = 500;
  auto ns = Open(s);
  auto t0 = Clock::now();
  auto res = ns->Resolve(k.name.ToString(), {.recursive = true, .nocache = true});
  EXPECT_LT(Clock::now() - t0, 2500ms) << lie.what;
  ASSERT_TRUE(res.ok()) << lie.what << ": " << res.error().message;
  EXPECT_EQ(res->path, CidPath(7)) << lie.what;
}

INSTANTIATE_TEST_SUITE_P(
    Lies, IpnsLyingSourceTest,
    ::testing::Values(
        // Ed25519 names inline the key: another key's signature does not verify under it.
        Lie{"another name's record", "bad_signature",
            [](const Key&, const Key& other) { return RecordResponse(other.Record(CidPath(666), 9)); }},
        Lie{"expired", "expired", [](const Key& k, const Key&) { return RecordResponse(k.Record(CidPath(666), 9, -kSec)); }},
        Lie{"bit flip in the value", "",
            [](const Key& k, const Key&) {
              std::string r = k.Record(CidPath(666), 9);
              size_t at = r.find("/ipfs/");
              r[at + 10] ^= 1;
              return RecordResponse(r);
            }},
        Lie{"bit flip at the end", "",
            [](const Key& k, const Key&) {
              std::string r = k.Record(CidPath(666), 9);
              r[r.size() - 3] ^= 0x40;
              return RecordResponse(r);
            }},
        Lie{"truncated", "", [](const Key& k, const Key&) { return RecordResponse(k.Record(CidPath(666), 9).substr(0, 60)); }},
        Lie{"too big", "too_big", [](const Key& k, const Key&) { return RecordResponse(std::string(11000, 'x')); }},
        Lie{"500", "",
            [](const Key&, const Key&) {
              FakeResponse f;
              f.status = 500;
              return f;
            }},
        Lie{"stall", "",
            [](const Key&, const Key&) {
              FakeResponse f;
              f.mode = FakeResponse::Mode::kHang;
              return f;
            }},
        Lie{"drop the connection", "",
            [](const Key&, const Key&) {
              FakeResponse f;
              f.mode = FakeResponse::Mode::kClose;
              return f;
            }}),
    [](const ::testing::TestParamInfo<Lie>& i) {
      std::string n;
      for (char c : std::string(i.param.what)) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return n;
    });

TEST_F(IpnsResolverTest, NeverGoesBackwards) {
  Key k;
  Router r;
  r.Set(k.name, k.Record(CidPath(5), 5));
  auto ns = Open(Settings({r.url()}));
  ASSERT_EQ(ns->Resolve(k.name.ToString())->path, CidPath(5));
  // The source now serves an older, validly signed record: refused and counted.
  r.Set(k.name, k.Record(CidPath(3), 3));
  auto res = ns->Resolve(k.name.ToString(), {.recursive = true, .nocache = true});
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->path, CidPath(5));
  EXPECT_EQ(ns->Stats().rejected["rollback"], 1u);
  // A restart keeps the protection: the cache is in the repo.
  ns.reset();
  ns = Open(Settings({r.url()}));
  EXPECT_EQ(ns->Resolve(k.name.ToString(), {.recursive = true, .nocache = true})->path, CidPath(5));
  // A newer one is taken.
  r.Set(k.name, k.Record(CidPath(6), 6));
  EXPECT_EQ(ns->Resolve(k.name.ToString(), {.recursive = true, .nocache = true})->path, CidPath(6));
}

TEST_F(IpnsResolverTest, StalledSourceDoesNotSetTheLatencyAndTheBestRecordWins) {
  Key k;
  Router stalled, old, fresh;
  stalled.Misbehave([](const FakeRequest&) {
    FakeResponse f;
    f.mode = FakeResponse::Mode::kHang;
    return std::optional<FakeResponse>(f);
  });
  old.Set(k.name, k.Record(CidPath(1), 1));
  fresh.Set(k.name, k.Record(CidPath(2), 2));
  IpnsSettings s = Settings({stalled.url(), old.url(), fresh.url()});
  s.timeout_ms = 5000;
  s.grace_ms = 100;
  auto ns = Open(s);
  auto t0 = Clock::now();
  auto res = ns->Resolve(k.name.ToString());
  auto took = Clock::now() - t0;
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->path, CidPath(2));
  EXPECT_LT(took, 1000ms) << "waited for the stalled source";
}

TEST_F(IpnsResolverTest, StaleWhileRevalidateThenStaleIfErrorUntilEol) {
  Key k;
  Router r;
  // TTL 1 ms: stale at once. EOL in 3 s.
  r.Set(k.name, k.Record(CidPath(1), 1, 3 * kSec, 1000000));
  auto ns = Open(Settings({r.url()}));
  ASSERT_EQ(ns->Resolve(k.name.ToString())->path, CidPath(1));
  r.Set(k.name, k.Record(CidPath(2), 2, 3 * kSec, 1000000));
  std::atomic<int> changes{0};
  ns->SetOnChange([&](const std::string& n) {
    if (n == k.name.ToString()) changes++;
  });
  std::this_thread::sleep_for(20ms);  // past the TTL
  auto t0 = Clock::now();
  auto stale = ns->Resolve(k.name.ToString());
  EXPECT_LT(Clock::now() - t0, 200ms);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->path, CidPath(1));  // served at once...
  EXPECT_TRUE(stale->stale);
  for (int i = 0; i < 200 && changes.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(changes.load(), 1);       // ...and refreshed behind
  EXPECT_EQ(ns->Resolve(k.name.ToString())->path.substr(0, CidPath(2).size()), CidPath(2));
  // Every source fails: the last verified record is served until its EOL, then refused.
  r.Misbehave([](const FakeRequest&) {
    FakeResponse f;
    f.status = 503;
    return std::optional<FakeResponse>(f);
  });
  auto res = ns->Resolve(k.name.ToString(), {.recursive = true, .nocache = true});
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->path, CidPath(2));
  EXPECT_TRUE(res->stale);
  std::this_thread::sleep_for(3100ms);
  auto gone = ns->Resolve(k.name.ToString());
  ASSERT_FALSE(gone.ok()) << "served past EOL: " << gone->path;
  // Unless the user allows it, with the age visible.
  IpnsSettings s = Settings({r.url()});
  s.serve_expired = true;
  auto lenient = Open(s);
  auto old = lenient->Resolve(k.name.ToString());
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_TRUE(old->expired);
  EXPECT_EQ(old->path, CidPath(2));
}

TEST_F(IpnsResolverTest, OfflineAndAfterRestartTheCacheAnswers) {
  Key k;
  {
    Router r;
    r.Set(k.name, k.Record(CidPath(4), 4));
    auto ns = Open(Settings({r.url()}));
    ASSERT_TRUE(ns->Resolve(k.name.ToString()).ok());
  }  // every source is gone now
  IpnsSettings off;
  off.offline = true;
  auto ns = Open(off);
  auto res = ns->Resolve(k.name.ToString());
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->path, CidPath(4));
  Key unknown;
  EXPECT_EQ(ns->Resolve(unknown.name.ToString()).error().code, Errc::kNotFound);
  // Online but with every source dead: the same.
  auto dead = Open(Settings({"http://127.0.0.1:1"}));
  EXPECT_EQ(dead->Resolve(k.name.ToString(), {.recursive = true, .nocache = true})->path, CidPath(4));
}

TEST_F(IpnsResolverTest, GatewayAndKuboAreAskedToo) {
  Key a, b;
  FakeHttpServer gw([&](const FakeRequest& req) {
    FakeResponse f;
    if (req.path == "/ipns/" + a.name.ToString() && req.Param("format") == "ipns-record")
      return RecordResponse(a.Record(CidPath(10), 1));
    f.status = 404;
    return f;
  });
  FakeHttpServer kubo([&](const FakeRequest& req) {
    FakeResponse f;
    if (req.method == "POST" && req.path == "/api/v0/name/get" && req.Param("arg") == b.name.ToString())
      return RecordResponse(b.Record(CidPath(11), 1));
    f.status = 500;
    f.content_type = "application/json";
    f.body = R"({"Message":"routing: not found","Code":0,"Type":"error"})";
    return f;
  });
  IpnsSettings s = Settings({});
  s.gateways = {gw.url()};
  s.kubo_api = kubo.url();
  auto ns = Open(s);
  EXPECT_EQ(ns->Resolve(a.name.ToString())->path, CidPath(10));
  EXPECT_EQ(ns->Resolve(b.name.ToString())->path, CidPath(11));
  Key c;
  EXPECT_EQ(ns->Resolve(c.name.ToString()).error().code, Errc::kNotFound);
}

TEST_F(IpnsResolverTest, PublishFollowsKubosSequenceRulesAndPushes) {
  Router pub;
  IpnsSettings s = Settings({});
  s.publishers = {pub.url()};
  auto ns = Open(s);
  ASSERT_TRUE(ns->keystore().Put("site", *PrivateKey::Generate(KeyType::kEd25519)).ok());
  PublishOptions po;
  po.key = "site";
  auto p1 = ns->Publish(CidPath(1), po);
  ASSERT_TRUE(p1.ok()) << p1.error().message;
  EXPECT_EQ(p1->sequence, 0u);
  ASSERT_EQ(p1->pushes.size(), 1u);
  EXPECT_TRUE(p1->pushes[0].status.ok()) << p1->pushes[0].status.error().message;
  // What the publisher received is the record we hold, and it verifies.
  std::string pushed;
  {
    std::lock_guard lk(pub.mu);
    pushed = pub.records[p1->name.ToString()];
  }
  auto rec = ValidateIpnsRecord(AsBytes(pushed), p1->name, NowUnixNanos());
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  EXPECT_EQ(rec->value, CidPath(1));
  EXPECT_EQ(ns->Cached(p1->name)->record.raw, Bytes(pushed.begin(), pushed.end()));
  EXPECT_EQ(ns->Publish(CidPath(1), po)->sequence, 0u);  // same value: same sequence
  EXPECT_EQ(ns->Publish(CidPath(2), po)->sequence, 1u);  // new value: +1
  po.sequence = 1;
  EXPECT_EQ(ns->Publish(CidPath(3), po).error().code, Errc::kInvalidArgument);
  po.sequence = 10;
  EXPECT_EQ(ns->Publish(CidPath(3), po)->sequence, 10u);
  // Our own name resolves at once, with no source at all.
  IpnsSettings off;
  off.offline = true;
  EXPECT_EQ(Open(off)->Resolve(p1->name.ToString())->path, CidPath(3));
  // Without a publisher, only with allow_offline.
  auto lonely = Open(Settings({}));
  PublishOptions self;
  EXPECT_EQ(lonely->Publish(CidPath(4), self).error().code, Errc::kUnavailable);
  self.allow_offline = true;
  EXPECT_TRUE(lonely->Publish(CidPath(4), self).ok());
  EXPECT_EQ(lonely->Publish("/not/a/path", self).error().code, Errc::kInvalidArgument);
}

TEST_F(IpnsResolverTest, PutRecordVerifiesAndRefusesOlderUnlessForced) {
  Key k, other;
  auto ns = Open(Settings({}));
  std::string r5 = k.Record(CidPath(5), 5), r4 = k.Record(CidPath(4), 4);
  ASSERT_TRUE(ns->PutRecord(k.name, AsBytes(r5), "put").ok());
  EXPECT_FALSE(ns->PutRecord(k.name, AsBytes(other.Record(CidPath(9), 9)), "put").ok());
  auto older = ns->PutRecord(k.name, AsBytes(r4), "put");
  ASSERT_FALSE(older.ok());
  EXPECT_NE(older.error().message.find("sequence"), std::string::npos);
  EXPECT_TRUE(ns->PutRecord(k.name, AsBytes(r5), "put").ok());  // the same bytes again: fine
  EXPECT_TRUE(ns->PutRecord(k.name, AsBytes(r4), "put", /*force=*/true).ok());
  EXPECT_EQ(ns->Cached(k.name)->record.sequence, 4u);
}

TEST_F(IpnsResolverTest, RepublishReSignsTheSameSequenceWithAFreshEol) {
  auto ns = Open(Settings({}));
  PublishOptions po;
  po.allow_offline = true;
  po.lifetime = 10 * kSec;
  auto p = ns->Publish(CidPath(1), po);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(*ns->Republish(kSec), 0u);  // not due yet
  auto n = ns->Republish(3600 * kSec);
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 1u);
  auto held = ns->Cached(p->name);
  EXPECT_EQ(held->record.sequence, p->sequence);
  EXPECT_EQ(held->record.value, CidPath(1));
  EXPECT_GT(held->record.eol, p->eol + 3600 * kSec);
}

TEST_F(IpnsResolverTest, SettingsFromConfig) {
  Config c;
  c.raw = nlohmann::json::parse(R"({"ipns": {"routers": ["http://127.0.0.1:9/"], "publishers": ["http://127.0.0.1:8"],
      "max_cache_ttl": "1m", "serve_expired": true, "republish_period": "1h"},
      "dns": {"resolvers": {"example.org.": "http://127.0.0.1:7/dns-query", ".": "system"}}})");
  auto s = IpnsSettingsFromConfig(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->routers, std::vector<std::string>{"http://127.0.0.1:9"});
  EXPECT_EQ(s->max_cache_ttl_ms, 60000);
  EXPECT_TRUE(s->serve_expired);
  EXPECT_EQ(s->republish_period_ms, 3600000);
  EXPECT_EQ(s->dns_resolvers.at("example.org."), "http://127.0.0.1:7/dns-query");
  for (const char* bad : {R"({"ipns": {"routers": "x"}})", R"({"ipns": {"max_cache_ttl": "soon"}})",
                          R"({"ipns": {"republish_period": "10s"}})", R"({"dns": {"resolvers": {"x.": 5}}})"}) {
    c.raw = nlohmann::json::parse(bad);
    EXPECT_FALSE(IpnsSettingsFromConfig(c).ok()) << bad;
  }
}

}  // namespace
}  // namespace ipfskit
