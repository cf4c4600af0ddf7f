// A real dnsmasq on 127.0.0.1 for tests: authoritative-ish for the zone "test" (names in it
// without a record are NXDOMAIN, names outside it REFUSED), TXT records from its command line,
// restartable on the same port with other records and another TTL (a zone change). ForwardDoh
// makes a FakeHttpServer a DNS-over-HTTPS front (RFC 8484, POST or GET ?dns=) for it.
// Everything stays on loopback.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/ipns/dns.h"
#include "core/multiformats/multibase.h"
#include "tests/fakes/fake_http_server.h"

namespace ipfskit::testing {

// A port free for both UDP and TCP right now.
inline int FreePort() {
  for (;;) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(u, reinterpret_cast<sockaddr*>(&a), &len);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(t);
    close(u);
    if (ok) return ntohs(a.sin_port);
  }
}

// One UDP round trip to 127.0.0.1:port, for probing readiness and for the DoH front. Empty on
// timeout.
inline std::string UdpExchange(int port, const std::string& query, std::chrono::milliseconds timeout) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd pf{fd, POLLIN, 0};
  std::string out;
  if (poll(&pf, 1, static_cast<int>(timeout.count())) == 1) {
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) out.assign(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

// A real dnsmasq serving TXT records for the zone "test" (anything else in it is NXDOMAIN) on
// 127.0.0.1:port. Restartable on the same port with different records.
class Dnsmasq {
 public:
  explicit Dnsmasq(std::vector<std::string> txt_records, int ttl = 77) : port_(FreePort()) {
    Start(std::move(txt_records), ttl);
  }
  ~Dnsmasq() { Stop(); }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // `txt_records`: "name,string[,string…]" as --txt-record takes them (dnsmasq keeps quotes
  // and splits strings at commas). `ttl`: --local-ttl, the TTL of every answer.
  void Start(std::vector<std::string> txt_records, int ttl = 77) {
    using namespace std::chrono_literals;
    log_ = ::testing::TempDir() + "dnsmasq-" + std::to_string(port_) + ".log";
    std::vector<std::string> args = {"dnsmasq",
                                     "-k",
                                     "--conf-file=/dev/null",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--port=" + std::to_string(port_),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--pid-file=",
                                     "--local=/test/",
                                     "--local-ttl=" + std::to_string(ttl),
                                     "--log-facility=-",
                                     "--txt-record=ready.test,ready"};
    if (geteuid() == 0) args.push_back("--user=root");
    for (auto& r : txt_records) args.push_back("--txt-record=" + r);
    // Built before fork: the child of a threaded process only opens, dups and execs.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const char* log = log_.c_str();
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execvp("dnsmasq", argv.data());
      _exit(127);
    }
    // Ready when it answers; a dnsmasq that exited is a failure with its log.
    auto query = EncodeDnsQuery("ready.test", kDnsTypeTxt, 42);
    ASSERT_TRUE(query.ok());
    std::string q(AsChars(*query));
    for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "dnsmasq exited: " << Log();
      }
      if (!UdpExchange(port_, q, 100ms).empty()) return;
    }
    FAIL() << "dnsmasq not answering on port " << port_ << ": " << Log();
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string spec() const { return "udp://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  int port_;
  pid_t pid_ = -1;
  std::string log_;
};

// A DoH front: decodes the query from the POST body (which must be application/dns-message, else
// 415) or from ?dns= (base64url), forwards it over UDP to 127.0.0.1:port and answers 200
// application/dns-message; 502 when the upstream does not answer within a second.
inline FakeResponse ForwardDoh(const FakeRequest& req, int port) {
  using namespace std::chrono_literals;
  auto reply = [](int status, std::string content_type, std::string body) {
    FakeResponse r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.body = std::move(body);
    return r;
  };
  std::string query;
  if (req.method == "POST") {
    if (req.headers.count("content-type") == 0 || req.headers.at("content-type") != "application/dns-message")
      return reply(415, "text/plain", "want application/dns-message");
    query = req.body;
  } else {
    auto decoded = DecodeBase(Multibase::kBase64Url, req.Param("dns"));
    if (!decoded.ok()) return reply(400, "text/plain", "bad dns param");
    query = std::string(AsChars(*decoded));
  }
  std::string answer = UdpExchange(port, query, 1s);
  if (answer.empty()) return reply(502, "text/plain", "upstream timeout");
  return reply(200, "application/dns-message", answer);
}

}  // namespace ipfskit::testing
