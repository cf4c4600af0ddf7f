// dag-cbor blocks: links (tag 42) anywhere inside, and the generic DagLinks dispatch for the
// codecs GC, pinning and CAR export walk (dag-cbor, dag-json, dag-pb, raw).
#include "core/codec/dagcbor.h"
#include "core/multiformats/cid.h"
#include "core/store/dag_links.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in = fuzz::Input(data, size);
  (void)DagCborLinks(in);
  auto item = CborParse(in);
  if (item.ok()) (void)CborSerialize(item->get());
  static const Cid kJson = Cid::Sum(1, codec::kDagJson, mh::kSha2_256, Bytes{}).value();
  static const Cid kPb = Cid::Sum(1, codec::kDagPb, mh::kSha2_256, Bytes{}).value();
  (void)DagLinks(kJson, in);
  (void)DagLinks(kPb, in);
  return 0;
}
