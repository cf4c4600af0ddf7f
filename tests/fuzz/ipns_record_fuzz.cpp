// IPNS records from the network: the protobuf, the signed DAG-CBOR data, the embedded public
// key (RSA DER included) and the signature check. An input "NAME\n--\nRECORD" validates RECORD
// against NAME (also parsed as an /ipns/ target); a bare input is checked against a fixed
// Ed25519 name and the name of its own embedded key.
#include "core/ipns/keys.h"
#include "core/ipns/name.h"
#include "core/ipns/record.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const IpnsName kFixed =
      IpnsName::Parse("k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w").value();
  // Far enough from any seed's EOL that both the expired and the valid paths are reached.
  constexpr UnixNanos kNow = 1700000000LL * 1000000000;
  auto parts = fuzz::SplitParts(fuzz::Text(data, size), 2);
  ByteView record = AsBytes(parts.back());
  std::vector<IpnsName> names{kFixed};
  if (parts.size() == 2) {
    (void)ParseIpnsTarget(parts[0]);
    auto n = IpnsName::Parse(parts[0]);
    if (n.ok()) names.push_back(*n);
  }
  IpnsReject why;
  auto rec = ParseIpnsRecord(record, &why);
  if (rec.ok() && !rec->pubkey.empty()) {
    auto pk = PublicKey::FromProtobuf(rec->pubkey);
    if (pk.ok()) {
      names.push_back(IpnsName::FromPublicKey(*pk));
      (void)pk->ToProtobuf();
    }
  }
  for (const IpnsName& n : names) {
    (void)ValidateIpnsRecord(record, n, kNow, &why);
    (void)n.ToString();
    (void)n.InlinedKey();
  }
  (void)InspectIpnsRecord(record, names.back(), kNow);
  (void)InspectIpnsRecord(record, std::nullopt, kNow);
  if (rec.ok()) {
    (void)ParseRfc3339(rec->validity);
    (void)CompareIpnsRecords(*rec, *rec);
  }
  return 0;
}
