// IPNS resolution latency (issue 11): a cached name; a cold name from one loopback delegated-
// routing server; a cold name with three sources of which one stalls. Prints JSON with p50/p90/
// p99 in milliseconds, for scripts/bench-ipns.sh. The reference for "cold" is a plain HTTP GET of
// the same record from the same server (the floor any resolver has to pay).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/ipns/namesys.h"
#include "core/multiformats/cid.h"
#include "core/source/http_client.h"
#include "tests/fakes/fake_ipns_router.h"

using namespace ipfskit;
using Clock = std::chrono::steady_clock;

namespace {

nlohmann::json Percentiles(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))]; };
  return {{"p50_ms", at(0.5)}, {"p90_ms", at(0.9)}, {"p99_ms", at(0.99)}, {"n", ms.size()}};
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 300;
  std::string dir = std::filesystem::temp_directory_path() / ("ipfskit-ipns-bench-" + std::to_string(getpid()));
  RepoOptions ro;
  ro.path = dir;
  auto repo = *Repo::Open(ro);
  testing::Router good, good2, stalled;
  stalled.Misbehave([](const testing::FakeRequest&) {
    testing::FakeResponse f;
    f.mode = testing::FakeResponse::Mode::kHang;
    return std::optional<testing::FakeResponse>(f);
  });
  std::vector<IpnsName> names;
  auto cid = Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes("bench"));
  for (int i = 0; i < n; ++i) {
    auto key = *PrivateKey::Generate(KeyType::kEd25519);
    IpnsRecordParams p;
    p.value = "/ipfs/" + cid->ToString();
    p.sequence = 1;
    p.eol = NowUnixNanos() + 3600LL * 1000000000;
    auto raw = *CreateIpnsRecord(key, p);
    IpnsName name = IpnsName::FromPublicKey(key.Public());
    good.Set(name, std::string(raw.begin(), raw.end()));
    good2.Set(name, std::string(raw.begin(), raw.end()));
    names.push_back(name);
  }
  auto run = [&](std::vector<std::string> routers, bool nocache, int passes = 1) {
    IpnsSettings s;
    s.routers = std::move(routers);
    s.timeout_ms = 5000;
    auto ns = *NameSys::Open(repo, s);
    std::vector<double> ms;
    for (int pass = 0; pass < passes; ++pass) {
      if (pass + 1 < passes) {
        for (const auto& name : names) (void)ns->Resolve(name.ToString());
        continue;
      }
    for (const auto& name : names) {
      auto t0 = Clock::now();
      auto r = ns->Resolve(name.ToString(), {.recursive = true, .nocache = nocache});
      ms.push_back(Ms(Clock::now() - t0));
      if (!r.ok()) {
        std::cerr << "resolve failed: " << r.error().message << "\n";
        std::exit(1);
      }
    }
    }
    return Percentiles(ms);
  };
  nlohmann::json out;
  out["cold_one_router"] = run({good.url()}, true);
  // The cold run filled the cache. First resolution in a fresh process: LMDB read + signature
  // check; then again in the same process (the verified record is remembered).
  out["cached_first_in_process"] = run({good.url()}, false);
  out["cached"] = run({good.url()}, false, 2);
  out["cold_three_sources_one_stalled"] = run({good.url(), stalled.url(), good2.url()}, true);
  {
    HttpClient http;
    std::vector<double> ms;
    for (const auto& name : names) {
      HttpRequest req;
      req.url = good.url() + "/routing/v1/ipns/" + name.ToString();
      auto t0 = Clock::now();
      auto r = http.Fetch(req);
      ms.push_back(Ms(Clock::now() - t0));
      if (!r.ok() || r->status != 200) return 1;
    }
    out["reference_plain_http_get"] = Percentiles(ms);
  }
  std::cout << out.dump(2) << "\n";
  std::filesystem::remove_all(dir);
  return 0;
}
