// A stand-in for a Kubo node's RPC API (no Kubo binary can be installed here), following
// Kubo's documented behaviour (ipfs-formats.md §4): every /api/v0 command is POST-only and
// answers other methods with 405; positional arguments come as ?arg=; errors are JSON
// {"Message","Code","Type":"error"}; a block the node does not have (offline) is HTTP 500
// "block was not found locally (offline)".
#pragma once

#include <map>
#include <mutex>

#include "core/multiformats/cid.h"
#include "tests/fakes/fake_http_server.h"

namespace ipfskit::testing {

class FakeKubo {
 public:
  FakeKubo() : server_([this](const FakeRequest& r) { return Handle(r); }) {}
  void Add(const Cid& cid, const Bytes& data) {
    std::lock_guard<std::mutex> lock(mu_);
    blocks_[cid.ToV1()] = data;
  }
  std::string url() const { return server_.url(); }
  FakeHttpServer& server() { return server_; }

 private:
  static FakeResponse Json(int status, const std::string& body) {
    FakeResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = body;
    return r;
  }
  static FakeResponse Error(int status, const std::string& message, int code = 0) {
    return Json(status, "{\"Message\":\"" + message + "\",\"Code\":" + std::to_string(code) + ",\"Type\":\"error\"}\n");
  }

  FakeResponse Handle(const FakeRequest& req) {
    if (req.path.rfind("/api/v0/", 0) != 0) {
      FakeResponse r;
      r.status = 404;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "404 page not found\n";
      return r;
    }
    if (req.method != "POST") {
      FakeResponse r;
      r.status = 405;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "405 - Method Not Allowed\n";
      return r;
    }
    const std::string cmd = req.path.substr(8);
    if (cmd == "version")
      return Json(200, "{\"Version\":\"0.40.0\",\"Commit\":\"\",\"Repo\":\"16\",\"System\":\"amd64/linux\",\"Golang\":\"go1.24\"}\n");
    if (cmd == "block/get") {
      std::string arg = req.Param("arg");
      if (arg.empty()) return Error(400, "argument \\\"cid\\\" is required", 1);
      auto cid = Cid::Parse(arg);
      if (!cid.ok()) return Error(500, "invalid cid: " + cid.error().message);
      std::lock_guard<std::mutex> lock(mu_);
      auto it = blocks_.find(cid->ToV1());
      if (it == blocks_.end()) return Error(500, "block was not found locally (offline): ipld: could not find " + arg);
      FakeResponse r;
      r.content_type = "text/plain";
      r.extra_headers = {"X-Stream-Output: 1", "Trailer: X-Stream-Error"};
      r.body.assign(it->second.begin(), it->second.end());
      return r;
    }
    return Error(404, "unknown command \\\"" + cmd + "\\\"");
  }

  std::mutex mu_;
  std::map<Cid, Bytes> blocks_;
  FakeHttpServer server_;  // last: stopped first, before the blocks it reads go away
};

}  // namespace ipfskit::testing
