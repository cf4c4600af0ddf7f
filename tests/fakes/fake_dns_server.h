// FakeDnsServer: a DNS server on 127.0.0.1 (UDP and TCP on the same port) for tests, which answers
// every query with the configured TXT records or misbehaves on purpose: SERVFAIL/REFUSED/
// NXDOMAIN, random garbage, a well-formed header over a cut-off answer, a truncated (TC) UDP
// answer whose full version is served over TCP, a wrong id, or silence. One thread serves both
// sockets; the destructor stops and joins it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ipfskit::testing {

class FakeDnsServer {
 public:
  enum class Mode {
    kAnswer,     // rcode + the TXT records
    kGarbage,    // random bytes (no valid header for the query)
    kBadAnswer,  // the right id and question, an answer section cut off mid-record
    kTruncate,   // UDP: TC set and no answers; TCP: the full answer
    kWrongId,    // the answer with id+1
    kSilent,     // read the query, never answer
  };
  struct Behaviour {
    Mode mode = Mode::kAnswer;
    int rcode = 0;
    std::vector<std::vector<std::string>> txt;  // records, each a list of character-strings
    uint32_t ttl = 300;
  };

  FakeDnsServer() {
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    // UDP and TCP on one port: take a UDP port, then try TCP on it (another process may hold it).
    for (int attempt = 0; attempt < 50 && tcp_fd_ < 0; ++attempt) {
      udp_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a = Loopback(0);
      if (bind(udp_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("bind udp");
      socklen_t len = sizeof a;
      getsockname(udp_fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
      int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(t, 16) == 0) {
        tcp_fd_ = t;
      } else {
        close(t);
        close(udp_fd_);
      }
    }
    if (tcp_fd_ < 0) throw std::runtime_error("no port free for both UDP and TCP");
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeDnsServer() {
    uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
    close(udp_fd_);
    close(tcp_fd_);
    close(stop_fd_);
  }

  int port() const { return port_; }
  std::string spec() const { return "udp://127.0.0.1:" + std::to_string(port_); }
  void Set(Behaviour b) {
    std::lock_guard<std::mutex> lock(mu_);
    behaviour_ = std::move(b);
  }
  int udp_queries() const { return udp_queries_.load(); }
  int tcp_queries() const { return tcp_queries_.load(); }

  // The response to `query` for `b` (TCP when `tcp`); empty for no answer.
  static std::string Respond(const std::string& query, const Behaviour& b, bool tcp) {
    if (b.mode == Mode::kSilent) return "";
    if (b.mode == Mode::kGarbage) {
      std::string g;
      uint32_t x = 0x9e3779b9u;
      for (int i = 0; i < 40; ++i)
        g.push_back(static_cast<char>((x = x * 1664525u + 1013904223u) >> 24));
      return g;
    }
    // The question ends after the (uncompressed) name and type/class.
    size_t at = 12;
    while (at < query.size() && query[at] != 0) at += 1 + static_cast<uint8_t>(query[at]);
    at += 5;
    if (query.size() < 12 || at > query.size()) return "";
    std::string out = query.substr(0, at);
    uint16_t id =
        static_cast<uint16_t>(static_cast<uint8_t>(out[0]) << 8 | static_cast<uint8_t>(out[1]));
    if (b.mode == Mode::kWrongId) id = static_cast<uint16_t>(id + 1);
    bool tc = b.mode == Mode::kTruncate && !tcp;
    uint16_t flags = static_cast<uint16_t>(0x8180 | (tc ? 0x0200 : 0) | (b.rcode & 0xF));
    size_t answers = tc ? 0 : b.txt.size();
    Put16(out, 0, id);
    Put16(out, 2, flags);
    Put16(out, 4, 1);
    Put16(out, 6, static_cast<uint16_t>(answers));
    Put16(out, 8, 0);
    Put16(out, 10, 0);
    for (size_t i = 0; i < answers; ++i) {
      std::string rdata;
      for (const auto& s : b.txt[i]) {
        rdata.push_back(static_cast<char>(s.size()));
        rdata += s;
      }
      out += std::string("\xC0\x0C\x00\x10\x00\x01", 6);
      for (int sh : {24, 16, 8, 0}) out.push_back(static_cast<char>(b.ttl >> sh));
      out.push_back(static_cast<char>(rdata.size() >> 8));
      out.push_back(static_cast<char>(rdata.size()));
      out += rdata;
    }
    if (b.mode == Mode::kBadAnswer) {
      Put16(out, 6, 1);
      out += std::string("\xC0\x0C\x00\x10\x00\x01\x00\x00", 8);  // stops inside the TTL
    }
    return out;
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
  }
  static void Put16(std::string& s, size_t at, uint16_t v) {
    s[at] = static_cast<char>(v >> 8);
    s[at + 1] = static_cast<char>(v);
  }
  Behaviour Current() {
    std::lock_guard<std::mutex> lock(mu_);
    return behaviour_;
  }

  // Reads exactly n bytes from a TCP client, giving up after a second or on stop.
  bool ReadTcp(int fd, char* p, size_t n) {
    while (n > 0) {
      pollfd pf[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (poll(pf, 2, 1000) <= 0 || pf[1].revents) return false;
      ssize_t r = recv(fd, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }

  void ServeTcp(int fd) {
    for (;;) {
      unsigned char len[2];
      if (!ReadTcp(fd, reinterpret_cast<char*>(len), 2)) break;
      std::string q(static_cast<size_t>(len[0] << 8 | len[1]), '\0');
      if (!ReadTcp(fd, q.data(), q.size())) break;
      tcp_queries_.fetch_add(1);
      std::string a = Respond(q, Current(), true);
      if (a.empty()) continue;
      std::string framed;
      framed.push_back(static_cast<char>(a.size() >> 8));
      framed.push_back(static_cast<char>(a.size()));
      framed += a;
      if (send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(framed.size()))
        break;
    }
    close(fd);
  }

  void Loop() {
    for (;;) {
      pollfd pf[3] = {{udp_fd_, POLLIN, 0}, {tcp_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (poll(pf, 3, -1) < 0) continue;
      if (pf[2].revents) return;
      if (pf[0].revents & POLLIN) {
        char buf[4096];
        sockaddr_in from{};
        socklen_t flen = sizeof from;
        ssize_t n =
            recvfrom(udp_fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n > 0) {
          udp_queries_.fetch_add(1);
          std::string a = Respond(std::string(buf, static_cast<size_t>(n)), Current(), false);
          if (!a.empty())
            sendto(udp_fd_, a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
        }
      }
      if (pf[1].revents & POLLIN) {
        int c = accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) ServeTcp(c);  // one client at a time is enough for these tests
      }
    }
  }

  int udp_fd_ = -1, tcp_fd_ = -1, stop_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  Behaviour behaviour_;
  std::atomic<int> udp_queries_{0}, tcp_queries_{0};
};

}  // namespace ipfskit::testing
