// HttpClient: one libcurl multi handle driven by its own thread. Every transfer shares the
// multi's connection cache, so keep-alive connections (and HTTP/2 streams) are reused across
// requests to the same host.
//
// Thread safety: Start/Fetch may be called from any thread. Callbacks (`done`, `on_data`) run on
// the client's thread and must not block or call back into the client synchronously.
// Every transfer has a total timeout, a connect timeout and a low-speed limit, so no wait is
// unbounded. Destroying the client finishes pending transfers with kCancelled.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

struct HttpRequest {
  // GET, POST or PUT; any other method is sent as is, without a body.
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Sent as the request body (with Content-Length) for POST and PUT; an empty body sends
  // "Content-Length: 0". Set the Content-Type in `headers`: libcurl otherwise announces
  // application/x-www-form-urlencoded. A body with another method is kInvalidArgument.
  Bytes body;
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
  // A transfer slower than low_speed_bytes per second for low_speed_seconds is a stall and
  // ends with kTimeout.
  long low_speed_bytes = 1024;
  long low_speed_seconds = 10;
  // A buffered body longer than this ends the transfer with kMalformed.
  size_t max_body = size_t{4} << 20;
  // When set, a 2xx body is streamed here instead of buffered (other statuses keep their first
  // 64 KiB in HttpResponse::body). Returning an error aborts the
  // transfer and that error becomes the result.
  std::function<Status(ByteView)> on_data;
};

struct HttpResponse {
  long status = 0;
  Bytes body;  // empty when streamed
  std::string content_type;
  std::chrono::microseconds elapsed{0};
};

// Errors: kTimeout (total timeout or stall), kTruncated (the body ended before its announced
// length), kNetwork (connect, resolve, reset), kMalformed (body too large), kCancelled, or the
// error returned by on_data. An HTTP error status is not an error here: check status.
using HttpCallback = std::function<void(Result<HttpResponse>)>;

class HttpClient {
 public:
  struct Options {
    long max_connections = 32;           // total open connections
    long max_host_connections = 8;       // per host
  };
  explicit HttpClient(Options options);
  HttpClient() : HttpClient(Options{}) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Queues a transfer; `done` runs exactly once.
  void Start(HttpRequest request, HttpCallback done);
  // Start and wait. The transfer's own timeout bounds the wait.
  Result<HttpResponse> Fetch(HttpRequest request);

  // Transfers started and connections opened so far (for tests of connection reuse).
  uint64_t transfers() const;
  uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipfskit
