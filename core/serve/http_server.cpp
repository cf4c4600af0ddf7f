#include "core/serve/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/util/log.h"

namespace ipfskit {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// One open connection, as the watchdog sees it.
struct HttpServer::Conn {
  int fd = -1;
  bool in_request = false;          // headers are in; a handler or a response is running
  SteadyClock::time_point deadline;  // for the next request's headers, when !in_request
  bool cut = false;
};

// A request between its first and last access callback: the body collected so far.
struct HttpServer::Pending {
  std::string body;
  bool too_big = false;
};

// A streamed body: owned by the MHD response, freed by MHD (FreeStream) once it is done with it.
struct HttpServer::Stream {
  HttpServer* server;
  BodyReader reader;
};

const std::string& ServerRequest::Header(const std::string& lower_name) const {
  static const std::string kEmpty;
  auto it = headers.find(lower_name);
  return it == headers.end() ? kEmpty : it->second;
}

std::optional<std::string> ServerRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

ServerResponse ServerResponse::Text(int status, std::string text) {
  ServerResponse r;
  r.status = status;
  r.body = std::move(text);
  if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

PrefixRouter& PrefixRouter::Add(std::string prefix, ServerHandler handler) {
  routes_.emplace_back(std::move(prefix), std::move(handler));
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return *this;
}

ServerResponse PrefixRouter::operator()(const ServerRequest& req) const {
  for (const auto& [prefix, handler] : routes_) {
    if (req.path.compare(0, prefix.size(), prefix) != 0) continue;
    if (req.path.size() == prefix.size() || prefix.back() == '/' || req.path[prefix.size()] == '/')
      return handler(req);
  }
  return ServerResponse::Text(404, "no such endpoint: " + req.path);
}

// --- C callbacks -------------------------------------------------------------------------------

static MHD_Result AccessCb(void* cls, MHD_Connection* c, const char* url, const char* method,
                           const char* version, const char* upload_data, size_t* upload_size,
                           void** con_cls) {
  return static_cast<HttpServer*>(cls)->OnRequest(c, url, method, upload_data, upload_size, con_cls)
             ? MHD_YES
             : MHD_NO;
}

static void NotifyConnCb(void* cls, MHD_Connection* c, void** socket_context,
                         MHD_ConnectionNotificationCode toe) {
  static_cast<HttpServer*>(cls)->OnConnection(c, socket_context, toe == MHD_CONNECTION_NOTIFY_STARTED);
}

static void CompletedCb(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode) {
  static_cast<HttpServer*>(cls)->OnCompleted(c, con_cls);
}

static ssize_t StreamCb(void* cls, uint64_t, char* buf, size_t max) {
  auto* s = static_cast<HttpServer::Stream*>(cls);
  if (s->server->stopping()) {
    s->server->CountStreamError();
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  Result<size_t> n = MakeError(Errc::kInternal, "");
  try {
    n = s->reader(reinterpret_cast<uint8_t*>(buf), max);
  } catch (const std::exception& e) {
    n = MakeError(Errc::kInternal, e.what());
  }
  if (!n.ok()) {
    spdlog::debug("serve: stream cut: {}", n.error().message);
    s->server->CountStreamError();
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (*n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  return static_cast<ssize_t>(*n);
}

static void FreeStream(void* cls) { delete static_cast<HttpServer::Stream*>(cls); }

static MHD_Result CollectKv(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* pair = static_cast<std::pair<std::map<std::string, std::string>*, bool>*>(cls);
  if (key) (*pair->first)[pair->second ? Lower(key) : std::string(key)] = value ? value : "";
  return MHD_YES;
}

// --- HttpServer --------------------------------------------------------------------------------

HttpServer::HttpServer(HttpServerOptions options, ServerHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  sockaddr_storage ss{};
  std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(options_.port);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(options_.port);
    ipv6_ = true;
  } else {
    return MakeError(Errc::kInvalidArgument, "not a numeric IP address: " + options_.host);
  }
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  if (ipv6_) flags |= MHD_USE_IPv6;
  daemon_ = MHD_start_daemon(
      flags, options_.port, nullptr, nullptr, &AccessCb, this,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&ss),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(options_.max_connections),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(options_.idle_timeout.count()),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, options_.memory_limit,
      MHD_OPTION_THREAD_STACK_SIZE, options_.thread_stack,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
      MHD_OPTION_NOTIFY_CONNECTION, &NotifyConnCb, this,
      MHD_OPTION_NOTIFY_COMPLETED, &CompletedCb, this,
      MHD_OPTION_END);
  if (!daemon_)
    return MakeError(Errc::kIo, "cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                    " (address in use or not available)");
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info ? info->port : options_.port;
  watchdog_ = std::thread([this] { Watchdog(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!daemon_) return;
  stopping_.store(true, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    watchdog_stop_ = true;
  }
  watchdog_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  // Shuts every connection's socket down and joins the connection threads.
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

std::string HttpServer::address() const {
  std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  if (ipv6_ && host.front() != '[') host = "[" + host + "]";
  return host + ":" + std::to_string(port_);
}

HttpServerStats HttpServer::Stats() const {
  HttpServerStats s;
  s.connections = connections_.load();
  s.requests = requests_.load();
  s.header_timeouts = header_timeouts_.load();
  s.stream_errors = stream_errors_.load();
  std::lock_guard<std::mutex> lock(conns_mu_);
  s.open_connections = conns_.size();
  return s;
}

void HttpServer::OnConnection(MHD_Connection* c, void**, bool started) {
  if (started) {
    auto conn = std::make_shared<Conn>();
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn->fd = info ? info->connect_fd : -1;
    conn->deadline = SteadyClock::now() + options_.header_timeout;
    connections_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(conns_mu_);
    conns_[c] = std::move(conn);
  } else {
    // MHD closes the socket only after this notification, so the watchdog never shuts down an
    // fd that was closed and reused.
    std::lock_guard<std::mutex> lock(conns_mu_);
    conns_.erase(c);
  }
  watchdog_cv_.notify_all();
}

void HttpServer::OnCompleted(MHD_Connection* c, void** con_cls) {
  delete static_cast<Pending*>(*con_cls);
  *con_cls = nullptr;
  std::lock_guard<std::mutex> lock(conns_mu_);
  auto it = conns_.find(c);
  if (it == conns_.end()) return;
  it->second->in_request = false;
  it->second->deadline = SteadyClock::now() + options_.header_timeout;
}

void HttpServer::Watchdog() {
  std::unique_lock<std::mutex> lock(conns_mu_);
  while (!watchdog_stop_) {
    const auto now = SteadyClock::now();
    auto next = now + std::chrono::seconds(1);
    for (auto& [c, conn] : conns_) {
      if (conn->in_request || conn->cut) continue;
      if (conn->deadline <= now) {
        // The connection thread wakes with EOF and closes it (then the notify erases it).
        if (conn->fd >= 0) ::shutdown(conn->fd, SHUT_RDWR);
        conn->cut = true;
        header_timeouts_.fetch_add(1, std::memory_order_relaxed);
      } else {
        next = std::min(next, conn->deadline);
      }
    }
    watchdog_cv_.wait_until(lock, next);
  }
}

int HttpServer::OnRequest(MHD_Connection* c, const char* url, const char* method, const char* upload_data,
                          size_t* upload_size, void** con_cls) {
  ServerRequest req;
  req.method = method ? method : "";
  req.path = url ? url : "";
  std::pair<std::map<std::string, std::string>*, bool> h{&req.headers, true};
  MHD_get_connection_values(c, MHD_HEADER_KIND, &CollectKv, &h);
  const std::string& clen = req.Header("content-length");
  const bool has_body = (!clen.empty() && clen != "0") || !req.Header("transfer-encoding").empty();
  uint64_t declared = 0;
  if (!clen.empty()) {
    try {
      declared = std::stoull(clen);
    } catch (const std::exception&) {
      declared = UINT64_MAX;
    }
  }

  ServerResponse resp;
  if (*con_cls == nullptr) {
    // First call: the headers are complete. A response queued now makes MHD close the
    // connection (it cannot know what of the request is left to read), so a request is answered
    // on the last call, once MHD knows it is complete; a body that is refused outright (none
    // allowed, or a declared length over the limit) is refused now, so it is never read.
    {
      std::lock_guard<std::mutex> lock(conns_mu_);
      auto it = conns_.find(c);
      if (it != conns_.end()) it->second->in_request = true;
    }
    *con_cls = new Pending;
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (!has_body) return 1;
    if (options_.max_body == 0) {
      resp = ServerResponse::Text(413, "this request takes no body");
    } else if (declared > options_.max_body) {
      resp = ServerResponse::Text(413, "request body over " + std::to_string(options_.max_body) + " bytes");
    } else {
      return 1;
    }
  } else if (*upload_size > 0) {
    auto* p = static_cast<Pending*>(*con_cls);
    if (!p->too_big && p->body.size() + *upload_size <= options_.max_body)
      p->body.append(upload_data, *upload_size);
    else
      p->too_big = true, p->body.clear();
    *upload_size = 0;
    return 1;
  } else if (static_cast<Pending*>(*con_cls)->too_big) {
    resp = ServerResponse::Text(413, "request body over " + std::to_string(options_.max_body) + " bytes");
  } else if (std::find(options_.methods.begin(), options_.methods.end(), req.method) == options_.methods.end()) {
    resp = ServerResponse::Text(405, "method not allowed");
    std::string allow;
    for (const auto& m : options_.methods) allow += (allow.empty() ? "" : ", ") + m;
    resp.With("Allow", allow);
  } else if (stopping()) {
    resp = ServerResponse::Text(503, "server is stopping");
  } else {
    req.body = std::move(static_cast<Pending*>(*con_cls)->body);
    std::pair<std::map<std::string, std::string>*, bool> q{&req.query, false};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &CollectKv, &q);
    try {
      resp = handler_(req);
    } catch (const std::exception& e) {
      resp = ServerResponse::Text(500, std::string("internal error: ") + e.what());
    }
  }

  MHD_Response* r = nullptr;
  if (resp.reader) {
    auto* s = new Stream{this, std::move(resp.reader)};
    r = MHD_create_response_from_callback(resp.length ? *resp.length : MHD_SIZE_UNKNOWN,
                                          options_.stream_block, &StreamCb, s, &FreeStream);
    if (!r) delete s;
  } else {
    r = MHD_create_response_from_buffer(resp.body.size(), resp.body.data(), MHD_RESPMEM_MUST_COPY);
  }
  if (!r) return 0;  // MHD closes the connection
  for (const auto& [name, value] : resp.headers) MHD_add_response_header(r, name.c_str(), value.c_str());
  const MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(resp.status), r);
  MHD_destroy_response(r);
  return ok == MHD_YES ? 1 : 0;
}

// --- addresses ---------------------------------------------------------------------------------

Result<std::pair<std::string, uint16_t>> ParseListenAddress(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return MakeError(Errc::kInvalidArgument, "bad listen address (want [V6]:PORT): " + std::string(text));
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      return MakeError(Errc::kInvalidArgument, "bad listen address (want HOST:PORT): " + std::string(text));
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host.empty()) host = "127.0.0.1";
  }
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return MakeError(Errc::kInvalidArgument, "bad port in listen address: " + std::string(text));
  const unsigned long port = std::stoul(std::string(port_text));
  if (port > 65535) return MakeError(Errc::kInvalidArgument, "port out of range: " + std::string(text));
  in6_addr a6;
  in_addr a4;
  if (host != "localhost" && inet_pton(AF_INET, host.c_str(), &a4) != 1 &&
      inet_pton(AF_INET6, host.c_str(), &a6) != 1)
    return MakeError(Errc::kInvalidArgument, "listen host must be a numeric IP address: " + host);
  return std::make_pair(host, static_cast<uint16_t>(port));
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  in_addr a4;
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6;
  if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

}  // namespace ipfskit
