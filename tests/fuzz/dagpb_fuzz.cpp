// dag-pb blocks: decoding is strict, so what decodes must re-encode to a node that decodes to
// the same links and data.
#include <cstdlib>

#include "core/codec/dagpb.h"
#include "core/store/dag_links.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto n = DecodePbNode(fuzz::Input(data, size));
  if (!n.ok()) return 0;
  auto again = DecodePbNode(EncodePbNode(*n));
  if (!again.ok() || again->links.size() != n->links.size() || again->data != n->data) abort();
  for (size_t i = 0; i < n->links.size(); ++i)
    if (!(again->links[i].hash == n->links[i].hash) || again->links[i].name != n->links[i].name ||
        again->links[i].tsize != n->links[i].tsize)
      abort();
  return 0;
}
