// DNS TXT lookups for DNSLink: the system resolver and plain DNS servers through c-ares, and
// DNS-over-HTTPS (RFC 8484, application/dns-message, POST or GET) through HttpClient; a
// resolver chosen per domain suffix as Kubo's DNS.Resolvers; and DNSLink TXT parsing.
//
// Every lookup has a deadline; none blocks past it (kTimeout). Outcomes:
//   Ok with the TXT strings (possibly none: NOERROR/NODATA) and the smallest answer TTL;
//   kNotFound for NXDOMAIN; kUnavailable for SERVFAIL/REFUSED and other server failures;
//   kTimeout; kNetwork; kMalformed for an answer that does not parse (or, for DoH, a response
//   whose Content-Type is not application/dns-message); for DoH also kTruncated (the body ended
//   early) and kHttp (a non-2xx status other than 5xx; 5xx is kUnavailable).
// kInvalidArgument for a name that cannot be queried (empty label, label over 63 bytes, name
// over 253 bytes, a backslash or a control character).
//
// Thread safety: LookupTxt may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

class HttpClient;

struct TxtResult {
  // One entry per TXT record, its character-strings joined (a >255-byte record split into
  // several strings comes back whole).
  std::vector<std::string> records;
  uint32_t ttl_s = 0;  // minimum over the answers (CNAME hops included); 0 when none
};

class DnsResolver {
 public:
  virtual ~DnsResolver() = default;
  // `fqdn` without the trailing dot.
  virtual Result<TxtResult> LookupTxt(const std::string& fqdn, std::chrono::milliseconds timeout) = 0;
  virtual std::string Describe() const = 0;  // "system", "udp://127.0.0.1:5353", the DoH URL
};

// "system" (resolv.conf via c-ares), "udp://HOST:PORT" (one server, an IP literal, "[v6]:PORT"
// for IPv6; UDP then TCP on truncation), "https://…"/"http://…" (DoH; POST unless the URL ends
// in "#get", then GET ?dns=). `http` is used only for DoH (required there); the resolver keeps a
// reference to it. Anything else is kInvalidArgument naming the spec.
Result<std::shared_ptr<DnsResolver>> MakeDnsResolver(const std::string& spec, std::shared_ptr<HttpClient> http);

// Kubo's DNS.Resolvers: keys are domain suffixes with a trailing dot ("eth.", "example.org."),
// "." is the default; the longest matching suffix wins. Without "." the system resolver is used.
// Keys match whole labels, case-insensitively ("eth." matches "a.eth", not "beth"). A value of
// "" or "auto" means the system resolver (there is no AutoConf here). A bad key or value is
// kInvalidArgument naming it. For() is thread-safe; the returned resolver lives as long as the set.
class DnsResolverSet {
 public:
  static Result<DnsResolverSet> FromConfig(const std::map<std::string, std::string>& resolvers,
                                           std::shared_ptr<HttpClient> http);
  DnsResolver& For(std::string_view fqdn) const;

 private:
  std::map<std::string, std::shared_ptr<DnsResolver>> by_suffix_;  // "" = default
};

// DNS wire format (RFC 1035), used by DoH and exposed for the fuzz target and tests.
// A query for (fqdn, type) with the given id and RD set; kInvalidArgument for a name that cannot
// be encoded (see above). A trailing dot is allowed.
Result<Bytes> EncodeDnsQuery(std::string_view fqdn, uint16_t type, uint16_t id);
constexpr uint16_t kDnsTypeTxt = 16;
constexpr uint16_t kDnsTypeCname = 5;
struct DnsMessage {
  uint16_t id = 0;
  int rcode = 0;
  bool truncated = false;
  TxtResult txt;  // TXT answers (for any owner name in the answer section) and the min TTL
};
// Parses a response, compression pointers included (loops and out-of-range refused): kMalformed
// for anything that is not a well-formed response (QR clear, a section past the end, a TXT
// rdata whose character-strings do not fill it exactly). Authority/additional are not read.
// A TTL with the top bit set counts as 0 (RFC 2181 §8).
Result<DnsMessage> ParseDnsResponse(ByteView msg);

// DNSLink from the TXT records of _dnslink.<domain>: only "dnslink=/ipfs/…" and
// "dnslink=/ipns/…" count (other TXT beside them are ignored). Exactly one must remain:
// none → kNotFound "no DNSLink record found for <domain> (TXT _dnslink.<domain>)"; more than one
// → kInvalidArgument "<domain> has N DNSLink records; ask the domain owner to remove the
// duplicate TXT records". Returns the path ("/ipfs/bafy…/sub").
Result<std::string> ParseDnslink(std::string_view domain, const std::vector<std::string>& txt_records);

}  // namespace ipfskit
