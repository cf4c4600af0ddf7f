// DNSLink through NameSys against real DNS servers on loopback: dnsmasq for the zone data (and
// zone changes: a restart on the same port with other records), a DoH front that forwards to it,
// FakeDnsServer for SERVFAIL and a server that never answers, and a delegated-routing fake for
// the IPNS hops of a chain. The cache is the repo's LMDB, reopened to check persistence.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "core/ipns/namesys.h"
#include "core/multiformats/cid.h"
#include "core/source/http_client.h"
#include "tests/fakes/dnsmasq.h"
#include "tests/fakes/fake_dns_server.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/fake_ipns_router.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using testing::Dnsmasq;
using testing::FakeDnsServer;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::Router;
using Clock = std::chrono::steady_clock;

constexpr int64_t kSec = 1000000000;

std::string CidPath(int n) {
  auto c = Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("dnslink content " + std::to_string(n)));
  return "/ipfs/" + c->ToString();
}
// A --txt-record for _dnslink.<domain>.
std::string Link(const std::string& domain, const std::string& path) {
  return "_dnslink." + domain + ",dnslink=" + path;
}

bool Eventually(const std::function<bool()>& ok, std::chrono::milliseconds limit = 5s) {
  for (auto until = Clock::now() + limit; !ok();) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

class DnslinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("ipfskit-dnslink");
    OpenRepo();
  }
  void TearDown() override {
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenRepo() {
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    repo_ = *r;
  }
  static IpnsSettings Settings(std::map<std::string, std::string> resolvers) {
    IpnsSettings s;
    s.dns_resolvers = std::move(resolvers);
    s.dns_timeout_ms = 1000;
    s.timeout_ms = 2000;
    s.grace_ms = 20;
    return s;
  }
  std::shared_ptr<NameSys> Open(IpnsSettings s) {
    auto ns = NameSys::Open(repo_, std::move(s));
    EXPECT_TRUE(ns.ok()) << ns.error().message;
    return ns.ok() ? *ns : nullptr;
  }
  std::shared_ptr<NameSys> Open(const std::string& spec) { return Open(Settings({{".", spec}})); }
  // The resolved /ipfs path, or "error: <message>".
  static std::string PathOf(NameSys& ns, const std::string& name, ResolveOptions o = {}) {
    auto r = ns.Resolve(name, o);
    return r.ok() ? r->path : "error: " + r.error().message;
  }
  std::string dir_;
  std::shared_ptr<Repo> repo_;
};

TEST_F(DnslinkTest, DomainResolvesWithTheRestOfThePathAppendedThenFromTheCache) {
  Dnsmasq dns({Link("one.test", CidPath(1)), Link("sub.test", CidPath(2) + "/docs")});
  auto ns = Open(dns.spec());
  auto r = ns->Resolve("/ipns/one.test/a/b");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->path, CidPath(1) + "/a/b");
  EXPECT_EQ(r->value, CidPath(1));
  EXPECT_TRUE(r->is_dnslink);
  EXPECT_EQ(r->source, "dns:" + dns.spec());
  EXPECT_FALSE(r->stale);
  EXPECT_EQ(ns->Stats().dnslink_lookups, 1u);
  // The same domain in other spellings, within the TTL (77 s): the cache, no query.
  for (std::string spelling : {"one.test", "ONE.Test.", "ipns://one.test/x"}) {
    auto again = ns->Resolve(spelling);
    ASSERT_TRUE(again.ok()) << spelling << ": " << again.error().message;
    EXPECT_EQ(again->source, "cache:dns") << spelling;
    EXPECT_EQ(again->path.substr(0, CidPath(1).size()), CidPath(1)) << spelling;
  }
  EXPECT_EQ(PathOf(*ns, "ipns://one.test/x"), CidPath(1) + "/x");
  EXPECT_EQ(ns->Stats().dnslink_lookups, 1u);
  EXPECT_EQ(ns->Stats().cache_hits, 4u);
  // A DNSLink value with a path of its own keeps it, and the rest goes after it.
  EXPECT_EQ(PathOf(*ns, "/ipns/sub.test/index.html"), CidPath(2) + "/docs/index.html");
  auto names = ns->RecentNames();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), (std::set<std::string>{"one.test", "sub.test"}));
}

TEST_F(DnslinkTest, TwoRecordsAreAnErrorNamingTheDomainAndOtherTxtIsIgnored) {
  Dnsmasq dns({Link("two.test", CidPath(1)), Link("two.test", CidPath(2)), "_dnslink.mixed.test,v=spf1 -all",
               Link("mixed.test", CidPath(3)), "_dnslink.mixed.test,dnslink=/foo/bar"});
  auto ns = Open(dns.spec());
  auto two = ns->Resolve("/ipns/two.test");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, Errc::kInvalidArgument);
  EXPECT_NE(two.error().message.find("two.test has 2 DNSLink records"), std::string::npos) << two.error().message;
  EXPECT_EQ(PathOf(*ns, "mixed.test"), CidPath(3));
}

TEST_F(DnslinkTest, DnsOverHttpsPostAndGet) {
  Dnsmasq dns({Link("doh.test", CidPath(5))}, 40);
  FakeHttpServer doh([&](const FakeRequest& req) { return testing::ForwardDoh(req, dns.port()); });
  for (const std::string suffix : {"", "#get"}) {
    SCOPED_TRACE(suffix);
    auto ns = Open(doh.url() + "/dns-query" + suffix);
    int before = doh.requests();
    auto r = ns->Resolve("doh.test/f", {.recursive = true, .nocache = true});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->path, CidPath(5) + "/f");
    EXPECT_EQ(r->source, "dns:" + doh.url() + "/dns-query" + suffix);
    EXPECT_EQ(doh.requests(), before + 1);
    EXPECT_EQ(doh.log().back().method, suffix.empty() ? "POST" : "GET");
    auto nx = ns->Resolve("missing.test");
    ASSERT_FALSE(nx.ok());
    EXPECT_EQ(nx.error().code, Errc::kNotFound) << nx.error().message;
  }
}

struct TestKey {
  PrivateKey priv = *PrivateKey::Generate(KeyType::kEd25519);
  IpnsName name = IpnsName::FromPublicKey(priv.Public());
  std::string Record(const std::string& value, uint64_t seq) const {
    IpnsRecordParams p;
    p.value = value;
    p.sequence = seq;
    p.eol = NowUnixNanos() + 3600 * kSec;
    p.ttl_ns = 3600ull * kSec;
    auto r = CreateIpnsRecord(priv, p);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return std::string(r->begin(), r->end());
  }
};

TEST_F(DnslinkTest, ChainsThroughAnIpnsRecordAndAnotherDomain) {
  TestKey k;
  Router router;
  router.Set(k.name, k.Record(CidPath(7) + "/site", 3));
  // a.test → /ipns/b.test/www → /ipns/<k51…> (+ /www) → /ipfs/<cid>/site/www
  Dnsmasq dns({Link("a.test", "/ipns/b.test/www"), Link("b.test", "/ipns/" + k.name.ToString()),
               Link("rec.test", "/ipns/" + k.name.ToString() + "/x")});
  IpnsSettings s = Settings({{".", dns.spec()}});
  s.routers = {router.url()};
  auto ns = Open(s);
  auto r = ns->Resolve("/ipns/a.test/page.html");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->path, CidPath(7) + "/site/www/page.html");
  EXPECT_EQ(r->value, "/ipns/b.test/www");  // the first hop's
  EXPECT_TRUE(r->is_dnslink);
  EXPECT_EQ(router.gets.load(), 1);
  EXPECT_EQ(ns->Stats().dnslink_lookups, 2u);
  auto rec = ns->Resolve("rec.test");
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  EXPECT_EQ(rec->path, CidPath(7) + "/site/x");
  EXPECT_EQ(router.gets.load(), 1);  // the record came from the cache
  // One hop only (Kubo's -r=false): the value, not followed.
  EXPECT_EQ(PathOf(*ns, "a.test/p", {.recursive = false}), "/ipns/b.test/www/p");
  // A chain whose record is nowhere is "not found", naming the name.
  TestKey missing;
  Dnsmasq dns2({Link("dangling.test", "/ipns/" + missing.name.ToString())});
  IpnsSettings s2 = Settings({{".", dns2.spec()}});
  s2.routers = {router.url()};
  auto ns2 = Open(s2);
  auto dangling = ns2->Resolve("dangling.test");
  ASSERT_FALSE(dangling.ok());
  EXPECT_EQ(dangling.error().code, Errc::kNotFound) << dangling.error().message;
  EXPECT_NE(dangling.error().message.find(missing.name.ToString()), std::string::npos) << dangling.error().message;
}

TEST_F(DnslinkTest, LoopEndsWithAnErrorAfterAtMost32HopsAndFast) {
  Dnsmasq dns({Link("loop-a.test", "/ipns/loop-b.test"), Link("loop-b.test", "/ipns/loop-a.test/x"),
               Link("self.test", "/ipns/self.test")});
  auto ns = Open(dns.spec());
  for (const char* name : {"loop-a.test", "self.test"}) {
    SCOPED_TRACE(name);
    auto start = Clock::now();
    auto r = ns->Resolve(name);
    auto took = Clock::now() - start;
    ASSERT_FALSE(r.ok()) << r->path;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << r.error().message;
    EXPECT_NE(r.error().message.find("32"), std::string::npos) << r.error().message;
    EXPECT_LT(took, 2s);
  }
  // Each domain was asked once; the other hops came from the cache.
  EXPECT_EQ(ns->Stats().dnslink_lookups, 3u);
  EXPECT_LE(ns->Stats().cache_hits, 64u);
}

TEST_F(DnslinkTest, NxdomainOrNoDnslinkTxtIsNotFoundAndDropsTheCachedValue) {
  Dnsmasq dns({Link("gone.test", CidPath(1)), Link("emptied.test", CidPath(2)), Link("kept.test", CidPath(3))});
  auto ns = Open(dns.spec());
  EXPECT_EQ(PathOf(*ns, "gone.test"), CidPath(1));
  EXPECT_EQ(PathOf(*ns, "emptied.test"), CidPath(2));
  EXPECT_EQ(PathOf(*ns, "kept.test"), CidPath(3));
  // gone.test disappears (NXDOMAIN); emptied.test keeps only an unrelated TXT.
  dns.Stop();
  dns.Start({"_dnslink.emptied.test,v=spf1 -all", Link("kept.test", CidPath(3))});
  for (const char* name : {"gone.test", "emptied.test"}) {
    SCOPED_TRACE(name);
    auto r = ns->Resolve(name, {.recursive = true, .nocache = true});
    ASSERT_FALSE(r.ok()) << r->path;
    EXPECT_EQ(r.error().code, Errc::kNotFound) << r.error().message;
    EXPECT_NE(r.error().message.find(name), std::string::npos) << r.error().message;
  }
  // The entries are gone: the offline cache no longer has them, nor `ls /ipns`; kept.test stays.
  IpnsSettings off = Settings({{".", dns.spec()}});
  off.offline = true;
  auto offline = Open(off);
  EXPECT_EQ(offline->Resolve("gone.test").error().code, Errc::kNotFound);
  EXPECT_EQ(offline->Resolve("emptied.test").error().code, Errc::kNotFound);
  EXPECT_EQ(PathOf(*offline, "kept.test"), CidPath(3));
  auto names = ns->RecentNames();
  EXPECT_EQ(names, std::vector<std::string>{"kept.test"});
  // Unknown from the start: not found too, and nothing is cached.
  auto never = ns->Resolve("never.test");
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.error().code, Errc::kNotFound) << never.error().message;
}

TEST_F(DnslinkTest, NxdomainFoundByABackgroundRefreshDropsTheValueToo) {
  Dnsmasq dns({Link("gone.test", CidPath(1))}, 1);
  auto ns = Open(dns.spec());
  EXPECT_EQ(PathOf(*ns, "gone.test"), CidPath(1));
  dns.Stop();
  dns.Start({}, 1);
  std::this_thread::sleep_for(1100ms);
  auto stale = ns->Resolve("gone.test");  // past its TTL: served, and a refresh runs
  ASSERT_TRUE(stale.ok()) << stale.error().message;
  EXPECT_TRUE(stale->stale);
  EXPECT_TRUE(Eventually([&] {
    auto r = ns->Resolve("gone.test");
    return !r.ok() && r.error().code == Errc::kNotFound;
  })) << PathOf(*ns, "gone.test");
}

TEST_F(DnslinkTest, ServfailOrAStalledServerServesTheLastValue) {
  FakeDnsServer server;
  server.Set({FakeDnsServer::Mode::kAnswer, 0, {{"dnslink=" + CidPath(4)}, {"unrelated"}}, 1});
  IpnsSettings s = Settings({{".", server.spec()}});
  s.dns_timeout_ms = 400;
  auto ns = Open(s);
  auto first = ns->Resolve("flaky.test/p");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->path, CidPath(4) + "/p");
  EXPECT_EQ(first->source, "dns:" + server.spec());

  // Nothing cached and SERVFAIL: an error that says what happened, not "not found".
  server.Set({FakeDnsServer::Mode::kAnswer, 2, {}, 1});
  auto uncached = ns->Resolve("other.test");
  ASSERT_FALSE(uncached.ok());
  EXPECT_EQ(uncached.error().code, Errc::kUnavailable) << uncached.error().message;
  EXPECT_NE(uncached.error().message.find(server.spec()), std::string::npos) << uncached.error().message;

  // SERVFAIL with a value held: stale-if-error, asked and waited for (nocache) and past the TTL.
  int queries = server.udp_queries();
  auto sf = ns->Resolve("flaky.test/p", {.recursive = true, .nocache = true});
  ASSERT_TRUE(sf.ok()) << sf.error().message;
  EXPECT_EQ(sf->path, CidPath(4) + "/p");
  EXPECT_TRUE(sf->stale);
  EXPECT_EQ(sf->source, "cache:dns");
  EXPECT_GT(server.udp_queries(), queries);  // the server was asked
  std::this_thread::sleep_for(1100ms);
  auto past_ttl = ns->Resolve("flaky.test");
  ASSERT_TRUE(past_ttl.ok()) << past_ttl.error().message;
  EXPECT_EQ(past_ttl->path, CidPath(4));
  EXPECT_TRUE(past_ttl->stale);

  // A server that never answers: the same, within the DNS timeout.
  server.Set({FakeDnsServer::Mode::kSilent, 0, {}, 1});
  auto start = Clock::now();
  auto stalled = ns->Resolve("flaky.test", {.recursive = true, .nocache = true});
  auto took = Clock::now() - start;
  ASSERT_TRUE(stalled.ok()) << stalled.error().message;
  EXPECT_EQ(stalled->path, CidPath(4));
  EXPECT_TRUE(stalled->stale);
  EXPECT_GE(took, 350ms);
  EXPECT_LT(took, 2s);
  EXPECT_GE(ns->Stats().stale_serves, 3u);
  EXPECT_GE(ns->Stats().resolutions["dns:error"], 2u);

  // And when the server is back, the value is fresh again.
  server.Set({FakeDnsServer::Mode::kAnswer, 0, {{"dnslink=" + CidPath(5)}}, 60});
  auto back = ns->Resolve("flaky.test", {.recursive = true, .nocache = true});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->path, CidPath(5));
  EXPECT_FALSE(back->stale);
}

TEST_F(DnslinkTest, ServfailWithoutDnsMaxStaleLeftIsAnError) {
  FakeDnsServer server;
  server.Set({FakeDnsServer::Mode::kAnswer, 0, {{"dnslink=" + CidPath(4)}}, 1});
  IpnsSettings s = Settings({{".", server.spec()}});
  s.dns_max_stale_ms = 300;
  auto ns = Open(s);
  EXPECT_EQ(PathOf(*ns, "flaky.test"), CidPath(4));
  server.Set({FakeDnsServer::Mode::kAnswer, 2, {}, 1});
  std::this_thread::sleep_for(400ms);
  auto r = ns->Resolve("flaky.test", {.recursive = true, .nocache = true});
  ASSERT_FALSE(r.ok()) << r->path;
  EXPECT_EQ(r.error().code, Errc::kUnavailable) << r.error().message;
}

TEST_F(DnslinkTest, ZoneChangeIsSeenAfterTheTtlOldValueFirstThenTheNewOne) {
  Dnsmasq dns({Link("ttl.test", CidPath(1))}, 1);
  auto ns = Open(dns.spec());
  std::mutex mu;
  std::vector<std::string> changed;
  ns->SetOnChange([&](const std::string& name) {
    std::lock_guard lk(mu);
    changed.push_back(name);
  });
  auto first = ns->Resolve("ttl.test");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->path, CidPath(1));
  auto received = Clock::now();
  dns.Stop();
  dns.Start({Link("ttl.test", CidPath(2))}, 1);
  // Within the TTL the cache answers (if the restart took longer, it is served stale: old too).
  if (Clock::now() - received < 900ms) {
    auto fresh = ns->Resolve("ttl.test");
    ASSERT_TRUE(fresh.ok());
    EXPECT_EQ(fresh->path, CidPath(1));
    EXPECT_EQ(fresh->source, "cache:dns");
  }
  std::this_thread::sleep_until(received + 1100ms);
  // Past the TTL: the old value at once (stale-while-revalidate), then the new one.
  auto start = Clock::now();
  auto stale = ns->Resolve("ttl.test");
  auto took = Clock::now() - start;
  ASSERT_TRUE(stale.ok()) << stale.error().message;
  EXPECT_EQ(stale->path, CidPath(1));
  EXPECT_TRUE(stale->stale);
  EXPECT_LT(took, 200ms);
  EXPECT_TRUE(Eventually([&] { return PathOf(*ns, "ttl.test") == CidPath(2); }, 3s)) << PathOf(*ns, "ttl.test");
  EXPECT_GE(ns->Stats().refreshes, 1u);
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard lk(mu);
    return std::find(changed.begin(), changed.end(), "ttl.test") != changed.end();
  }));
  ns->SetOnChange(nullptr);
}

// A second dnslink TXT added later is the domain's answer (an error), as it is on a first
// lookup: neither a background refresh nor a foreground one keeps serving the old value.
TEST_F(DnslinkTest, ADuplicateRecordAddedLaterIsAnErrorNotTheOldValueForever) {
  for (bool nocache : {false, true}) {
    SCOPED_TRACE(nocache);
    const std::string domain = nocache ? "dup-nocache.test" : "dup.test";
    Dnsmasq dns({Link(domain, CidPath(1))}, 1);
    auto ns = Open(dns.spec());
    EXPECT_EQ(PathOf(*ns, domain), CidPath(1));
    auto received = Clock::now();
    dns.Stop();
    dns.Start({Link(domain, CidPath(1)), Link(domain, CidPath(2))}, 1);
    std::this_thread::sleep_until(received + 1100ms);
    auto is_duplicate_error = [&](ResolveOptions o) {
      auto r = ns->Resolve(domain, o);
      return !r.ok() && r.error().code == Errc::kInvalidArgument &&
             r.error().message.find(domain + " has 2 DNSLink records") != std::string::npos;
    };
    if (nocache) {
      EXPECT_TRUE(is_duplicate_error({.recursive = true, .nocache = true}));
    } else {
      EXPECT_EQ(PathOf(*ns, domain), CidPath(1));  // stale-while-revalidate: the old value first
    }
    // Then the error, also without --nocache (the cached value is not served again).
    EXPECT_TRUE(Eventually([&] { return is_duplicate_error({}); }, 3s)) << PathOf(*ns, domain);
  }
}

TEST_F(DnslinkTest, OfflineServesTheCachedValueAndANewProcessFindsItWithEveryResolverDead) {
  {
    Dnsmasq dns({Link("site.test", CidPath(8)), Link("chain.test", "/ipns/site.test/sub")}, 1);
    auto ns = Open(dns.spec());
    EXPECT_EQ(PathOf(*ns, "chain.test/f"), CidPath(8) + "/sub/f");
    ns->Shutdown();
  }  // dnsmasq is gone; the values are past their TTL (1 s) soon
  std::this_thread::sleep_for(1100ms);
  IpnsSettings off = Settings({{".", "udp://127.0.0.1:9"}});
  off.offline = true;
  auto offline = Open(off);
  auto r = offline->Resolve("chain.test/f");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->path, CidPath(8) + "/sub/f");
  EXPECT_EQ(r->source, "cache:dns");
  EXPECT_EQ(offline->Stats().dnslink_lookups, 0u);
  EXPECT_EQ(offline->Resolve("unknown.test").error().code, Errc::kNotFound);
  offline.reset();

  // A new repo handle (as another process would open it), every resolver dead.
  repo_.reset();
  OpenRepo();
  IpnsSettings dead = Settings({{".", "udp://127.0.0.1:" + std::to_string(testing::FreePort())},
                                {"test.", "http://127.0.0.1:1/dns-query"}});
  dead.dns_timeout_ms = 300;
  auto ns = Open(dead);
  for (bool nocache : {false, true}) {
    auto got = ns->Resolve("/ipns/chain.test/f", {.recursive = true, .nocache = nocache});
    ASSERT_TRUE(got.ok()) << nocache << ": " << got.error().message;
    EXPECT_EQ(got->path, CidPath(8) + "/sub/f");
    EXPECT_TRUE(got->stale);
    EXPECT_EQ(got->value, "/ipns/site.test/sub");
  }
  EXPECT_GE(ns->Stats().resolutions["dns:error"], 1u);  // it did try
}

TEST_F(DnslinkTest, TheLongestMatchingSuffixPicksTheResolver) {
  Dnsmasq for_example({Link("site.example", CidPath(1)), Link("site.test", CidPath(2))});
  Dnsmasq for_rest({Link("site.example", CidPath(3)), Link("site.test", CidPath(4)),
                    Link("www.notexample", CidPath(5))});
  auto ns = Open(Settings({{"example.", for_example.spec()}, {".", for_rest.spec()}}));
  auto ex = ns->Resolve("site.example");
  ASSERT_TRUE(ex.ok()) << ex.error().message << "\n" << for_example.Log();
  EXPECT_EQ(ex->path, CidPath(1));
  EXPECT_EQ(ex->source, "dns:" + for_example.spec());
  auto rest = ns->Resolve("site.test");
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_EQ(rest->path, CidPath(4));
  EXPECT_EQ(rest->source, "dns:" + for_rest.spec());
  // Whole labels: "notexample" is not under "example.".
  EXPECT_EQ(PathOf(*ns, "www.notexample"), CidPath(5));
  // With the specific resolver dead, its domains fail (no fallback to "."); the rest still work.
  for_example.Stop();
  auto dead = ns->Resolve("other.example");
  ASSERT_FALSE(dead.ok());
  EXPECT_NE(dead.error().message.find(for_example.spec()), std::string::npos) << dead.error().message;
  EXPECT_EQ(PathOf(*ns, "site.test/x", {.recursive = true, .nocache = true}), CidPath(4) + "/x");
}

TEST_F(DnslinkTest, SettingsFromConfigReadDnsResolvers) {
  Config c;
  c.raw = nlohmann::json::parse(R"({"dns": {"resolvers": {".": "udp://127.0.0.1:5353"}, "timeout_ms": 700},
                                    "ipns": {"dns_max_stale": "2h"}})");
  auto s = IpnsSettingsFromConfig(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->dns_resolvers, (std::map<std::string, std::string>{{".", "udp://127.0.0.1:5353"}}));
  EXPECT_EQ(s->dns_timeout_ms, 700);
  EXPECT_EQ(s->dns_max_stale_ms, 2 * 3600 * 1000);
  Config bad;
  bad.raw = nlohmann::json::parse(R"({"dns": {"resolvers": {"example": "system"}}})");
  auto settings = IpnsSettingsFromConfig(bad);
  ASSERT_TRUE(settings.ok());  // checked when the NameSys opens
  auto ns = NameSys::Open(repo_, *settings);
  ASSERT_FALSE(ns.ok());
  EXPECT_NE(ns.error().message.find("\"example\""), std::string::npos) << ns.error().message;
}

}  // namespace
}  // namespace ipfskit
