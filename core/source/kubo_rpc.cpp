#include "core/source/kubo_rpc.h"

#include <nlohmann/json.hpp>

namespace ipfskit {

HttpRequest KuboRpcSource::BlockRequest(const Cid& cid) const {
  HttpRequest r;
  r.method = "POST";
  r.url = url_ + "/api/v0/block/get?arg=" + cid.ToString();
  return r;
}

Error KuboRpcSource::StatusError(const Cid& cid, const HttpResponse& resp) const {
  std::string message;
  auto j = nlohmann::json::parse(resp.body.begin(), resp.body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("Message") && j["Message"].is_string()) message = j["Message"].get<std::string>();
  if (resp.status == 500 && message.find("not found") != std::string::npos)
    return MakeError(Errc::kNotFound, "kubo " + url_ + ": " + cid.ToString() + ": " + message);
  return MakeError(Errc::kHttp, "kubo " + url_ + " block/get " + cid.ToString() + ": HTTP " +
                                    std::to_string(resp.status) + (message.empty() ? "" : ": " + message));
}

bool KuboRpcSource::Probe(HttpClient& http, const std::string& api_url, std::chrono::milliseconds timeout) {
  HttpRequest r;
  r.method = "POST";
  std::string base = api_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  r.url = base + "/api/v0/version";
  r.timeout = timeout;
  r.connect_timeout = timeout;
  r.max_body = 64 << 10;
  auto resp = http.Fetch(std::move(r));
  return resp.ok() && resp->status == 200;
}

}  // namespace ipfskit
