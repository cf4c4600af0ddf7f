#include "core/ipns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/multiformats/multibase.h"
#include "core/source/http_client.h"

namespace ipfskit {
namespace {

constexpr uint16_t kClassIn = 1;
constexpr size_t kHeaderSize = 12;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view StripTrailingDot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

// The labels of a name we are willing to put on the wire. c-ares reads '\' as an escape, so it is
// refused rather than passed through with a different meaning than the DoH path would give it.
Result<std::vector<std::string_view>> SplitName(std::string_view fqdn) {
  std::string_view name = StripTrailingDot(fqdn);
  auto bad = [&](const std::string& why) {
    return MakeError(Errc::kInvalidArgument, "bad DNS name \"" + std::string(fqdn) + "\": " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > 253) return bad("longer than 253 bytes");
  std::vector<std::string_view> labels;
  size_t pos = 0;
  for (;;) {
    size_t dot = name.find('.', pos);
    std::string_view label =
        name.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
    if (label.empty()) return bad("empty label");
    if (label.size() > 63) return bad("label longer than 63 bytes");
    for (char c : label) {
      auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7f || c == '\\') return bad("space, control character or backslash");
    }
    labels.push_back(label);
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return labels;
}

void Put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

// Bounds-checked reads over one message.
class Reader {
 public:
  explicit Reader(ByteView msg) : msg_(msg) {}
  size_t pos() const { return pos_; }
  bool Has(size_t n) const { return n <= msg_.size() - pos_; }
  bool U8(uint8_t& v) {
    if (!Has(1)) return false;
    v = msg_[pos_++];
    return true;
  }
  bool U16(uint16_t& v) {
    if (!Has(2)) return false;
    v = static_cast<uint16_t>(msg_[pos_] << 8 | msg_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t& v) {
    if (!Has(4)) return false;
    v = static_cast<uint32_t>(msg_[pos_]) << 24 | static_cast<uint32_t>(msg_[pos_ + 1]) << 16 |
        static_cast<uint32_t>(msg_[pos_ + 2]) << 8 | msg_[pos_ + 3];
    pos_ += 4;
    return true;
  }
  bool Skip(size_t n) {
    if (!Has(n)) return false;
    pos_ += n;
    return true;
  }
  // Validates a (possibly compressed) name and moves past it. A pointer must point strictly
  // before the label that holds it, so every hop moves backwards and no loop is possible; the
  // expanded name is also capped at 255 bytes.
  bool SkipName() {
    size_t at = pos_;
    bool jumped = false;
    size_t expanded = 0;
    for (;;) {
      if (at >= msg_.size()) return false;
      uint8_t len = msg_[at];
      if ((len & 0xC0) == 0xC0) {
        if (at + 1 >= msg_.size()) return false;
        size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg_[at + 1];
        if (target >= at) return false;
        if (!jumped) pos_ = at + 2;
        jumped = true;
        at = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // 0x40/0x80 label types are obsolete or reserved
      expanded += len + 1;
      if (expanded > 255) return false;
      if (len == 0) {
        if (!jumped) pos_ = at + 1;
        return true;
      }
      if (len >= msg_.size() - at) return false;
      at += 1 + len;
    }
  }

 private:
  ByteView msg_;
  size_t pos_ = 0;
};

Error Malformed(const std::string& why) {
  return MakeError(Errc::kMalformed, "DNS response: " + why);
}

// The Result of a lookup from a parsed message: rcode mapped to the documented codes.
Result<TxtResult> FromMessage(const DnsMessage& m, const std::string& fqdn,
                              const std::string& via) {
  switch (m.rcode) {
    case 0:
      return m.txt;
    case 3:
      return MakeError(Errc::kNotFound, fqdn + ": NXDOMAIN (" + via + ")");
    case 2:
      return MakeError(Errc::kUnavailable, fqdn + ": SERVFAIL (" + via + ")");
    case 5:
      return MakeError(Errc::kUnavailable, fqdn + ": REFUSED (" + via + ")");
    default:
      return MakeError(Errc::kUnavailable,
                       fqdn + ": DNS rcode " + std::to_string(m.rcode) + " (" + via + ")");
  }
}

// ---- c-ares ----

void AresInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

struct AresOutcome {
  bool done = false;
  int status = ARES_SUCCESS;
  Bytes answer;
};

void OnAresAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* out = static_cast<AresOutcome*>(arg);
  out->done = true;
  out->status = status;
  if (abuf && alen > 0) out->answer.assign(abuf, abuf + alen);
}

struct ChannelCloser {
  void operator()(ares_channel ch) const { ares_destroy(ch); }
};
using Channel = std::unique_ptr<std::remove_pointer_t<ares_channel>, ChannelCloser>;

// One channel per lookup: no shared state between threads, and the channel (its sockets and any
// query in flight) is gone when LookupTxt returns. ares_init re-reads resolv.conf each time,
// which is cheap next to a network round trip and picks up edits.
class AresResolver final : public DnsResolver {
 public:
  AresResolver(std::string describe, std::string servers_csv)
      : describe_(std::move(describe)), servers_csv_(std::move(servers_csv)) {}

  Result<TxtResult> LookupTxt(const std::string& fqdn, std::chrono::milliseconds timeout) override {
    IPFSKIT_TRY_STATUS(SplitName(fqdn));
    std::string name(StripTrailingDot(fqdn));
    AresInitOnce();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // Declared before the channel: ares_destroy runs the callback (ARES_EDESTRUCTION) into it.
    AresOutcome out;
    ares_options opts{};
    // Per-try timeout; c-ares doubles it on later rounds. The deadline below is what bounds us.
    opts.timeout = static_cast<int>(std::clamp<long long>(timeout.count() / 4, 20, 2000));
    opts.tries = 3;
    // With one server there is nothing to fall back to, so let its SERVFAIL/REFUSED through
    // (c-ares would otherwise retry, then report only "could not contact DNS servers").
    opts.flags = ARES_FLAG_NOSEARCH | (servers_csv_.empty() ? 0 : ARES_FLAG_NOCHECKRESP);
    ares_channel raw = nullptr;
    int rc = ares_init_options(&raw, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
    if (rc != ARES_SUCCESS) {
      if (raw) ares_destroy(raw);
      return MakeError(Errc::kInternal, std::string("ares_init_options: ") + ares_strerror(rc));
    }
    Channel ch(raw);
    if (!servers_csv_.empty()) {
      rc = ares_set_servers_ports_csv(ch.get(), servers_csv_.c_str());
      if (rc != ARES_SUCCESS)
        return MakeError(Errc::kInvalidArgument, describe_ + ": " + ares_strerror(rc));
    }
    ares_query(ch.get(), name.c_str(), kClassIn, kDnsTypeTxt, &OnAresAnswer, &out);
    while (!out.done) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      int bits = ares_getsock(ch.get(), socks, ARES_GETSOCK_MAXNUM);
      pollfd pfds[ARES_GETSOCK_MAXNUM];
      nfds_t n = 0;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events) pfds[n++] = pollfd{socks[i], events, 0};
      }
      timeval maxtv{static_cast<time_t>(left.count() / 1000000),
                    static_cast<suseconds_t>(left.count() % 1000000)};
      timeval tv{};
      timeval* next = ares_timeout(ch.get(), &maxtv, &tv);
      int ms = static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);
      int r = poll(pfds, n, ms);
      if (r < 0 && errno != EINTR)
        return MakeError(Errc::kNetwork, describe_ + ": poll: " + std::string(strerror(errno)));
      if (r <= 0) {
        ares_process_fd(ch.get(), ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // expire timed-out tries
        continue;
      }
      for (nfds_t i = 0; i < n && !out.done; ++i) {
        if (!pfds[i].revents) continue;
        bool readable = pfds[i].revents & (POLLIN | POLLERR | POLLHUP);
        bool writable = pfds[i].revents & POLLOUT;
        ares_process_fd(ch.get(), readable ? pfds[i].fd : ARES_SOCKET_BAD,
                        writable ? pfds[i].fd : ARES_SOCKET_BAD);
      }
    }
    const std::string via = describe_;
    if (!out.done)
      return MakeError(Errc::kTimeout, name + ": no DNS answer within " +
                                           std::to_string(timeout.count()) + " ms (" + via + ")");
    switch (out.status) {
      case ARES_SUCCESS:
      case ARES_ENODATA: {
        if (out.answer.empty()) return TxtResult{};
        IPFSKIT_ASSIGN_OR_RETURN(DnsMessage m, ParseDnsResponse(out.answer));
        return FromMessage(m, name, via);
      }
      case ARES_ENOTFOUND:
        return MakeError(Errc::kNotFound, name + ": NXDOMAIN (" + via + ")");
      case ARES_ESERVFAIL:
      case ARES_EREFUSED:
      case ARES_ENOTIMP:
      case ARES_EFORMERR:
        return MakeError(Errc::kUnavailable,
                         name + ": " + ares_strerror(out.status) + " (" + via + ")");
      case ARES_ETIMEOUT:
        return MakeError(Errc::kTimeout,
                         name + ": " + ares_strerror(out.status) + " (" + via + ")");
      case ARES_EBADRESP:
        return Malformed(name + ": " + ares_strerror(out.status) + " (" + via + ")");
      case ARES_EBADNAME:
        return MakeError(Errc::kInvalidArgument, name + ": " + ares_strerror(out.status));
      case ARES_ECONNREFUSED:
        // From resolv.conf's servers this is also what c-ares reports after every one answered
        // SERVFAIL/REFUSED, so it is a server failure rather than a connection error there.
        return MakeError(servers_csv_.empty() ? Errc::kUnavailable : Errc::kNetwork,
                         name + ": " + ares_strerror(out.status) + " (" + via + ")");
      case ARES_ENOMEM:
        return MakeError(Errc::kInternal, name + ": " + ares_strerror(out.status));
      default:
        return MakeError(Errc::kNetwork,
                         name + ": " + ares_strerror(out.status) + " (" + via + ")");
    }
  }

  std::string Describe() const override { return describe_; }

 private:
  std::string describe_;
  std::string servers_csv_;  // empty: resolv.conf
};

// "udp://HOST:PORT" → the c-ares server CSV ("HOST:PORT" or "[v6]:PORT").
Result<std::string> UdpServerCsv(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return MakeError(Errc::kInvalidArgument, "DNS resolver \"" + spec + "\": " + why);
  };
  std::string_view rest = std::string_view(spec).substr(6);
  std::string host, port;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return bad("expected udp://[IPv6]:PORT");
    host = std::string(rest.substr(1, close - 1));
    port = std::string(rest.substr(close + 2));
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return bad("not an IPv6 address: " + host);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("expected udp://HOST:PORT");
    host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
    in_addr a4;
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1)
      return bad("HOST must be an IP address: " + host);
  }
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    return bad("bad port \"" + port + "\"");
  return host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
}

// ---- DNS over HTTPS ----

class DohResolver final : public DnsResolver {
 public:
  DohResolver(std::string spec, std::string url, bool get, std::shared_ptr<HttpClient> http)
      : spec_(std::move(spec)), url_(std::move(url)), get_(get), http_(std::move(http)) {}

  Result<TxtResult> LookupTxt(const std::string& fqdn, std::chrono::milliseconds timeout) override {
    std::string name(StripTrailingDot(fqdn));
    // Id 0 (RFC 8484 §4.1): responses stay cacheable; HTTP already pairs answer and question.
    IPFSKIT_ASSIGN_OR_RETURN(Bytes query, EncodeDnsQuery(name, kDnsTypeTxt, 0));
    HttpRequest req;
    req.timeout = timeout;
    req.connect_timeout = std::min(req.connect_timeout, timeout);
    req.max_body = 65535;  // the largest DNS message
    req.headers.push_back("Accept: application/dns-message");
    if (get_) {
      req.method = "GET";
      req.url = url_ + (url_.find('?') == std::string::npos ? "?" : "&") +
                "dns=" + EncodeBase(Multibase::kBase64Url, query);
    } else {
      req.method = "POST";
      req.url = url_;
      req.headers.push_back("Content-Type: application/dns-message");
      req.body = std::move(query);
    }
    auto r = http_->Fetch(std::move(req));
    if (!r.ok())
      return MakeError(r.error().code, "DoH " + spec_ + ": " + name + ": " + r.error().message);
    const HttpResponse& resp = *r;
    if (resp.status / 100 != 2) {
      Errc code = resp.status / 100 == 5 ? Errc::kUnavailable : Errc::kHttp;
      return MakeError(code,
                       "DoH " + spec_ + ": " + name + ": HTTP " + std::to_string(resp.status));
    }
    std::string ct = Lower(resp.content_type.substr(0, resp.content_type.find(';')));
    while (!ct.empty() && ct.back() == ' ') ct.pop_back();
    if (ct != "application/dns-message")
      return MakeError(Errc::kMalformed, "DoH " + spec_ + ": " + name + ": Content-Type \"" +
                                             resp.content_type +
                                             "\", expected application/dns-message");
    auto m = ParseDnsResponse(resp.body);
    if (!m.ok())
      return MakeError(Errc::kMalformed, "DoH " + spec_ + ": " + name + ": " + m.error().message);
    if (m->id != 0)
      return Malformed("DoH " + spec_ + ": " + name + ": answer id " + std::to_string(m->id) +
                       ", sent 0");
    return FromMessage(*m, name, spec_);
  }

  std::string Describe() const override { return spec_; }

 private:
  std::string spec_;  // as configured, "#get" included
  std::string url_;
  bool get_;
  std::shared_ptr<HttpClient> http_;
};

}  // namespace

Result<Bytes> EncodeDnsQuery(std::string_view fqdn, uint16_t type, uint16_t id) {
  IPFSKIT_ASSIGN_OR_RETURN(auto labels, SplitName(fqdn));
  Bytes b;
  b.reserve(kHeaderSize + fqdn.size() + 6);
  Put16(b, id);
  Put16(b, 0x0100);  // RD
  Put16(b, 1);       // QDCOUNT
  Put16(b, 0);
  Put16(b, 0);
  Put16(b, 0);
  for (std::string_view l : labels) {
    b.push_back(static_cast<uint8_t>(l.size()));
    Append(b, AsBytes(l));
  }
  b.push_back(0);
  Put16(b, type);
  Put16(b, kClassIn);
  return b;
}

Result<DnsMessage> ParseDnsResponse(ByteView msg) {
  Reader r(msg);
  DnsMessage m;
  uint16_t flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
  if (!r.U16(m.id) || !r.U16(flags) || !r.U16(qd) || !r.U16(an) || !r.U16(ns) || !r.U16(ar))
    return Malformed("shorter than the 12-byte header (" + std::to_string(msg.size()) + " bytes)");
  if (!(flags & 0x8000)) return Malformed("QR bit clear: a query, not a response");
  m.truncated = flags & 0x0200;
  m.rcode = flags & 0x000F;
  for (uint16_t i = 0; i < qd; ++i) {
    if (!r.SkipName() || !r.Skip(4))
      return Malformed("question " + std::to_string(i) + " runs past the end");
  }
  bool any_ttl = false;
  uint32_t min_ttl = 0;
  for (uint16_t i = 0; i < an; ++i) {
    uint16_t type = 0, cls = 0, rdlen = 0;
    uint32_t ttl = 0;
    if (!r.SkipName() || !r.U16(type) || !r.U16(cls) || !r.U32(ttl) || !r.U16(rdlen) ||
        !r.Has(rdlen))
      return Malformed("answer " + std::to_string(i) + " runs past the end");
    if (ttl & 0x80000000u) ttl = 0;
    min_ttl = any_ttl ? std::min(min_ttl, ttl) : ttl;
    any_ttl = true;
    size_t rdata = r.pos();
    if (type == kDnsTypeTxt && cls == kClassIn) {
      std::string joined;
      size_t at = rdata;
      while (at < rdata + rdlen) {
        size_t len = msg[at];
        if (len > rdata + rdlen - at - 1)
          return Malformed("TXT character-string overruns its record");
        joined.append(reinterpret_cast<const char*>(msg.data() + at + 1), len);
        at += 1 + len;
      }
      m.txt.records.push_back(std::move(joined));
    } else if (type == kDnsTypeCname) {
      Reader target(msg.first(rdata + rdlen));
      target.Skip(rdata);
      if (!target.SkipName() || target.pos() != rdata + rdlen) return Malformed("bad CNAME target");
    }
    r.Skip(rdlen);
  }
  m.txt.ttl_s = min_ttl;
  return m;
}

Result<std::string> ParseDnslink(std::string_view domain,
                                 const std::vector<std::string>& txt_records) {
  std::vector<std::string> paths;
  for (const std::string& rec : txt_records) {
    std::string_view t = rec;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    constexpr std::string_view kPrefix = "dnslink=";
    if (t.substr(0, kPrefix.size()) != kPrefix) continue;
    t.remove_prefix(kPrefix.size());
    // The namespace must be followed by a name: "/ipfs/" alone points nowhere.
    if ((t.starts_with("/ipfs/") && t.size() > 6) || (t.starts_with("/ipns/") && t.size() > 6))
      paths.emplace_back(t);
  }
  if (paths.empty())
    return MakeError(Errc::kNotFound, "no DNSLink record found for " + std::string(domain) +
                                          " (TXT _dnslink." + std::string(domain) + ")");
  if (paths.size() > 1)
    return MakeError(Errc::kInvalidArgument,
                     std::string(domain) + " has " + std::to_string(paths.size()) +
                         " DNSLink records; ask the domain owner to remove the "
                         "duplicate TXT records");
  return paths.front();
}

Result<std::shared_ptr<DnsResolver>> MakeDnsResolver(const std::string& spec,
                                                     std::shared_ptr<HttpClient> http) {
  if (spec == "system")
    return std::shared_ptr<DnsResolver>(std::make_shared<AresResolver>("system", ""));
  if (spec.starts_with("udp://")) {
    IPFSKIT_ASSIGN_OR_RETURN(std::string csv, UdpServerCsv(spec));
    return std::shared_ptr<DnsResolver>(std::make_shared<AresResolver>(spec, csv));
  }
  if (spec.starts_with("https://") || spec.starts_with("http://")) {
    std::string url = spec;
    bool get = false;
    if (url.ends_with("#get")) {
      url.resize(url.size() - 4);
      get = true;
    }
    size_t host_at = url.find("://") + 3;
    if (host_at >= url.size() || url[host_at] == '/' || url.find('#') != std::string::npos)
      return MakeError(Errc::kInvalidArgument, "DNS resolver \"" + spec + "\": not a DoH URL");
    if (!http)
      return MakeError(Errc::kInvalidArgument,
                       "DNS resolver \"" + spec + "\": DoH needs an HttpClient");
    return std::shared_ptr<DnsResolver>(
        std::make_shared<DohResolver>(spec, url, get, std::move(http)));
  }
  return MakeError(
      Errc::kInvalidArgument,
      "DNS resolver \"" + spec + "\": expected \"system\", udp://HOST:PORT, https://… or http://…");
}

Result<DnsResolverSet> DnsResolverSet::FromConfig(
    const std::map<std::string, std::string>& resolvers, std::shared_ptr<HttpClient> http) {
  DnsResolverSet set;
  for (const auto& [key, value] : resolvers) {
    if (key.empty() || key.back() != '.')
      return MakeError(Errc::kInvalidArgument,
                       "DNS.Resolvers key \"" + key + "\": must end with a dot");
    std::string suffix = Lower(key == "." ? "" : std::string_view(key).substr(0, key.size() - 1));
    if (!suffix.empty()) {
      auto labels = SplitName(suffix);
      if (!labels.ok())
        return MakeError(Errc::kInvalidArgument,
                         "DNS.Resolvers key \"" + key + "\": " + labels.error().message);
    }
    std::string spec = value.empty() || value == "auto" ? "system" : value;
    auto r = MakeDnsResolver(spec, http);
    if (!r.ok())
      return MakeError(Errc::kInvalidArgument,
                       "DNS.Resolvers[\"" + key + "\"]: " + r.error().message);
    set.by_suffix_[suffix] = std::move(*r);
  }
  if (!set.by_suffix_.count("")) set.by_suffix_[""] = std::make_shared<AresResolver>("system", "");
  return set;
}

DnsResolver& DnsResolverSet::For(std::string_view fqdn) const {
  std::string name = Lower(StripTrailingDot(fqdn));
  std::string_view rest = name;
  for (;;) {
    if (auto it = by_suffix_.find(std::string(rest)); it != by_suffix_.end()) return *it->second;
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return *by_suffix_.at("");
}

}  // namespace ipfskit
