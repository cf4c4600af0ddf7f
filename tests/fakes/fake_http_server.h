// FakeHttpServer: a tiny HTTP/1.1 server on 127.0.0.1 for tests, with keep-alive, whose
// handler can misbehave on purpose: truncate the body after announcing its length, drip it a
// byte at a time, never answer, or drop the connection. One thread per connection; the
// destructor unblocks and joins every thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ipfskit::testing {

struct FakeRequest {
  std::string method;
  std::string target;  // path?query
  std::string path;
  std::string query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;  // Content-Length bytes (no chunked bodies)
  // Value of query parameter `name`, or "".
  std::string Param(const std::string& name) const {
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      size_t eq = kv.find('=');
      if (kv.substr(0, eq) == name) return eq == std::string::npos ? "" : kv.substr(eq + 1);
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    return "";
  }
};

struct FakeResponse {
  enum class Mode {
    kNormal,
    kTruncate,  // announce the full Content-Length, send truncate_at bytes, close
    kDrip,      // send one byte per drip_interval
    kHang,      // read the request, never answer (until the server stops)
    kClose,     // close the connection without a response
  };
  int status = 200;
  std::string content_type = "application/octet-stream";
  std::string body;
  Mode mode = Mode::kNormal;
  size_t truncate_at = 0;
  std::chrono::milliseconds drip_interval{200};
  std::vector<std::string> extra_headers;
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 64) != 0)
      throw std::runtime_error("bind/listen on 127.0.0.1");
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeHttpServer() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      for (int fd : conns_) shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    close(listen_fd_);
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  std::vector<FakeRequest> log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

 private:
  void AcceptLoop() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopped_) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) {
        close(fd);
        return;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // no Nagle/delayed-ACK stalls
      connections_.fetch_add(1);
      conns_.insert(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  bool Stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }
  void WaitUntilStopped() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_; });
  }
  // Sleeps, returning false early when the server stops.
  bool SleepFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stopped_; });
  }

  static bool SendAll(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void Serve(int fd) {
    std::string buf;
    char tmp[8192];
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0) return Close(fd);
        buf.append(tmp, static_cast<size_t>(r));
      }
      FakeRequest req;
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      size_t line_end = head.find("\r\n");
      std::string line = head.substr(0, line_end);
      size_t s1 = line.find(' '), s2 = line.find(' ', s1 + 1);
      req.method = line.substr(0, s1);
      req.target = line.substr(s1 + 1, s2 - s1 - 1);
      size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string h = head.substr(pos, e - pos);
        size_t colon = h.find(':');
        if (colon != std::string::npos) {
          std::string name = h.substr(0, colon);
          for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          size_t vb = h.find_first_not_of(' ', colon + 1);
          req.headers[name] = vb == std::string::npos ? "" : h.substr(vb);
        }
        pos = e + 2;
      }
      size_t content_length = 0;
      if (auto it = req.headers.find("content-length"); it != req.headers.end())
        content_length = std::stoul(it->second);
      while (buf.size() < content_length) {
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0) return Close(fd);
        buf.append(tmp, static_cast<size_t>(r));
      }
      req.body = buf.substr(0, content_length);
      buf.erase(0, content_length);
      requests_.fetch_add(1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        log_.push_back(req);
      }
      FakeResponse resp = handler_(req);
      using M = FakeResponse::Mode;
      if (resp.mode == M::kClose) return Close(fd);
      if (resp.mode == M::kHang) {
        WaitUntilStopped();
        return Close(fd);
      }
      std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + Reason(resp.status) + "\r\n";
      out += "Content-Type: " + resp.content_type + "\r\n";
      out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
      for (const auto& h : resp.extra_headers) out += h + "\r\n";
      out += "\r\n";
      if (!SendAll(fd, out.data(), out.size())) return Close(fd);
      if (resp.mode == M::kTruncate) {
        SendAll(fd, resp.body.data(), std::min(resp.truncate_at, resp.body.size()));
        return Close(fd);
      }
      if (resp.mode == M::kDrip) {
        for (char ch : resp.body) {
          if (!SleepFor(resp.drip_interval) || !SendAll(fd, &ch, 1)) return Close(fd);
        }
        continue;
      }
      if (!SendAll(fd, resp.body.data(), resp.body.size())) return Close(fd);
    }
  }

  void Close(int fd) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns_.erase(fd);
    }
    close(fd);
  }

  static std::string Reason(int status) {
    switch (status) {
      case 200: return "OK";
      case 400: return "Bad Request";
      case 404: return "Not Found";
      case 405: return "Method Not Allowed";
      case 500: return "Internal Server Error";
      case 502: return "Bad Gateway";
      case 503: return "Service Unavailable";
      default: return "Status";
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::set<int> conns_;
  std::vector<std::thread> threads_;
  std::vector<FakeRequest> log_;
  std::atomic<int> requests_{0}, connections_{0};
};

}  // namespace ipfskit::testing
