// CIDs from bytes (CAR sections, dag-pb links) and from text (paths, the CLI): parse, and
// whatever parses must print and parse back to the same CID.
#include <cstdlib>

#include "core/multiformats/cid.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = Cid::FromBytes(fuzz::Input(data, size));
  if (c.ok()) {
    auto back = Cid::Parse(c->ToString());
    if (!back.ok() || !(*back == *c)) abort();
    if (c->version() == 1) {
      auto b36 = Cid::Parse(c->ToString(Multibase::kBase36));
      if (!b36.ok() || !(*b36 == *c)) abort();
    }
  }
  auto t = Cid::Parse(fuzz::Text(data, size));
  if (t.ok()) {
    auto again = Cid::FromBytes(t->bytes());
    if (!again.ok() || !(*again == *t)) abort();
  }
  return 0;
}
