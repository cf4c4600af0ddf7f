// HttpServer: a small HTTP/1.1 server over libmicrohttpd (Debian's libmicrohttpd-dev) for
// `ipfskit serve`. It knows nothing of IPFS: a Handler turns one request into one response.
//
// Threads. One thread per connection (MHD_USE_THREAD_PER_CONNECTION, plus MHD's listening
// thread), because handlers block: a gateway request may wait on a remote block fetch, and in a
// shared poll thread (MHD's thread pool) that wait would stall every other connection on the
// thread. Connections are capped (max_connections); past the cap new ones are refused at
// accept. A watchdog thread enforces the header deadline (below).
//
// Contract of a Handler: called on the connection's thread once the whole request is in: the
// headers and, when max_body > 0, a body of at most max_body bytes (ServerRequest::body). With
// max_body == 0 a request with a body is answered 413 before the handler is called and the body
// is never read; a declared Content-Length over max_body likewise; a chunked body that grows past
// it is read to its end and dropped, then answered 413. A method not in `methods` gets 405. It must not throw (an exception becomes a 500). It returns an ServerResponse, either
// with a small body in memory or with a BodyReader that streams the body: the server calls it
// on the same connection thread, as the client takes bytes, until it returns 0 (end) or an
// error (the connection is cut, so the client sees a truncated body, never a clean end). The
// reader is destroyed when the response is done, the client went away, or the server stops —
// never while a call into it is running. For HEAD the server sends the headers only and never
// calls the reader.
//
// Timeouts (slowloris): a request's headers must be complete within header_timeout of the
// connection opening or of the previous response on it finishing; the watchdog shuts the socket
// down otherwise. A connection on which no byte moves for idle_timeout is closed by MHD (this
// also covers a client that stops reading a response).
//
// Memory: per connection, MHD's pool (memory_limit; bounds the request line and headers, an
// oversized one is answered 414/431 and closed) plus, for a streamed body, one buffer of
// stream_block bytes plus what the BodyReader holds.
//
// Stop(): stops accepting, makes every BodyReader call that starts after it fail (so streams
// end at the next block), shuts connections down and joins all threads. It completes once the
// handler and reader calls in progress return; those block at most as long as the block
// fetches they wait on (the source chain's overall timeout). Idempotent; the destructor calls it.
//
// Lock order: HttpServer::conns_mu_ is a leaf (nothing else is acquired while it is held, and
// it is never held while calling a handler or reader). MHD's own locks are taken inside MHD
// calls only, never while conns_mu_ is held, except that MHD calls the connection-notify
// callback (which takes conns_mu_) with its locks held; so conns_mu_ is always acquired after
// any MHD lock, never before.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/util/result.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace ipfskit {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // numeric IPv4 or IPv6 address (or "localhost")
  uint16_t port = 8080;            // 0: any free port (see HttpServer::port())
  unsigned max_connections = 1024;
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds idle_timeout{60};
  size_t memory_limit = 64 << 10;   // per-connection pool: request line + headers + write buffer
  size_t stream_block = 256 << 10;  // buffer size of a streamed body
  size_t thread_stack = 1 << 20;
  size_t max_body = 0;  // request bodies; 0: none accepted
  std::vector<std::string> methods = {"GET", "HEAD"};
};

struct ServerRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string path;    // percent-decoded path, without the query
  std::map<std::string, std::string> query;    // decoded query arguments (last one wins)
  std::map<std::string, std::string> headers;  // header names lower-cased
  std::string body;                            // at most HttpServerOptions::max_body bytes

  // A header's value, or "" when absent.
  const std::string& Header(const std::string& lower_name) const;
  // A query argument, or nullopt when absent.
  std::optional<std::string> Query(const std::string& name) const;
};

// Fills `buf` with up to `max` body bytes; returns how many (0 = end of body) or an error that
// cuts the connection.
using BodyReader = std::function<Result<size_t>(uint8_t* buf, size_t max)>;

struct ServerResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;   // used when reader is empty
  BodyReader reader;  // streamed body
  // With a reader: the exact body length when known (sent as Content-Length, else the body is
  // chunked).
  std::optional<uint64_t> length;

  static ServerResponse Text(int status, std::string text);
  ServerResponse& With(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using ServerHandler = std::function<ServerResponse(const ServerRequest&)>;

// Dispatches on the path: the handler of the longest prefix that matches at a segment boundary
// ("/pins" matches "/pins" and "/pins/x", not "/pinsx"); 404 when none does. Built before the
// server starts, read-only after, so any number of threads may call it.
class PrefixRouter {
 public:
  PrefixRouter& Add(std::string prefix, ServerHandler handler);
  ServerResponse operator()(const ServerRequest& req) const;
  bool empty() const { return routes_.empty(); }

 private:
  std::vector<std::pair<std::string, ServerHandler>> routes_;  // longest prefix first
};

struct HttpServerStats {
  uint64_t connections = 0;       // accepted in total
  uint64_t open_connections = 0;  // now
  uint64_t requests = 0;
  uint64_t header_timeouts = 0;   // connections cut by the watchdog
  uint64_t stream_errors = 0;     // streamed bodies cut by a reader error or by Stop
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, ServerHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. kInvalidArgument for a bad host, kIo when the address cannot be
  // bound (in use, no permission).
  Status Start();
  void Stop();

  uint16_t port() const { return port_; }
  // "127.0.0.1:8080", "[::1]:8080"
  std::string address() const;
  HttpServerStats Stats() const;

  // Internal (called from MHD's C callbacks).
  struct Conn;
  struct Stream;
  struct Pending;
  int OnRequest(MHD_Connection* c, const char* url, const char* method, const char* upload_data,
                size_t* upload_size, void** con_cls);
  void OnConnection(MHD_Connection* c, void** socket_context, bool started);
  void OnCompleted(MHD_Connection* c, void** con_cls);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  void CountStreamError() { stream_errors_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void Watchdog();

  HttpServerOptions options_;
  ServerHandler handler_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
  bool ipv6_ = false;
  std::atomic<bool> stopping_{false};

  // Open connections, for the header deadline. Leaf lock (see the top).
  mutable std::mutex conns_mu_;
  std::condition_variable watchdog_cv_;
  std::unordered_map<MHD_Connection*, std::shared_ptr<Conn>> conns_;
  bool watchdog_stop_ = false;
  std::thread watchdog_;

  std::atomic<uint64_t> connections_{0}, requests_{0}, header_timeouts_{0}, stream_errors_{0};
};

// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (host 127.0.0.1). kInvalidArgument otherwise.
Result<std::pair<std::string, uint16_t>> ParseListenAddress(std::string_view text);
// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

}  // namespace ipfskit
