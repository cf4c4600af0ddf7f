// GatewaySource: blocks from an HTTP trustless gateway (ipfs-formats.md §2):
//   raw block  GET /ipfs/<cid>?format=raw, Accept: application/vnd.ipld.raw
//   file range GET /ipfs/<cid>?format=car&dag-scope=entity&entity-bytes=FROM:TO, parsed as a
//              stream; each block is checked against its CID before it is handed on.
// 404, 410 and 412 (not cached) mean "this gateway does not have it" (kNotFound).
#pragma once

#include <atomic>
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
  // False once the gateway showed it does not serve CARs (400/406/415/501 to a CAR request, or
  // a 200 body that is not a CAR at all, as from a plain file server): FetchCar then answers
  // kUnsupported at once, and the source's health is not charged for it.
  bool serves_car() const { return serves_car_.load(std::memory_order_relaxed); }

 protected:
  HttpRequest BlockRequest(const Cid& cid) const override;
  Error StatusError(const Cid& cid, const HttpResponse& resp) const override;

 private:
  std::atomic<bool> serves_car_{true};
};

}  // namespace ipfskit
