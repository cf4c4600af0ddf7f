// UnixFS Data messages (inside dag-pb): decode, re-encode, decode again to the same fields.
#include <cstdlib>

#include "core/codec/unixfs.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto d = DecodeUnixfs(fuzz::Input(data, size));
  if (!d.ok()) return 0;
  (void)d->FileSize();
  auto again = DecodeUnixfs(EncodeUnixfs(*d));
  if (!again.ok() || again->type != d->type || again->data != d->data || again->filesize != d->filesize ||
      again->blocksizes != d->blocksizes || again->fanout != d->fanout)
    abort();
  return 0;
}
