// The Pinning Services API (core/serve/pinning_handler.h, pinning_service.h) over a real
// HttpServer on 127.0.0.1, driven by libcurl, with DAGs served by fake trustless gateways on
// 127.0.0.1. Covers what the pinning-service-compliance suite checks (no token, invalid token,
// POST of a CID, create then delete, list in every state, replace, create with a name,
// pagination, delete everything created) plus the service's own contracts: background fetch
// through the source chain, repo pins, failure reasons, persistence and bounds.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/cache/arc_block_cache.h"
#include "core/ipns/record.h"
#include "core/serve/http_server.h"
#include "core/serve/pinning_handler.h"
#include "core/serve/pinning_service.h"
#include "core/source/gateway.h"
#include "core/source/http_client.h"
#include "core/source/source_chain.h"
#include "core/store/repo.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/test_dag.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::MemoryBlocks;
using testing::RandomBytes;

const std::string kToken = "s3cret-token-for-tests";

struct Reply {
  int code = 0;
  std::string body;
  json j;  // parsed body (null when empty or not JSON)
};

Reply Call(const std::string& method, const std::string& url, const std::string& body = "",
           const std::string& token = kToken) {
  Reply r;
  CURL* h = curl_easy_init();
  if (!h) return r;
  curl_slist* headers = nullptr;
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  auto collect = +[](char* data, size_t size, size_t n, void* out) -> size_t {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  };
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  if (method == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(h) == CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    r.code = static_cast<int>(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  r.j = json::parse(r.body, nullptr, false);
  if (r.j.is_discarded()) r.j = nullptr;
  return r;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The spec's schemas, checked field by field.
void ExpectFailure(const Reply& r, int code) {
  EXPECT_EQ(r.code, code) << r.body;
  ASSERT_TRUE(r.j.is_object()) << r.body;
  ASSERT_TRUE(r.j.contains("error") && r.j["error"].is_object()) << r.body;
  EXPECT_TRUE(r.j["error"]["reason"].is_string()) << r.body;
  EXPECT_FALSE(r.j["error"]["reason"].get<std::string>().empty());
}

void ExpectPinStatus(const json& s) {
  ASSERT_TRUE(s.is_object()) << s.dump();
  EXPECT_TRUE(s["requestid"].is_string() && !s["requestid"].get<std::string>().empty()) << s.dump();
  ASSERT_TRUE(s["status"].is_string()) << s.dump();
  EXPECT_TRUE(ParsePinState(s["status"].get<std::string>()).has_value()) << s.dump();
  ASSERT_TRUE(s["created"].is_string()) << s.dump();
  EXPECT_TRUE(ParseRfc3339(s["created"].get<std::string>()).ok()) << s.dump();
  ASSERT_TRUE(s["pin"].is_object() && s["pin"]["cid"].is_string()) << s.dump();
  ASSERT_TRUE(s["delegates"].is_array()) << s.dump();
  EXPECT_GE(s["delegates"].size(), 1u);
  for (const auto& d : s["delegates"]) EXPECT_EQ(d.get<std::string>().substr(0, 1), "/");
  if (s.contains("info")) {
    ASSERT_TRUE(s["info"].is_object());
    for (const auto& [k, v] : s["info"].items()) EXPECT_TRUE(v.is_string()) << k;
  }
}

void ExpectPinResults(const Reply& r) {
  EXPECT_EQ(r.code, 200) << r.body;
  ASSERT_TRUE(r.j.is_object()) << r.body;
  ASSERT_TRUE(r.j["count"].is_number_integer()) << r.body;
  ASSERT_TRUE(r.j["results"].is_array()) << r.body;
  EXPECT_LE(r.j["results"].size(), 1000u);
  for (const auto& s : r.j["results"]) ExpectPinStatus(s);
}

// A trustless gateway on 127.0.0.1 with the blocks of `blocks`, each answer after `delay`; while
// `hold` is set, answers wait (up to 20 s) until it is cleared.
struct FakeGateway {
  MemoryBlocks blocks;
  std::atomic<int> delay_ms{0};
  std::atomic<bool> hold{false};
  std::atomic<int> served{0};
  FakeHttpServer server{[this](const FakeRequest& req) { return Serve(req); }};

  static FakeResponse NotFound() {
    FakeResponse r;
    r.status = 404;
    return r;
  }
  FakeResponse Serve(const FakeRequest& req) {
    for (int i = 0; hold.load() && i < 2000; ++i) std::this_thread::sleep_for(10ms);
    if (int d = delay_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(d));
    FakeResponse r;
    if (req.path.rfind("/ipfs/", 0) != 0) return NotFound();
    auto cid = Cid::Parse(req.path.substr(6));
    if (!cid.ok()) return NotFound();
    auto b = blocks.Get(*cid);
    if (!b.ok()) return NotFound();
    r.content_type = "application/vnd.ipld.raw";
    r.body.assign(reinterpret_cast<const char*>(b->data().data()), b->size());
    served.fetch_add(1);
    return r;
  }
  std::string multiaddr() const { return "/ip4/127.0.0.1/tcp/" + std::to_string(server.port()) + "/http"; }
};

class PinningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("ipfskit-pinning");
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    repo_ = *r;
    http_ = std::make_shared<HttpClient>();
    RemoteOptions ro;
    ro.request_timeout = 3s;
    ro.connect_timeout = 1s;
    ro.backoff_base = 1ms;
    ro.backoff_max = 1ms;
    ChainOptions co;
    co.overall_timeout = 4s;
    co.max_rounds = 1;
    co.prefetch_workers = 0;
    std::vector<std::shared_ptr<RemoteSource>> remotes{std::make_shared<GatewaySource>(gw_.server.url(), http_, ro)};
    // With the ARC cache in the repo's environment, as `ipfskit serve` has it: fetched blocks go
    // through the cache's write transactions while the service writes the repo's.
    auto cache = ArcBlockCache::Open(repo_, ArcCacheOptions{});
    ASSERT_TRUE(cache.ok()) << cache.error().message;
    chain_ = std::make_shared<SourceChain>(repo_, *cache, remotes, co);
  }
  void TearDown() override {
    StopService();
    chain_.reset();
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartService(PinningOptions po = {}, size_t max_body = 64 << 10) {
    auto s = PinningService::Open(repo_, chain_, po);
    ASSERT_TRUE(s.ok()) << s.error().message;
    service_ = std::move(*s);
    service_->Start();
    PinningApiOptions ao;
    ao.tokens = {"another-token", kToken};
    ao.delegates = {"/ip4/127.0.0.1/tcp/8080/http"};
    handler_ = std::make_unique<PinningHandler>(*service_, ao);
    PrefixRouter router;
    AddPinningRoutes(router, *handler_);
    HttpServerOptions so;
    so.port = 0;
    so.max_body = max_body;
    so.methods = {"GET", "HEAD", "POST", "DELETE"};
    server_ = std::make_unique<HttpServer>(so, router);
    ASSERT_TRUE(server_->Start().ok());
    url_ = "http://" + server_->address();
  }
  void StopService() {
    server_.reset();
    handler_.reset();
    if (service_) service_->Stop();
    service_.reset();
  }

  // Imports `n` random bytes as a UnixFS DAG into `into`.
  Cid MakeDag(size_t n, uint32_t seed, MemoryBlocks* into) {
    return testing::ImportFileDag(RandomBytes(n, seed), into, 1024, 8);
  }
  // Stores every block of `mem` in the repo (so a pin of it needs no network).
  void StoreLocal(const MemoryBlocks& mem) {
    for (const auto& [cid, data] : mem.blocks()) ASSERT_TRUE(repo_->Put(cid, data, true).ok());
  }
  Reply Post(const json& pin, const std::string& path = "/pins") { return Call("POST", url_ + path, pin.dump()); }
  Reply Get(const std::string& path) { return Call("GET", url_ + path); }
  // Polls GET /pins/{id} until its status is `want` (or the time runs out); the last status.
  json WaitStatus(const std::string& id, const std::string& want, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = Get("/pins/" + id);
      last = r.j;
      if (r.code == 200 && r.j["status"] == want) return r.j;
      std::this_thread::sleep_for(20ms);
    }
    return last;
  }
  size_t CountAll() {
    auto r = Get("/pins?status=queued,pinning,pinned,failed&limit=1000");
    return r.j.is_object() ? r.j["count"].get<size_t>() : size_t(-1);
  }

  std::string dir_;
  FakeGateway gw_;
  std::shared_ptr<Repo> repo_;
  std::shared_ptr<HttpClient> http_;
  std::shared_ptr<SourceChain> chain_;
  std::unique_ptr<PinningService> service_;
  std::unique_ptr<PinningHandler> handler_;
  std::unique_ptr<HttpServer> server_;
  std::string url_;
};

TEST(PinningFormats, HttpMultiaddrs) {
  EXPECT_EQ(HttpMultiaddrToUrl("/ip4/127.0.0.1/tcp/8080/http"), "http://127.0.0.1:8080");
  EXPECT_EQ(HttpMultiaddrToUrl("/dns4/gw.example/tcp/443/https"), "https://gw.example:443");
  EXPECT_EQ(HttpMultiaddrToUrl("/ip6/::1/tcp/80/http/p2p/QmX"), "http://[::1]:80");
  EXPECT_EQ(HttpMultiaddrToUrl("/dns/gw.example/tcp/443/tls/http"), "https://gw.example:443");
  for (const char* bad : {"/ip4/1.2.3.4/tcp/4001", "/ip4/1.2.3.4/udp/4001/quic", "/p2p/QmX", "/ip4/1.2.3.4/tcp/99999/http",
                          "/dnsaddr/x.example", "http://1.2.3.4", "/ip4/a b/tcp/1/http"})
    EXPECT_FALSE(HttpMultiaddrToUrl(bad)) << bad;
}

TEST_F(PinningTest, NoTokenOrWrongTokenIs401AndChangesNothing) {
  StartService();
  MemoryBlocks mem;
  Cid c = MakeDag(3000, 1, &mem);
  StoreLocal(mem);
  auto ok = Post({{"cid", c.ToString()}});
  ASSERT_EQ(ok.code, 202) << ok.body;
  std::string id = ok.j["requestid"];
  for (const std::string& token : std::vector<std::string>{"", "wrong", kToken + "x", kToken.substr(0, 5)}) {
    SCOPED_TRACE("token '" + token + "'");
    ExpectFailure(Call("GET", url_ + "/pins", "", token), 401);
    ExpectFailure(Call("GET", url_ + "/pins/" + id, "", token), 401);
    ExpectFailure(Call("POST", url_ + "/pins", json{{"cid", c.ToString()}}.dump(), token), 401);
    ExpectFailure(Call("POST", url_ + "/pins/" + id, json{{"cid", c.ToString()}}.dump(), token), 401);
    ExpectFailure(Call("DELETE", url_ + "/pins/" + id, "", token), 401);
  }
  // A scheme other than Bearer is no token either.
  {
    CURL* h = curl_easy_init();
    curl_slist* hs = curl_slist_append(nullptr, ("Authorization: Basic " + kToken).c_str());
    std::string url = url_ + "/pins";
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    ASSERT_EQ(curl_easy_perform(h), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    EXPECT_EQ(code, 401);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
  }
  EXPECT_EQ(CountAll(), 1u);
  EXPECT_EQ(Get("/pins/" + id).code, 200);
  // Either configured token works.
  EXPECT_EQ(Call("GET", url_ + "/pins", "", "another-token").code, 200);
}

TEST_F(PinningTest, SlowGatewayDagGoesQueuedPinningPinnedAndIsPinnedInTheRepo) {
  StartService();
  Cid root = MakeDag(40 * 1024, 2, &gw_.blocks);  // 40 leaves of 1 KiB, 6 internal nodes
  auto blocks = gw_.blocks.blocks();
  uint64_t total = 0;
  for (const auto& [c, d] : blocks) total += d.size();
  gw_.delay_ms = 40;
  auto r = Post({{"cid", root.ToString()}, {"name", "slow dag"}, {"meta", {{"app", "test"}}}});
  ASSERT_EQ(r.code, 202) << r.body;
  ExpectPinStatus(r.j);
  EXPECT_EQ(r.j["status"], "queued");
  EXPECT_EQ(r.j["pin"]["cid"], root.ToString());
  EXPECT_EQ(r.j["pin"]["name"], "slow dag");
  EXPECT_EQ(r.j["pin"]["meta"]["app"], "test");
  EXPECT_EQ(r.j["delegates"][0], "/ip4/127.0.0.1/tcp/8080/http");
  std::string id = r.j["requestid"];
  // Progress while it runs.
  json mid = WaitStatus(id, "pinning");
  ASSERT_EQ(mid["status"], "pinning") << mid.dump();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  uint64_t seen_blocks = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto g = Get("/pins/" + id);
    if (g.j["status"] != "pinning") break;
    if (g.j["info"].contains("blocks_fetched")) seen_blocks = std::stoull(g.j["info"]["blocks_fetched"].get<std::string>());
    if (seen_blocks > 0 && seen_blocks < blocks.size()) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GT(seen_blocks, 0u);
  EXPECT_LT(seen_blocks, blocks.size());
  EXPECT_FALSE(repo_->PinnedAs(root).has_value());  // not before the whole DAG is in
  json done = WaitStatus(id, "pinned", 30s);
  ASSERT_EQ(done["status"], "pinned") << done.dump();
  ExpectPinStatus(done);
  EXPECT_EQ(done["info"]["blocks_fetched"], std::to_string(blocks.size()));
  EXPECT_EQ(done["info"]["bytes_fetched"], std::to_string(total));
  EXPECT_EQ(done["created"], r.j["created"]);  // immutable
  EXPECT_EQ(repo_->PinnedAs(root), PinType::kRecursive);
  for (const auto& [c, d] : blocks) EXPECT_TRUE(repo_->Has(c)) << c.ToString();
  // The pin holds through a gc.
  ASSERT_TRUE(repo_->Gc().ok());
  for (const auto& [c, d] : blocks) EXPECT_TRUE(repo_->Has(c)) << c.ToString();
}

TEST_F(PinningTest, DagNobodyHasFailsWithAReason) {
  StartService();
  MemoryBlocks nowhere;
  Cid root = MakeDag(5000, 3, &nowhere);
  // A DAG whose root the gateway has but whose leaves it does not: fails, nothing pinned.
  MemoryBlocks partial;
  Cid proot = MakeDag(8000, 4, &partial);
  ASSERT_TRUE(gw_.blocks.Put(proot, partial.Get(proot)->data()).ok());
  auto a = Post({{"cid", root.ToString()}});
  auto b = Post({{"cid", proot.ToString()}});
  ASSERT_EQ(a.code, 202);
  ASSERT_EQ(b.code, 202);
  for (const auto* r : {&a, &b}) {
    json s = WaitStatus((*r).j["requestid"], "failed");
    ASSERT_EQ(s["status"], "failed") << s.dump();
    ASSERT_TRUE(s["info"]["error"].is_string()) << s.dump();
    EXPECT_NE(s["info"]["error"].get<std::string>().find("cannot fetch block"), std::string::npos) << s.dump();
  }
  EXPECT_FALSE(repo_->PinnedAs(root));
  EXPECT_FALSE(repo_->PinnedAs(proot));
  auto failed = Get("/pins?status=failed");
  ExpectPinResults(failed);
  EXPECT_EQ(failed.j["count"], 2);
  EXPECT_EQ(Get("/pins").j["count"], 0);  // the default status filter is pinned
}

TEST_F(PinningTest, FiltersAndPagination) {
  StartService();
  std::vector<Cid> cids;
  std::vector<std::string> ids;
  for (int i = 0; i < 15; ++i) {
    MemoryBlocks mem;
    cids.push_back(MakeDag(100 + i, 100 + i, &mem));
    StoreLocal(mem);
    char name[32];
    std::snprintf(name, sizeof name, "File-%02d", i);
    json pin = {{"cid", cids.back().ToString()}, {"name", name}};
    if (i % 2 == 0) pin["meta"] = {{"app", "even"}, {"n", std::to_string(i)}};
    auto r = Post(pin);
    ASSERT_EQ(r.code, 202) << r.body;
    ids.push_back(r.j["requestid"]);
  }
  for (const auto& id : ids) ASSERT_EQ(WaitStatus(id, "pinned")["status"], "pinned");
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());

  // Default limit 10, newest first, count of all matches.
  auto p1 = Get("/pins");
  ExpectPinResults(p1);
  EXPECT_EQ(p1.j["count"], 15);
  ASSERT_EQ(p1.j["results"].size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(p1.j["results"][i]["requestid"], ids[14 - i]);
  // The next page: before the last one's created.
  auto p2 = Get("/pins?before=" + Escape(p1.j["results"][9]["created"].get<std::string>()));
  ExpectPinResults(p2);
  EXPECT_EQ(p2.j["count"], 5);
  ASSERT_EQ(p2.j["results"].size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(p2.j["results"][i]["requestid"], ids[4 - i]);
  auto small = Get("/pins?limit=3&after=" + Escape(p2.j["results"][2]["created"].get<std::string>()));
  EXPECT_EQ(small.j["count"], 12);  // ids 3..14
  ASSERT_EQ(small.j["results"].size(), 3u);
  EXPECT_EQ(small.j["results"][0]["requestid"], ids[14]);
  EXPECT_EQ(Get("/pins?limit=1000").j["results"].size(), 15u);

  auto count = [&](const std::string& q) {
    auto r = Get("/pins?" + q);
    EXPECT_EQ(r.code, 200) << q << ": " << r.body;
    return r.j.is_object() ? r.j["count"].get<int>() : -1;
  };
  EXPECT_EQ(count("name=File-03"), 1);
  EXPECT_EQ(count("name=file-03"), 0);
  EXPECT_EQ(count("name=file-03&match=exact"), 0);
  EXPECT_EQ(count("name=file-03&match=iexact"), 1);
  EXPECT_EQ(count("name=File-1&match=partial"), 5);
  EXPECT_EQ(count("name=ile-1&match=partial"), 5);
  EXPECT_EQ(count("name=ILE-1&match=partial"), 0);
  EXPECT_EQ(count("name=ILE-1&match=ipartial"), 5);
  EXPECT_EQ(count("cid=" + cids[2].ToString() + "," + cids[7].ToString()), 2);
  EXPECT_EQ(Get("/pins?cid=" + cids[7].ToString()).j["results"][0]["requestid"], ids[7]);
  // The same CID written as CIDv1 in another base still matches.
  EXPECT_EQ(count("cid=" + cids[7].ToString(Multibase::kBase58Btc)), 1);
  EXPECT_EQ(count("status=queued"), 0);
  EXPECT_EQ(count("status=queued,pinning"), 0);
  EXPECT_EQ(count("status=pinned,failed"), 15);
  EXPECT_EQ(count("meta=" + Escape(R"({"app":"even"})")), 8);
  EXPECT_EQ(count("meta=" + Escape(R"({"app":"even","n":"4"})")), 1);
  EXPECT_EQ(count("meta=" + Escape(R"({"app":"odd"})")), 0);
  EXPECT_EQ(count("meta=" + Escape("{}")), 15);
  EXPECT_EQ(count("before=2000-01-01T00:00:00Z"), 0);
  EXPECT_EQ(count("after=2000-01-01T00:00:00Z"), 15);

  std::string eleven;
  for (int i = 0; i < 11; ++i) eleven += (i ? "," : "") + cids[i].ToString();
  for (const std::string& q : std::vector<std::string>{"limit=0", "limit=1001", "limit=ten", "limit=", "status=bogus", "status=pinned,",
                              "cid=notacid", "cid=" + eleven, "before=yesterday", "after=2020-01-01",
                              "meta=notjson", "meta=" + Escape("[1]"), "meta=" + Escape(R"({"a":1})"),
                              "match=fuzzy", "name=" + std::string(256, 'x')}) {
    SCOPED_TRACE(q);
    ExpectFailure(Get("/pins?" + q), 400);
  }
}

TEST_F(PinningTest, ReplaceAndDeleteSemantics) {
  StartService();
  MemoryBlocks ma, mb, mc, md;
  Cid a = MakeDag(2000, 10, &ma), b = MakeDag(2000, 11, &mb), c = MakeDag(2000, 12, &mc), d = MakeDag(2000, 13, &md);
  for (auto* m : {&ma, &mb, &mc, &md}) StoreLocal(*m);

  // Replace: new requestid, old gone, A unpinned (nothing else wants it), B pinned.
  auto ra = Post({{"cid", a.ToString()}, {"name", "a"}});
  std::string ida = ra.j["requestid"];
  ASSERT_EQ(WaitStatus(ida, "pinned")["status"], "pinned");
  EXPECT_EQ(repo_->PinnedAs(a), PinType::kRecursive);
  auto rb = Post({{"cid", b.ToString()}, {"name", "b"}}, "/pins/" + ida);
  ASSERT_EQ(rb.code, 202) << rb.body;
  ExpectPinStatus(rb.j);
  std::string idb = rb.j["requestid"];
  EXPECT_NE(idb, ida);
  EXPECT_EQ(rb.j["pin"]["cid"], b.ToString());
  ExpectFailure(Get("/pins/" + ida), 404);
  ASSERT_EQ(WaitStatus(idb, "pinned")["status"], "pinned");
  EXPECT_FALSE(repo_->PinnedAs(a));
  EXPECT_EQ(repo_->PinnedAs(b), PinType::kRecursive);
  ExpectFailure(Post({{"cid", b.ToString()}}, "/pins/" + ida), 404);  // replacing a removed one

  // Delete: 202 with no body, then 404; B unpinned.
  auto del = Call("DELETE", url_ + "/pins/" + idb);
  EXPECT_EQ(del.code, 202);
  EXPECT_TRUE(del.body.empty());
  ExpectFailure(Get("/pins/" + idb), 404);
  ExpectFailure(Call("DELETE", url_ + "/pins/" + idb), 404);
  EXPECT_FALSE(repo_->PinnedAs(b));

  // A CID the user pinned locally before stays pinned when the request goes.
  ASSERT_TRUE(repo_->Pin(c, PinType::kRecursive).ok());
  std::string idc = Post({{"cid", c.ToString()}}).j["requestid"];
  ASSERT_EQ(WaitStatus(idc, "pinned")["status"], "pinned");
  EXPECT_EQ(Call("DELETE", url_ + "/pins/" + idc).code, 202);
  EXPECT_EQ(repo_->PinnedAs(c), PinType::kRecursive);

  // Two requests for one CID: the pin goes with the last of them.
  std::string id1 = Post({{"cid", d.ToString()}}).j["requestid"];
  std::string id2 = Post({{"cid", d.ToString()}}).j["requestid"];
  ASSERT_EQ(WaitStatus(id1, "pinned")["status"], "pinned");
  ASSERT_EQ(WaitStatus(id2, "pinned")["status"], "pinned");
  EXPECT_EQ(Call("DELETE", url_ + "/pins/" + id1).code, 202);
  EXPECT_EQ(repo_->PinnedAs(d), PinType::kRecursive);
  EXPECT_EQ(Call("DELETE", url_ + "/pins/" + id2).code, 202);
  EXPECT_FALSE(repo_->PinnedAs(d));
  EXPECT_EQ(CountAll(), 0u);

  // Deleting a request while its DAG is being fetched cancels it: it is never pinned.
  MemoryBlocks slow;
  Cid e = MakeDag(30 * 1024, 14, &gw_.blocks);
  gw_.delay_ms = 50;
  std::string ide = Post({{"cid", e.ToString()}}).j["requestid"];
  ASSERT_EQ(WaitStatus(ide, "pinning")["status"], "pinning");
  EXPECT_EQ(Call("DELETE", url_ + "/pins/" + ide).code, 202);
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(repo_->PinnedAs(e));
  EXPECT_EQ(CountAll(), 0u);
}

TEST_F(PinningTest, MalformedInputIs400UnknownIs404OversizedIs413) {
  StartService({}, 4096);
  MemoryBlocks m;
  Cid c = MakeDag(500, 20, &m);
  for (const std::string& body : std::vector<std::string>{"", "{", "not json", "[]", "\"bafy\"", "{}", R"({"cid": 42})", R"({"cid": "notacid"})",
                                 R"({"cid": "Qm"})", R"({"name": "x"})"}) {
    SCOPED_TRACE(body);
    ExpectFailure(Call("POST", url_ + "/pins", body), 400);
  }
  for (const json& bad : {json{{"cid", c.ToString()}, {"name", std::string(256, 'n')}},
                          json{{"cid", c.ToString()}, {"name", 7}},
                          json{{"cid", c.ToString()}, {"meta", {{"k", 1}}}},
                          json{{"cid", c.ToString()}, {"meta", "x"}},
                          json{{"cid", c.ToString()}, {"origins", "/ip4/1.2.3.4/tcp/1/http"}},
                          json{{"cid", c.ToString()}, {"origins", {"not a multiaddr"}}},
                          json{{"cid", c.ToString()}, {"origins", {"/p2p/QmA", "/p2p/QmA"}}}}) {
    SCOPED_TRACE(bad.dump());
    ExpectFailure(Post(bad), 400);
  }
  EXPECT_EQ(CountAll(), 0u);
  // A 255-character name is fine.
  EXPECT_EQ(Post({{"cid", c.ToString()}, {"name", std::string(255, 'n')}}).code, 202);
  ExpectFailure(Get("/pins/no-such-request"), 404);
  ExpectFailure(Post({{"cid", c.ToString()}}, "/pins/no-such-request"), 404);
  ExpectFailure(Call("DELETE", url_ + "/pins/no-such-request"), 404);
  ExpectFailure(Get("/pins/a/b"), 404);
  ExpectFailure(Call("DELETE", url_ + "/pins"), 405);
  // Over max_body: 413 from the server, nothing created.
  json big = {{"cid", c.ToString()}, {"meta", {{"pad", std::string(8000, 'p')}}}};
  EXPECT_EQ(Post(big).code, 413);
  EXPECT_EQ(CountAll(), 1u);
}

TEST_F(PinningTest, RequestsSurviveARestartAndAnUnfinishedOneResumes) {
  StartService();
  MemoryBlocks local;
  Cid p = MakeDag(3000, 30, &local);
  StoreLocal(local);
  auto rp = Post({{"cid", p.ToString()}, {"name", "kept"}, {"meta", {{"k", "v"}}}});
  std::string idp = rp.j["requestid"];
  ASSERT_EQ(WaitStatus(idp, "pinned")["status"], "pinned");
  json before = Get("/pins/" + idp).j;

  Cid q = MakeDag(20 * 1024, 31, &gw_.blocks);
  gw_.hold = true;  // the fetch starts and hangs
  std::string idq = Post({{"cid", q.ToString()}, {"name", "unfinished"}}).j["requestid"];
  ASSERT_EQ(WaitStatus(idq, "pinning")["status"], "pinning");
  auto t0 = std::chrono::steady_clock::now();
  StopService();
  // Workers stop within one block fetch (the chain's overall timeout here is 4 s).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  EXPECT_FALSE(repo_->PinnedAs(q));
  gw_.hold = false;

  StartService();
  json after = Get("/pins/" + idp).j;
  EXPECT_EQ(after, before);
  json resumed = WaitStatus(idq, "pinned", 30s);
  ASSERT_EQ(resumed["status"], "pinned") << resumed.dump();
  EXPECT_EQ(resumed["pin"]["name"], "unfinished");
  EXPECT_EQ(repo_->PinnedAs(q), PinType::kRecursive);
  EXPECT_EQ(CountAll(), 2u);
}

TEST_F(PinningTest, OriginsServeAsExtraGatewaysForTheirRequest) {
  StartService();
  FakeGateway origin;
  Cid root = MakeDag(10 * 1024, 40, &origin.blocks);  // only the origin has it
  auto r = Post({{"cid", root.ToString()}, {"origins", {"/p2p/QmNotDialled", origin.multiaddr()}}});
  ASSERT_EQ(r.code, 202) << r.body;
  EXPECT_EQ(r.j["pin"]["origins"].size(), 2u);
  json s = WaitStatus(r.j["requestid"], "pinned");
  ASSERT_EQ(s["status"], "pinned") << s.dump();
  EXPECT_EQ(repo_->PinnedAs(root), PinType::kRecursive);
  EXPECT_GT(origin.served.load(), 0);
  EXPECT_EQ(gw_.served.load(), 0);
}

TEST_F(PinningTest, TooManyActiveRequestsAre429) {
  PinningOptions po;
  po.workers = 1;
  po.max_active = 2;
  StartService(po);
  gw_.hold = true;
  MemoryBlocks m;
  std::vector<Cid> c;
  for (int i = 0; i < 3; ++i) c.push_back(MakeDag(600, 50 + i, &gw_.blocks));
  EXPECT_EQ(Post({{"cid", c[0].ToString()}}).code, 202);
  std::string id1 = Post({{"cid", c[1].ToString()}}).j["requestid"];
  auto third = Post({{"cid", c[2].ToString()}});
  ExpectFailure(third, 429);
  EXPECT_EQ(CountAll(), 2u);
  // Removing one makes room.
  EXPECT_EQ(Call("DELETE", url_ + "/pins/" + id1).code, 202);
  EXPECT_EQ(Post({{"cid", c[2].ToString()}}).code, 202);
  gw_.hold = false;
}

}  // namespace
}  // namespace ipfskit
