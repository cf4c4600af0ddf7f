// KuboRpcSource: blocks from a Kubo node's RPC API, `POST /api/v0/block/get?arg=<cid>`
// (ipfs-formats.md §4; the API is POST-only and answers other methods with 405).
// Kubo reports a missing block as HTTP 500 with a JSON error whose Message says "not found";
// that becomes kNotFound.
#pragma once

#include "core/source/remote_source.h"

namespace ipfskit {

class KuboRpcSource : public RemoteSource {
 public:
  // api_url: e.g. "http://127.0.0.1:5001" (no /api/v0).
  KuboRpcSource(std::string api_url, std::shared_ptr<HttpClient> http, RemoteOptions options)
      : RemoteSource(std::move(api_url), std::move(http), options) {}
  const char* kind() const override { return "kubo"; }

  // True when `POST /api/v0/version` answers 200 within `timeout` (used to decide whether the
  // default local Kubo is there).
  static bool Probe(HttpClient& http, const std::string& api_url, std::chrono::milliseconds timeout);

 protected:
  HttpRequest BlockRequest(const Cid& cid) const override;
  Error StatusError(const Cid& cid, const HttpResponse& resp) const override;
};

}  // namespace ipfskit
