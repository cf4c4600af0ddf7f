// PinningHandler: the IPFS Pinning Services API v1 (github.com/ipfs/pinning-services-api-spec,
// ipfs-pinning-service.yaml) over a PinningService, as a ServerHandler for the --api listener:
//   GET    /pins               PinResults {count, results}: filters cid (comma list, 1..10), name
//                              with match=exact|iexact|partial|ipartial, status (comma list;
//                              default pinned), before/after (RFC 3339, on `created`), limit
//                              (1..1000, default 10), meta (a JSON object of strings that must all
//                              be in the pin's meta). Newest first; `count` counts every match, so
//                              a client pages with before=<created of the last result>.
//   POST   /pins               Pin {cid, name?, origins?, meta?} -> 202 PinStatus
//   GET    /pins/{requestid}   200 PinStatus
//   POST   /pins/{requestid}   replaces it: 202 with a new PinStatus (new requestid); the old
//                              request is removed
//   DELETE /pins/{requestid}   202, no body
// PinStatus is {requestid, status, created, pin, delegates, info}. `delegates` must hold at least
// one multiaddr; ipfskit has no libp2p, so it advertises the node's HTTP trustless gateway as an
// HTTP multiaddr (e.g. /ip4/127.0.0.1/tcp/8080/http): a client can push or pull blocks only
// through that.
//
// Errors are the spec's Failure {"error": {"reason", "details"}}: 400 BAD_REQUEST (bad JSON, bad
// CID, bad filter), 401 UNAUTHORIZED (no or unknown bearer token; nothing is read or changed),
// 404 NOT_FOUND (unknown requestid or path), 405 METHOD_NOT_ALLOWED, 429 TOO_MANY_REQUESTS (the
// service's bounds), 500 INTERNAL_SERVER_ERROR (storage). 413 for a body over the server's
// max_body comes from HttpServer itself, before this handler is called. No 409: nothing is
// charged.
//
// Auth: "Authorization: Bearer <token>", compared against each configured token in constant time
// (SHA-256 of both, then CRYPTO_memcmp, so neither content nor length leaks through timing). With
// no tokens configured every request is 401.
//
// Thread-safe (the service is; the handler's own state is read-only). The service must outlive
// the handler and every router that holds it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/serve/http_server.h"
#include "core/serve/pinning_service.h"

namespace ipfskit {

struct PinningApiOptions {
  std::vector<std::string> tokens;
  std::vector<std::string> delegates;  // at least one; see above
};

// From the config's "serve": {"pinning": {"tokens": [...], "workers": N, "max_active": N}}.
// kInvalidArgument for wrongly typed values. Delegates are left empty (the caller knows the
// gateway address).
Result<PinningApiOptions> PinningApiOptionsFromConfig(const Config& config, PinningOptions* service_options);

class PinningHandler {
 public:
  PinningHandler(PinningService& service, PinningApiOptions options);
  ServerResponse Handle(const ServerRequest& req);

 private:
  bool Authorized(const ServerRequest& req) const;
  ServerResponse List(const ServerRequest& req);
  ServerResponse Create(const ServerRequest& req, const std::string* replace);

  PinningService& service_;
  PinningApiOptions options_;
  std::vector<std::string> token_digests_;  // SHA-256 of each token
};

// Routes "/pins" on `router` to `handler`, which must outlive the router's users.
void AddPinningRoutes(PrefixRouter& router, PinningHandler& handler);

// The PinStatus JSON of a request (the API's schema).
nlohmann::json PinStatusJson(const PinRequest& r, const std::vector<std::string>& delegates);

}  // namespace ipfskit
