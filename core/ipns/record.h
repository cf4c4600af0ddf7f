// IPNS records (specs: ipfs/specs src/ipns/ipns-record.md; boxo ipns/): parsing, verification,
// creation and selection. Pure functions over bytes; no I/O, no clock (callers pass `now`).
//
// Verification follows the spec's order (boxo Validate):
//   size ≤ 10 KiB; signatureV2 and data present; public key from pubKey (whose PeerID must be the
//   name) or inlined in the name; CBOR data decodes (unknown keys ignored); signatureV2 over
//   "ipns-signature:" ‖ data verifies; when value or signatureV1 is present (boxo/spec rule), the
//   V1 fields equal the CBOR ones; ValidityType is 0 (EOL) and EOL > now; TTL ≥ 0.
// SignatureV1 is never checked.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/ipns/keys.h"
#include "core/ipns/name.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

// Nanoseconds since the Unix epoch (good until 2262; fixtures go to 2123).
using UnixNanos = int64_t;
UnixNanos NowUnixNanos();

inline constexpr size_t kMaxIpnsRecordSize = 10 << 10;       // 10240 bytes, inclusive
inline constexpr UnixNanos kDefaultIpnsLifetime = 48LL * 3600 * 1000000000;
inline constexpr uint64_t kDefaultIpnsTtlNs = 5ULL * 60 * 1000000000;

// RFC 3339 with any fraction length ("2123-08-14T12:17:03.694052Z", "…00.000000000Z",
// offsets "+02:00"). kInvalidArgument otherwise.
Result<UnixNanos> ParseRfc3339(std::string_view text);
// Go's RFC3339Nano in UTC, trailing zeros of the fraction trimmed (as boxo writes Validity).
std::string FormatRfc3339Nano(UnixNanos t);

// Why a record was refused; counted in the stats.
enum class IpnsReject {
  kNone,
  kTooBig,
  kMalformed,     // protobuf or CBOR broken, fields missing, V1-only record
  kBadSignature,  // signatureV2 does not verify
  kWrongName,     // pubKey's PeerID is not the name / no key to check with
  kV1Mismatch,    // V1 fields differ from the signed CBOR ones
  kExpired,       // EOL ≤ now
  kRollback,      // valid, but older than one we already hold (set by the resolver)
};
const char* IpnsRejectName(IpnsReject r);  // "too_big", "malformed", "bad_signature", ...

struct IpnsRecord {
  Bytes raw;              // the record as received/stored
  // From the signed CBOR `data` (what verification trusts).
  std::string value;      // "/ipfs/…" or "/ipns/…" (bytes as text)
  std::string validity;   // the RFC 3339 text as signed
  UnixNanos eol = 0;
  uint64_t sequence = 0;
  uint64_t ttl_ns = 0;
  uint64_t validity_type = 0;
  // Protobuf fields.
  bool has_v1 = false;    // signatureV1 or value present
  Bytes pubkey;           // field 7, may be empty
  Bytes signature_v1, signature_v2, data;
  size_t size() const { return raw.size(); }
};

// Structural parse (protobuf + CBOR), no signature or name checks. kMalformed/kTooBig in `why`.
Result<IpnsRecord> ParseIpnsRecord(ByteView raw, IpnsReject* why = nullptr);

// Parse + full verification against `name` at time `now`. On error, *why says which rule failed
// and the message names it ("IPNS record for k51…: signature does not verify").
Result<IpnsRecord> ValidateIpnsRecord(ByteView raw, const IpnsName& name, UnixNanos now,
                                      IpnsReject* why = nullptr);

struct IpnsRecordParams {
  std::string value;               // "/ipfs/<cid>[/path]" or "/ipns/…"
  uint64_t sequence = 0;
  UnixNanos eol = 0;               // absolute
  uint64_t ttl_ns = kDefaultIpnsTtlNs;
  bool v1compat = true;            // also write the V1 fields and signatureV1 (Kubo's default)
};
// Signs a record as boxo does (CBOR keys in DAG-CBOR order; pubKey embedded only when the name
// does not inline the key, i.e. RSA).
Result<Bytes> CreateIpnsRecord(const PrivateKey& key, const IpnsRecordParams& params);

// boxo's order: >0 when a is better (higher sequence, then later EOL, then larger raw bytes).
int CompareIpnsRecords(const IpnsRecord& a, const IpnsRecord& b);

// `name inspect` output as Kubo's JSON: {Entry:{Value,ValidityType,Validity,Sequence,TTL},
// PbSize, SignatureType ("V1+V2"|"V2"), HexDump, Validation:{Valid,Reason,Name}} — Validation
// only when `name` is given. A record that does not parse is an error.
Result<nlohmann::json> InspectIpnsRecord(ByteView raw, const std::optional<IpnsName>& name, UnixNanos now);

}  // namespace ipfskit
