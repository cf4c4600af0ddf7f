// DNS responses (from a UDP server or a DoH body): parse, and run the TXT answers through DNSLink
// parsing. What parses must respect the header's counts and its bounds.
#include <cstdlib>

#include "core/ipns/dns.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = ParseDnsResponse(fuzz::Input(data, size));
  if (!m.ok()) return 0;
  if (size < 12 || m->rcode < 0 || m->rcode > 15) abort();
  const size_t answers = static_cast<size_t>(data[6]) << 8 | data[7];
  if (m->txt.records.size() > answers) abort();
  size_t text = 0;
  for (const auto& r : m->txt.records) text += r.size();
  if (text > size) abort();  // joined strings come from the message, never more
  auto link = ParseDnslink("example.org", m->txt.records);
  if (link.ok() && link->rfind("/ipfs/", 0) != 0 && link->rfind("/ipns/", 0) != 0) abort();
  return 0;
}
