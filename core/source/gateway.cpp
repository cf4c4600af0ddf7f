#include "core/source/gateway.h"

#include "core/source/car_stream.h"

namespace ipfskit {

HttpRequest GatewaySource::BlockRequest(const Cid& cid) const {
  HttpRequest r;
  r.url = url_ + "/ipfs/" + cid.ToString() + "?format=raw";
  r.headers.push_back("Accept: application/vnd.ipld.raw");
  return r;
}

Error GatewaySource::StatusError(const Cid& cid, const HttpResponse& resp) const {
  std::string what = "gateway " + url_ + " /ipfs/" + cid.ToString() + ": HTTP " + std::to_string(resp.status);
  if (resp.status == 404 || resp.status == 410 || resp.status == 412) return MakeError(Errc::kNotFound, what);
  return MakeError(Errc::kHttp, what);
}

Result<GatewaySource::CarResult> GatewaySource::FetchCarRange(
    const Cid& root, uint64_t from, int64_t to, const std::function<Status(const Cid&, ByteView)>& on_block,
    SteadyClock::time_point deadline) {
  std::string range = std::to_string(from) + ":" + (to < 0 ? std::string("*") : std::to_string(to));
  return FetchCar(root, "dag-scope=entity&entity-bytes=" + range, on_block, deadline);
}

Result<GatewaySource::CarResult> GatewaySource::FetchCar(
    const Cid& root, const std::string& params, const std::function<Status(const Cid&, ByteView)>& on_block,
    SteadyClock::time_point deadline) {
  if (!serves_car())
    return MakeError(Errc::kUnsupported, "gateway " + url_ + " does not serve CARs");
  HttpRequest req = BaseRequest(url_ + "/ipfs/" + root.ToString() + "?format=car&" + params, deadline);
  req.timeout = std::max(req.timeout, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()));
  req.headers.push_back("Accept: application/vnd.ipld.car; version=1; order=dfs; dups=n");
  CarStreamReader reader(on_block);
  // HttpClient streams only 2xx bodies; an error page is buffered and its status checked below.
  req.on_data = [&](ByteView chunk) { return reader.Feed(chunk); };
  const auto start = SteadyClock::now();
  auto resp = http_->Fetch(std::move(req));
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start);
  if (resp.ok() && (resp->status == 400 || resp->status == 406 || resp->status == 415 || resp->status == 501)) {
    serves_car_.store(false, std::memory_order_relaxed);
    return MakeError(Errc::kUnsupported, "gateway " + url_ + " answered a CAR request with HTTP " +
                                             std::to_string(resp->status) + ": no CARs from it");
  }
  if (!resp.ok() && resp.error().code == Errc::kMalformed && reader.bytes() == 0 && reader.blocks() == 0) {
    serves_car_.store(false, std::memory_order_relaxed);
    return MakeError(Errc::kUnsupported, "gateway " + url_ + " answered a CAR request with something else: no CARs from it");
  }
  if (resp.ok() && resp->status != 200) {
    Error e = StatusError(root, *resp);
    Record(&e, resp->status, latency, 0);
    return e;
  }
  if (!resp.ok()) {
    Record(&resp.error(), 0, latency, reader.bytes());
    RecordCar(reader.blocks());
    return resp.take_error();
  }
  Status fin = reader.Finish();
  RecordCar(reader.blocks());
  if (!fin.ok()) {
    Record(&fin.error(), 200, latency, reader.bytes());
    return fin.error();
  }
  Record(nullptr, 200, latency, reader.bytes());
  return CarResult{reader.blocks(), reader.bytes()};
}

}  // namespace ipfskit
