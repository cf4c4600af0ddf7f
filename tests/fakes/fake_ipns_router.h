// A delegated routing server (Routing V1 IPNS API) on loopback for tests: GET
// /routing/v1/ipns/<name> answers from `records` (200 text/plain when absent, as IPIP-0513), PUT
// stores the body. Misbehave() installs a handler that answers GETs instead (lies, stalls).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/ipns/name.h"
#include "tests/fakes/fake_http_server.h"

namespace ipfskit::testing {

struct Router {
  std::mutex mu;
  std::map<std::string, std::string> records;  // k51 -> raw
  std::function<std::optional<FakeResponse>(const FakeRequest&)> override_;  // misbehaviour
  std::atomic<int> gets{0}, puts{0};
  FakeHttpServer server{[this](const FakeRequest& req) { return Handle(req); }};

  FakeResponse Handle(const FakeRequest& req) {
    std::function<std::optional<FakeResponse>(const FakeRequest&)> ov;
    {
      std::lock_guard lk(mu);
      ov = override_;
    }
    const std::string prefix = "/routing/v1/ipns/";
    FakeResponse r;
    if (req.path.rfind(prefix, 0) != 0) {
      r.status = 404;
      return r;
    }
    std::string name = req.path.substr(prefix.size());
    if (req.method == "PUT") {
      puts++;
      std::lock_guard lk(mu);
      records[name] = req.body;
      r.status = 200;
      return r;
    }
    gets++;
    if (ov)
      if (auto o = ov(req)) return *o;
    std::lock_guard lk(mu);
    auto it = records.find(name);
    if (it == records.end()) {
      r.status = 200;  // IPIP-0513
      r.content_type = "text/plain";
      r.body = "no record";
      return r;
    }
    r.content_type = "application/vnd.ipfs.ipns-record";
    r.body = it->second;
    return r;
  }
  void Set(const IpnsName& n, std::string raw) {
    std::lock_guard lk(mu);
    records[n.ToString()] = std::move(raw);
  }
  void Misbehave(std::function<std::optional<FakeResponse>(const FakeRequest&)> f) {
    std::lock_guard lk(mu);
    override_ = std::move(f);
  }
  std::string url() const { return server.url(); }
};

}  // namespace ipfskit::testing
