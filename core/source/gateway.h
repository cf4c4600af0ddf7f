// GatewaySource: blocks from an HTTP trustless gateway (ipfs-formats.md §2):
//   raw block  GET /ipfs/<cid>?format=raw, Accept: application/vnd.ipld.raw
//   file range GET /ipfs/<cid>?format=car&dag-scope=entity&entity-bytes=FROM:TO, parsed as a
//              stream; each block is checked against its CID before it is handed on.
// 404, 410 and 412 (not cached) mean "this gateway does not have it" (kNotFound).
#pragma once

#include <functional>

#include "core/source/remote_source.h"

namespace ipfskit {

class GatewaySource : public RemoteSource {
 public:
  // base_url: e.g. "https://trustless-gateway.link" (no /ipfs).
  GatewaySource(std::string base_url, std::shared_ptr<HttpClient> http, RemoteOptions options)
      : RemoteSource(std::move(base_url), std::move(http), options) {}
  const char* kind() const override { return "gateway"; }

  struct CarResult {
    uint64_t blocks = 0;
    uint64_t bytes = 0;
  };
  // Streams the blocks of a UnixFS file's byte range [from, to] (inclusive; to < 0 means to the
  // end) and calls on_block for each verified block as it arrives. A CAR that stops early is
  // kTruncated even after 200 OK. Not bounded by the 2 MiB block cap as a whole: the body is
  // never buffered.
  Result<CarResult> FetchCarRange(const Cid& root, uint64_t from, int64_t to,
                                  const std::function<Status(const Cid&, ByteView)>& on_block,
                                  SteadyClock::time_point deadline);
  // The same for any CAR query: `params` is what follows "format=car&" (e.g. "dag-scope=all").
  // The stream may run until `deadline` (the request timeout does not cut it; a stalled one is
  // cut by the low-speed limit), so a long range is not capped at one request's timeout.
  Result<CarResult> FetchCar(const Cid& root, const std::string& params,
                             const std::function<Status(const Cid&, ByteView)>& on_block,
                             SteadyClock::time_point deadline);

 protected:
  HttpRequest BlockRequest(const Cid& cid) const override;
  Error StatusError(const Cid& cid, const HttpResponse& resp) const override;
};

}  // namespace ipfskit
