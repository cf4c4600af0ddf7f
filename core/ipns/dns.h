// DNS TXT lookups for DNSLink: the system resolver and plain DNS servers through c-ares, and
// DNS-over-HTTPS (RFC 8484, application/dns-message, POST or GET) through HttpClient; a
// resolver chosen per domain suffix as Kubo's DNS.Resolvers; and DNSLink TXT parsing.
//
// Every lookup has a deadline; none blocks past it (kTimeout). Outcomes:
//   Ok with the TXT strings (possibly none: NOERROR/NODATA) and the smallest answer TTL;
//   kNotFound for NXDOMAIN; kUnavailable for SERVFAIL/REFUSED and other server failures;
//   kTimeout; kNetwork; kMalformed for an answer that does not parse.
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

// "system" (resolv.conf via c-ares), "udp://HOST:PORT" (one server, UDP then TCP on truncation),
// "https://…"/"http://…" (DoH; POST unless the URL ends in "#get", then GET ?dns=). `http` must
// outlive the resolver and is used only for DoH.
Result<std::shared_ptr<DnsResolver>> MakeDnsResolver(const std::string& spec, std::shared_ptr<HttpClient> http);

// Kubo's DNS.Resolvers: keys are domain suffixes with a trailing dot ("eth.", "example.org."),
// "." is the default; the longest matching suffix wins. Without "." the system resolver is used.
class DnsResolverSet {
 public:
  static Result<DnsResolverSet> FromConfig(const std::map<std::string, std::string>& resolvers,
                                           std::shared_ptr<HttpClient> http);
  DnsResolver& For(std::string_view fqdn) const;

 private:
  std::map<std::string, std::shared_ptr<DnsResolver>> by_suffix_;  // "" = default
};

// DNS wire format (RFC 1035), used by DoH and exposed for the fuzz target and tests.
// A query for (name, TXT) with the given id and RD set.
Bytes EncodeDnsQuery(std::string_view fqdn, uint16_t type, uint16_t id);
constexpr uint16_t kDnsTypeTxt = 16;
constexpr uint16_t kDnsTypeCname = 5;
struct DnsMessage {
  uint16_t id = 0;
  int rcode = 0;
  bool truncated = false;
  TxtResult txt;  // TXT answers (for any owner name in the answer section) and the min TTL
};
// Parses a response, compression pointers included (loops and out-of-range refused).
Result<DnsMessage> ParseDnsResponse(ByteView msg);

// DNSLink from the TXT records of _dnslink.<domain>: only "dnslink=/ipfs/…" and
// "dnslink=/ipns/…" count (other TXT beside them are ignored). Exactly one must remain:
// none → kNotFound "no DNSLink record found for <domain> (TXT _dnslink.<domain>)"; more than one
// → kInvalidArgument "<domain> has N DNSLink records; ask the domain owner to remove the
// duplicate TXT records". Returns the path ("/ipfs/bafy…/sub").
Result<std::string> ParseDnslink(std::string_view domain, const std::vector<std::string>& txt_records);

}  // namespace ipfskit
