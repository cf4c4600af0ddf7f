// DNS TXT lookups against real servers on loopback: dnsmasq for the zone data, FakeDnsServer for
// a server that fails on purpose, and FakeHttpServer as a DoH front that forwards to dnsmasq.
#include "core/ipns/dns.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "core/multiformats/multibase.h"
#include "core/source/http_client.h"
#include "tests/fakes/dnsmasq.h"
#include "tests/fakes/fake_dns_server.h"
#include "tests/fakes/fake_http_server.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using testing::Dnsmasq;
using testing::FakeDnsServer;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::ForwardDoh;
using testing::FreePort;

constexpr char kCidA[] = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
constexpr char kCidB[] = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";

std::shared_ptr<DnsResolver> Resolver(const std::string& spec,
                                      std::shared_ptr<HttpClient> http = nullptr) {
  auto r = MakeDnsResolver(spec, std::move(http));
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : nullptr;
}

// dnsmasq keeps quotes given on its command line and splits strings at commas.
std::string Dnslink(const std::string& cid) { return "dnslink=/ipfs/" + cid; }

// ---- wire format ----

TEST(DnsWire, QueryEncodesNameTypeAndId) {
  auto q = EncodeDnsQuery("_dnslink.Example.org.", kDnsTypeTxt, 0xBEEF);
  ASSERT_TRUE(q.ok());
  const std::string want = std::string("\xBE\xEF\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) +
                           "\x08_dnslink\x07"
                           "Example\x03org" +
                           std::string("\x00\x00\x10\x00\x01", 5);
  EXPECT_EQ(std::string(AsChars(*q)), want);
  for (const char* bad : {"", ".", "a..b", "a\\b", "a b", "x.\x01y"}) {
    auto r = EncodeDnsQuery(bad, kDnsTypeTxt, 0);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
  EXPECT_FALSE(EncodeDnsQuery(std::string(64, 'a') + ".org", kDnsTypeTxt, 0).ok());
  EXPECT_TRUE(EncodeDnsQuery(std::string(63, 'a') + ".org", kDnsTypeTxt, 0).ok());
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  EXPECT_FALSE(EncodeDnsQuery(long_name, kDnsTypeTxt, 0).ok());  // 256 bytes
}

// Builds a response to a one-question query by hand.
struct MsgBuilder {
  std::string m;
  explicit MsgBuilder(uint16_t flags = 0x8180, uint16_t an = 0) {
    m = std::string("\x12\x34", 2);
    Put16(flags);
    Put16(1);
    Put16(an);
    Put16(0);
    Put16(0);
    m += std::string("\x03one\x04test\x00\x00\x10\x00\x01", 14);  // the name is at offset 12
  }
  void Put16(uint16_t v) {
    m.push_back(static_cast<char>(v >> 8));
    m.push_back(static_cast<char>(v));
  }
  void Put32(uint32_t v) {
    Put16(static_cast<uint16_t>(v >> 16));
    Put16(static_cast<uint16_t>(v));
  }
  void Rr(const std::string& owner, uint16_t type, uint32_t ttl, const std::string& rdata) {
    m += owner;
    Put16(type);
    Put16(1);
    Put32(ttl);
    Put16(static_cast<uint16_t>(rdata.size()));
    m += rdata;
  }
  Result<DnsMessage> Parse() const { return ParseDnsResponse(AsBytes(m)); }
};
const std::string kPtr = std::string("\xC0\x0C", 2);

TEST(DnsWire, ParsesTxtJoinsStringsAndTakesMinTtl) {
  MsgBuilder b(0x8180, 3);
  // CNAME hop with a compressed target, then two TXT records at the target.
  b.Rr(kPtr, kDnsTypeCname, 50,
       std::string("\x03two", 4) + std::string("\xC0\x10", 2));  // two.test
  b.Rr(std::string("\x03two\xC0\x10", 6), kDnsTypeTxt, 300,
       std::string("\x03"
                   "abc\x02"
                   "de",
                   7));
  b.Rr(kPtr, kDnsTypeTxt, 0x80000001u, std::string("\x00", 1));  // top-bit TTL counts as 0
  auto m = b.Parse();
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->id, 0x1234);
  EXPECT_EQ(m->rcode, 0);
  EXPECT_FALSE(m->truncated);
  EXPECT_EQ(m->txt.records, (std::vector<std::string>{"abcde", ""}));
  EXPECT_EQ(m->txt.ttl_s, 0u);

  MsgBuilder c(0x8180, 2);
  c.Rr(kPtr, kDnsTypeCname, 50, kPtr);
  c.Rr(kPtr, kDnsTypeTxt, 300, "\x02hi");
  auto mc = c.Parse();
  ASSERT_TRUE(mc.ok());
  EXPECT_EQ(mc->txt.ttl_s, 50u);  // the CNAME hop's TTL is the smaller one
  EXPECT_EQ(mc->txt.records, std::vector<std::string>{"hi"});
}

TEST(DnsWire, RcodeAndTruncationFlags) {
  auto m = MsgBuilder(0x8383).Parse();  // TC + NXDOMAIN
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->rcode, 3);
  EXPECT_TRUE(m->truncated);
  EXPECT_TRUE(m->txt.records.empty());
}

TEST(DnsWire, RefusesMalformedMessages) {
  auto expect_malformed = [](const std::string& msg, const char* what) {
    auto r = ParseDnsResponse(AsBytes(msg));
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.error().code, Errc::kMalformed) << what;
  };
  expect_malformed(std::string("\x12\x34\x81", 3), "short header");
  expect_malformed(std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12), "QR clear");
  MsgBuilder b(0x8180, 1);
  expect_malformed(b.m, "missing answer");
  {
    MsgBuilder l(0x8180, 1);
    l.Rr(std::string("\xC0\x1A", 2), kDnsTypeTxt, 1, "\x01x");  // points at itself
    expect_malformed(l.m, "pointer loop");
  }
  {
    MsgBuilder f(0x8180, 1);
    f.Rr(std::string("\xC1\x00", 2), kDnsTypeTxt, 1, "\x01x");  // forward, past the end
    expect_malformed(f.m, "pointer out of range");
  }
  {
    MsgBuilder t(0x8180, 1);
    t.Rr(kPtr, kDnsTypeTxt, 1,
         "\x05"
         "abc");  // string longer than its rdata
    expect_malformed(t.m, "TXT overrun");
  }
  {
    MsgBuilder r(0x8180, 1);
    r.Rr(kPtr, kDnsTypeTxt, 1, "\x01x");
    r.m.resize(r.m.size() - 1);  // rdlength past the end
    expect_malformed(r.m, "rdata past the end");
  }
  {
    MsgBuilder q(0x8180, 0);
    q.m.resize(20);  // question cut off
    expect_malformed(q.m, "question cut off");
  }
  {
    MsgBuilder x(0x8180, 1);
    x.Rr(std::string("\x40", 1) + std::string(1, '\0'), kDnsTypeTxt, 1, "\x01x");
    expect_malformed(x.m, "reserved label type");
  }
}

// ---- DNSLink ----

TEST(Dnslink, ExactlyOneRecordCounts) {
  auto one =
      ParseDnslink("example.org", {"v=spf1 -all", std::string("dnslink=/ipfs/") + kCidA + "/sub"});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, std::string("/ipfs/") + kCidA + "/sub");
  auto ipns = ParseDnslink("example.org", {"dnslink=/ipns/other.org"});
  ASSERT_TRUE(ipns.ok());
  EXPECT_EQ(*ipns, "/ipns/other.org");

  auto none = ParseDnslink("example.org", {"dnslink=/foo/bar", "hello", "dnslink=/ipfs/"});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::kNotFound);
  EXPECT_EQ(none.error().message,
            "no DNSLink record found for example.org (TXT _dnslink.example.org)");

  auto two =
      ParseDnslink("example.org", {std::string("dnslink=/ipfs/") + kCidA, "dnslink=/ipns/x.org"});
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(two.error().message,
            "example.org has 2 DNSLink records; ask the domain owner to remove the duplicate TXT "
            "records");
}

// ---- c-ares against dnsmasq ----

class DnsmasqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dnsmasq_ = std::make_unique<Dnsmasq>(std::vector<std::string>{
        "_dnslink.one.test," + Dnslink(kCidA),
        "_dnslink.two.test," + Dnslink(kCidA),
        "_dnslink.two.test," + Dnslink(kCidB),
        "_dnslink.mixed.test,v=spf1 -all",
        "_dnslink.mixed.test," + Dnslink(kCidB),
        "multi.test,abc,def",
        "long.test," + std::string(300, 'x') + "," + std::string(300, 'y'),
    });
    resolver_ = Resolver(dnsmasq_->spec());
  }
  Result<std::string> DnslinkOf(const std::string& domain) {
    auto txt = resolver_->LookupTxt("_dnslink." + domain, 2s);
    if (!txt.ok()) return txt.error();
    return ParseDnslink(domain, txt->records);
  }
  std::unique_ptr<Dnsmasq> dnsmasq_;
  std::shared_ptr<DnsResolver> resolver_;
};

TEST_F(DnsmasqTest, OneDnslinkRecordWithItsTtl) {
  auto txt = resolver_->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_TRUE(txt.ok()) << txt.error().message;
  EXPECT_EQ(txt->records, std::vector<std::string>{std::string("dnslink=/ipfs/") + kCidA});
  EXPECT_EQ(txt->ttl_s, 77u);
  auto link = DnslinkOf("one.test");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(*link, std::string("/ipfs/") + kCidA);
  EXPECT_EQ(resolver_->Describe(), dnsmasq_->spec());
}

TEST_F(DnsmasqTest, TwoDnslinkRecordsNameTheDomain) {
  auto txt = resolver_->LookupTxt("_dnslink.two.test", 2s);
  ASSERT_TRUE(txt.ok()) << txt.error().message;
  EXPECT_EQ(txt->records.size(), 2u);
  auto link = DnslinkOf("two.test");
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.error().code, Errc::kInvalidArgument);
  EXPECT_NE(link.error().message.find("two.test has 2 DNSLink records"), std::string::npos)
      << link.error().message;
}

TEST_F(DnsmasqTest, OtherTxtBesideDnslinkIsIgnored) {
  auto txt = resolver_->LookupTxt("_dnslink.mixed.test", 2s);
  ASSERT_TRUE(txt.ok()) << txt.error().message;
  EXPECT_EQ(txt->records.size(), 2u);
  auto link = DnslinkOf("mixed.test");
  ASSERT_TRUE(link.ok()) << link.error().message;
  EXPECT_EQ(*link, std::string("/ipfs/") + kCidB);
}

TEST_F(DnsmasqTest, CharacterStringsAreJoinedAndLongAnswersComeOverTcp) {
  auto multi = resolver_->LookupTxt("multi.test", 2s);
  ASSERT_TRUE(multi.ok()) << multi.error().message;
  EXPECT_EQ(multi->records, std::vector<std::string>{"abcdef"});
  // 600 bytes split by dnsmasq into 255-byte strings; the answer is over 512 bytes, so UDP comes
  // back truncated and c-ares retries over TCP.
  auto big = resolver_->LookupTxt("long.test", 2s);
  ASSERT_TRUE(big.ok()) << big.error().message;
  ASSERT_EQ(big->records.size(), 1u);
  EXPECT_EQ(big->records[0], std::string(300, 'x') + std::string(300, 'y'));
}

TEST_F(DnsmasqTest, NxdomainIsNotFound) {
  auto r = resolver_->LookupTxt("_dnslink.missing.test", 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kNotFound) << r.error().message;
  EXPECT_NE(r.error().message.find("NXDOMAIN"), std::string::npos) << r.error().message;
  // dnsmasq without upstreams refuses names outside its zone.
  auto refused = resolver_->LookupTxt("example.org", 2s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kUnavailable) << refused.error().message;
}

TEST_F(DnsmasqTest, ZoneChangeSeenAfterRestart) {
  auto before = DnslinkOf("one.test");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, std::string("/ipfs/") + kCidA);
  dnsmasq_->Stop();
  dnsmasq_->Start({"_dnslink.one.test," + Dnslink(kCidB)}, 5);
  auto txt = resolver_->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_TRUE(txt.ok()) << txt.error().message;
  EXPECT_EQ(txt->ttl_s, 5u);
  ASSERT_EQ(txt->records.size(), 1u);
  EXPECT_EQ(*ParseDnslink("one.test", txt->records), std::string("/ipfs/") + kCidB);
}

TEST_F(DnsmasqTest, ConcurrentLookups) {
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = DnslinkOf(t % 2 ? "one.test" : "mixed.test");
        if (r.ok() && *r == std::string("/ipfs/") + (t % 2 ? kCidA : kCidB)) good.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 80);
}

TEST(DnsResolverSpec, BadSpecsNameThemselves) {
  for (const char* bad :
       {"udp://localhost:53", "udp://127.0.0.1", "udp://127.0.0.1:0", "udp://127.0.0.1:99999",
        "tcp://1.2.3.4:53", "https://", "", "udp://[::1]"}) {
    auto r = MakeDnsResolver(bad, std::make_shared<HttpClient>());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << bad;
    EXPECT_NE(r.error().message.find(std::string("\"") + bad + "\""), std::string::npos)
        << r.error().message;
  }
  auto doh_without_http = MakeDnsResolver("https://dns.example/dns-query", nullptr);
  EXPECT_FALSE(doh_without_http.ok());
  auto v6 = MakeDnsResolver("udp://[::1]:5353", nullptr);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ((*v6)->Describe(), "udp://[::1]:5353");
  auto bad_name = Resolver("udp://127.0.0.1:9")->LookupTxt("a..b", 1s);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.error().code, Errc::kInvalidArgument);
}

// ---- misbehaving servers ----

TEST(FakeDns, ServfailAndRefusedAreUnavailable) {
  FakeDnsServer server;
  auto r = Resolver(server.spec());
  for (int rcode : {2, 5}) {
    server.Set({FakeDnsServer::Mode::kAnswer, rcode, {}, 300});
    auto got = r->LookupTxt("_dnslink.x.test", 2s);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, Errc::kUnavailable) << got.error().message;
  }
  server.Set({FakeDnsServer::Mode::kAnswer, 3, {}, 300});
  auto nx = r->LookupTxt("_dnslink.x.test", 2s);
  ASSERT_FALSE(nx.ok());
  EXPECT_EQ(nx.error().code, Errc::kNotFound);
  server.Set({FakeDnsServer::Mode::kAnswer, 0, {}, 300});
  auto nodata = r->LookupTxt("_dnslink.x.test", 2s);
  ASSERT_TRUE(nodata.ok()) << nodata.error().message;
  EXPECT_TRUE(nodata->records.empty());
}

TEST(FakeDns, TtlIsTheMinimumAndStringsJoin) {
  FakeDnsServer server;
  server.Set({FakeDnsServer::Mode::kAnswer, 0, {{"dnslink=/ipfs/", kCidA}, {"other"}}, 42});
  auto got = Resolver(server.spec())->LookupTxt("_dnslink.x.test", 2s);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->ttl_s, 42u);
  EXPECT_EQ(got->records,
            (std::vector<std::string>{std::string("dnslink=/ipfs/") + kCidA, "other"}));
}

TEST(FakeDns, TruncatedUdpFallsBackToTcp) {
  FakeDnsServer server;
  server.Set({FakeDnsServer::Mode::kTruncate, 0, {{"dnslink=/ipfs/", kCidA}}, 60});
  auto got = Resolver(server.spec())->LookupTxt("_dnslink.x.test", 2s);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->records, std::vector<std::string>{std::string("dnslink=/ipfs/") + kCidA});
  EXPECT_GE(server.udp_queries(), 1);
  EXPECT_GE(server.tcp_queries(), 1);
}

TEST(FakeDns, BadAnswerIsMalformed) {
  FakeDnsServer server;
  server.Set({FakeDnsServer::Mode::kBadAnswer, 0, {}, 60});
  auto got = Resolver(server.spec())->LookupTxt("_dnslink.x.test", 2s);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::kMalformed) << got.error().message;
}

// Answers that do not match the query are dropped (as spoofing would be), so the lookup waits
// for a real one and ends at its deadline, never later.
TEST(FakeDns, SilentGarbageAndWrongIdTimeOutWithinTheDeadline) {
  for (auto mode : {FakeDnsServer::Mode::kSilent, FakeDnsServer::Mode::kGarbage,
                    FakeDnsServer::Mode::kWrongId}) {
    FakeDnsServer server;
    server.Set({mode, 0, {{"dnslink=/ipfs/", kCidA}}, 60});
    auto start = std::chrono::steady_clock::now();
    auto got = Resolver(server.spec())->LookupTxt("_dnslink.x.test", 400ms);
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(got.ok()) << static_cast<int>(mode);
    EXPECT_EQ(got.error().code, Errc::kTimeout) << got.error().message;
    EXPECT_GE(took, 350ms);
    EXPECT_LT(took, 900ms);
    EXPECT_GE(server.udp_queries(), 1);
  }
}

TEST(FakeDns, NothingListeningIsNotSlowerThanTheDeadline) {
  int port = FreePort();
  auto start = std::chrono::steady_clock::now();
  auto got = Resolver("udp://127.0.0.1:" + std::to_string(port))->LookupTxt("x.test", 300ms);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.error().code == Errc::kTimeout || got.error().code == Errc::kNetwork)
      << got.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 800ms);
}

// ---- DNS over HTTPS ----

FakeResponse Reply(int status, std::string content_type, std::string body) {
  FakeResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

class DohTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dnsmasq_ = std::make_unique<Dnsmasq>(
        std::vector<std::string>{"_dnslink.one.test," + Dnslink(kCidA)}, 33);
    server_ = std::make_unique<FakeHttpServer>([this](const FakeRequest& req) {
      FakeResponse (*override)(const FakeRequest&) = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu_);
        override = override_;
      }
      return override ? override(req) : ForwardDoh(req, dnsmasq_->port());
    });
  }
  void Override(FakeResponse (*f)(const FakeRequest&)) {
    std::lock_guard<std::mutex> lock(mu_);
    override_ = f;
  }
  std::shared_ptr<HttpClient> http_ = std::make_shared<HttpClient>();
  std::mutex mu_;
  FakeResponse (*override_)(const FakeRequest&) = nullptr;
  std::unique_ptr<Dnsmasq> dnsmasq_;
  std::unique_ptr<FakeHttpServer> server_;  // last: stopped first, while the rest still exists
};

TEST_F(DohTest, PostSendsTheWireQueryWithId0) {
  auto r = Resolver(server_->url() + "/dns-query", http_);
  auto txt = r->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_TRUE(txt.ok()) << txt.error().message;
  EXPECT_EQ(txt->records, std::vector<std::string>{std::string("dnslink=/ipfs/") + kCidA});
  EXPECT_EQ(txt->ttl_s, 33u);
  auto log = server_->log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].path, "/dns-query");
  EXPECT_EQ(log[0].headers["accept"], "application/dns-message");
  EXPECT_EQ(std::string(AsChars(*EncodeDnsQuery("_dnslink.one.test", kDnsTypeTxt, 0))),
            log[0].body);
  auto nx = r->LookupTxt("_dnslink.none.test", 2s);
  ASSERT_FALSE(nx.ok());
  EXPECT_EQ(nx.error().code, Errc::kNotFound) << nx.error().message;
}

TEST_F(DohTest, GetSendsBase64UrlWithoutPadding) {
  auto r = Resolver(server_->url() + "/dns-query#get", http_);
  EXPECT_EQ(r->Describe(), server_->url() + "/dns-query#get");
  auto txt = r->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_TRUE(txt.ok()) << txt.error().message;
  EXPECT_EQ(*ParseDnslink("one.test", txt->records), std::string("/ipfs/") + kCidA);
  auto log = server_->log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].body, "");
  std::string dns = log[0].Param("dns");
  EXPECT_EQ(dns.find_first_of("=+/"), std::string::npos) << dns;
  EXPECT_EQ(
      dns, EncodeBase(Multibase::kBase64Url, *EncodeDnsQuery("_dnslink.one.test", kDnsTypeTxt, 0)));
}

TEST_F(DohTest, WrongContentTypeIsAClearError) {
  Override([](const FakeRequest&) { return Reply(200, "application/json", "{\"Status\":0}"); });
  auto txt = Resolver(server_->url() + "/dns-query", http_)->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_FALSE(txt.ok());
  EXPECT_EQ(txt.error().code, Errc::kMalformed);
  EXPECT_NE(txt.error().message.find("application/json"), std::string::npos) << txt.error().message;
  EXPECT_NE(txt.error().message.find("expected application/dns-message"), std::string::npos);
}

TEST_F(DohTest, ServerErrorIsUnavailable) {
  Override([](const FakeRequest&) { return Reply(500, "text/plain", "boom"); });
  auto txt = Resolver(server_->url() + "/dns-query", http_)->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_FALSE(txt.ok());
  EXPECT_EQ(txt.error().code, Errc::kUnavailable);
  EXPECT_NE(txt.error().message.find("HTTP 500"), std::string::npos) << txt.error().message;
}

TEST_F(DohTest, StallTimesOutWithinTheDeadline) {
  Override([](const FakeRequest&) {
    FakeResponse r;
    r.mode = FakeResponse::Mode::kHang;
    return r;
  });
  auto start = std::chrono::steady_clock::now();
  auto txt = Resolver(server_->url() + "/dns-query", http_)->LookupTxt("_dnslink.one.test", 400ms);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(txt.ok());
  EXPECT_EQ(txt.error().code, Errc::kTimeout) << txt.error().message;
  EXPECT_LT(took, 1000ms);
  server_->Stop();  // releases the hanging handler before the fixture's members go
}

TEST_F(DohTest, TruncatedBodyIsAnError) {
  Override([](const FakeRequest&) {
    FakeResponse r = Reply(200, "application/dns-message", std::string(100, 'x'));
    r.mode = FakeResponse::Mode::kTruncate;
    r.truncate_at = 10;
    return r;
  });
  auto txt = Resolver(server_->url() + "/dns-query", http_)->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_FALSE(txt.ok());
  EXPECT_EQ(txt.error().code, Errc::kTruncated) << txt.error().message;
}

TEST_F(DohTest, GarbageBodyIsMalformed) {
  Override([](const FakeRequest&) { return Reply(200, "application/dns-message", "nope"); });
  auto txt = Resolver(server_->url() + "/dns-query", http_)->LookupTxt("_dnslink.one.test", 2s);
  ASSERT_FALSE(txt.ok());
  EXPECT_EQ(txt.error().code, Errc::kMalformed) << txt.error().message;
}

// ---- HttpClient bodies (used by DoH POST and by IPNS publishing with PUT) ----

TEST(HttpClientBody, PostAndPutSendTheBody) {
  FakeHttpServer server(
      [](const FakeRequest& req) { return Reply(200, "text/plain", req.method + ":" + req.body); });
  HttpClient http;
  std::string binary("a\0b\xff", 4);
  for (const char* method : {"POST", "PUT"}) {
    HttpRequest req;
    req.method = method;
    req.url = server.url() + "/x";
    req.headers.push_back("Content-Type: application/octet-stream");
    req.body = ToBytes(binary);
    auto r = http.Fetch(req);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(std::string(AsChars(r->body)), std::string(method) + ":" + binary);
  }
  HttpRequest empty_post;
  empty_post.method = "POST";
  empty_post.url = server.url() + "/y";
  auto r = http.Fetch(empty_post);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(AsChars(r->body)), "POST:");
  auto log = server.log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[1].headers["content-length"], "4");
  EXPECT_EQ(log[2].headers["content-length"], "0");

  HttpRequest get_with_body;
  get_with_body.url = server.url() + "/z";
  get_with_body.body = ToBytes("x");
  auto g = http.Fetch(get_with_body);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, Errc::kInvalidArgument);
}

// ---- resolver per suffix ----

TEST(DnsResolverSetTest, LongestSuffixWins) {
  Dnsmasq a({"_dnslink.x.eth.test," + Dnslink(kCidA), "_dnslink.x.sub.eth.test," + Dnslink(kCidA)});
  Dnsmasq b({"_dnslink.x.eth.test," + Dnslink(kCidB), "_dnslink.x.sub.eth.test," + Dnslink(kCidB)});
  FakeHttpServer doh([&](const FakeRequest& req) { return ForwardDoh(req, b.port()); });
  auto http = std::make_shared<HttpClient>();
  auto set = DnsResolverSet::FromConfig(
      {{"eth.test.", a.spec()}, {"sub.eth.test.", doh.url() + "/dns-query"}, {".", b.spec()}},
      http);
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->For("_dnslink.x.eth.test").Describe(), a.spec());
  EXPECT_EQ(set->For("_dnslink.X.SUB.eth.test.").Describe(), doh.url() + "/dns-query");
  EXPECT_EQ(set->For("eth.test").Describe(), a.spec());
  EXPECT_EQ(set->For("beth.test").Describe(), b.spec());  // whole labels only
  EXPECT_EQ(set->For("example.org").Describe(), b.spec());

  auto via = [&](const std::string& name) {
    auto txt = set->For(name).LookupTxt(name, 2s);
    EXPECT_TRUE(txt.ok()) << name << ": " << txt.error().message;
    return txt.ok() ? ParseDnslink(name, txt->records).value() : "";
  };
  EXPECT_EQ(via("_dnslink.x.eth.test"), std::string("/ipfs/") + kCidA);
  EXPECT_EQ(via("_dnslink.x.sub.eth.test"), std::string("/ipfs/") + kCidB);  // DoH → b
  EXPECT_EQ(doh.requests(), 1);

  auto no_default = DnsResolverSet::FromConfig({{"eth.", a.spec()}}, http);
  ASSERT_TRUE(no_default.ok());
  EXPECT_EQ(no_default->For("example.org").Describe(), "system");
  auto auto_default = DnsResolverSet::FromConfig({{".", "auto"}, {"x.", ""}}, http);
  ASSERT_TRUE(auto_default.ok());
  EXPECT_EQ(auto_default->For("example.org").Describe(), "system");
  EXPECT_EQ(auto_default->For("a.x").Describe(), "system");
}

TEST(DnsResolverSetTest, BadEntriesNameTheirKey) {
  auto http = std::make_shared<HttpClient>();
  auto bad_value = DnsResolverSet::FromConfig({{"eth.", "ftp://x"}}, http);
  ASSERT_FALSE(bad_value.ok());
  EXPECT_EQ(bad_value.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad_value.error().message.find("eth."), std::string::npos) << bad_value.error().message;
  EXPECT_NE(bad_value.error().message.find("ftp://x"), std::string::npos)
      << bad_value.error().message;
  auto bad_key = DnsResolverSet::FromConfig({{"eth", "system"}}, http);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad_key.error().message.find("\"eth\""), std::string::npos) << bad_key.error().message;
}

}  // namespace
}  // namespace ipfskit
