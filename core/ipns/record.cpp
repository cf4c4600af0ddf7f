#include "core/ipns/record.h"

#include <algorithm>
#include <cbor.h>
#include <set>
#include <time.h>

#include "core/codec/dagcbor.h"
#include "core/codec/protobuf.h"
#include "core/multiformats/cid.h"

namespace ipfskit {
namespace {

constexpr std::string_view kSigV2Prefix = "ipns-signature:";
constexpr int64_t kNanosPerSecond = 1000000000;

// ---- civil time (H. Hinnant's days_from_civil / civil_from_days) ----

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

unsigned DaysInMonth(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// ---- the protobuf IpnsEntry ----

struct ProtoFields {
  bool has_value = false, has_sig_v1 = false;
  Bytes value, validity;  // V1 copies
  uint64_t validity_type = 0, sequence = 0, ttl = 0;
};

struct Reject {
  IpnsReject why;
  std::string rule;
};

// Internal outcome: the rule that failed, without the name prefix.
using Check = std::optional<Reject>;

Check ParseProto(ByteView raw, IpnsRecord& rec, ProtoFields& v1) {
  if (raw.size() > kMaxIpnsRecordSize)
    return Reject{IpnsReject::kTooBig, "record is " + std::to_string(raw.size()) + " bytes, over the " +
                                           std::to_string(kMaxIpnsRecordSize) + "-byte limit"};
  rec.raw.assign(raw.begin(), raw.end());
  ByteView in = raw;
  while (!in.empty()) {
    auto f = pb::ReadField(in);
    if (!f.ok()) return Reject{IpnsReject::kMalformed, "protobuf: " + f.error().message};
    bool want_len = f->number == 1 || f->number == 2 || f->number == 4 || (f->number >= 7 && f->number <= 9);
    bool want_varint = f->number == 3 || f->number == 5 || f->number == 6;
    if ((want_len && f->type != pb::kLen) || (want_varint && f->type != pb::kVarint))
      return Reject{IpnsReject::kMalformed, "protobuf: field " + std::to_string(f->number) + " has the wrong wire type"};
    auto bytes = [&] { return Bytes(f->bytes.begin(), f->bytes.end()); };
    switch (f->number) {
      case 1: v1.value = bytes(); v1.has_value = true; break;
      case 2: rec.signature_v1 = bytes(); v1.has_sig_v1 = true; break;
      case 3: v1.validity_type = f->varint; break;
      case 4: v1.validity = bytes(); break;
      case 5: v1.sequence = f->varint; break;
      case 6: v1.ttl = f->varint; break;
      case 7: rec.pubkey = bytes(); break;
      case 8: rec.signature_v2 = bytes(); break;
      case 9: rec.data = bytes(); break;
      default: break;  // unknown fields are skipped, as protobuf readers do
    }
  }
  rec.has_v1 = v1.has_value || v1.has_sig_v1;
  if (rec.signature_v2.empty() || rec.data.empty())
    return Reject{IpnsReject::kMalformed, "no signatureV2 or data (V1-only records are no longer valid)"};
  return std::nullopt;
}

// ---- the signed DAG-CBOR data ----

Check DecodeData(IpnsRecord& rec) {
  auto item = CborParse(rec.data, CborLimits{.max_depth = 16, .max_items = 1024});
  if (!item.ok()) return Reject{IpnsReject::kMalformed, "data is not CBOR: " + item.error().message};
  cbor_item_t* map = item->get();
  if (!cbor_isa_map(map) || !cbor_map_is_definite(map)) return Reject{IpnsReject::kMalformed, "data is not a CBOR map"};
  bool have_value = false, have_validity = false, have_type = false, have_seq = false, have_ttl = false;
  std::set<std::string> seen;
  size_t n = cbor_map_size(map);
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < n; ++i) {
    cbor_item_t* k = pairs[i].key;
    cbor_item_t* v = pairs[i].value;
    if (!cbor_isa_string(k) || !cbor_string_is_definite(k))
      return Reject{IpnsReject::kMalformed, "data: a map key is not a text string"};
    std::string key(reinterpret_cast<const char*>(cbor_string_handle(k)), cbor_string_length(k));
    if (!seen.insert(key).second) return Reject{IpnsReject::kMalformed, "data: key " + key + " appears twice"};
    auto byte_string = [&](std::string& out, bool& have) -> Check {
      if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v))
        return Reject{IpnsReject::kMalformed, "data: " + key + " is not a byte string"};
      out.assign(reinterpret_cast<const char*>(cbor_bytestring_handle(v)), cbor_bytestring_length(v));
      have = true;
      return std::nullopt;
    };
    auto uint = [&](uint64_t& out, bool& have) -> Check {
      if (cbor_isa_negint(v)) return Reject{IpnsReject::kMalformed, "data: " + key + " is negative"};
      if (!cbor_isa_uint(v)) return Reject{IpnsReject::kMalformed, "data: " + key + " is not an integer"};
      out = cbor_get_int(v);
      have = true;
      return std::nullopt;
    };
    Check c;
    if (key == "Value") c = byte_string(rec.value, have_value);
    else if (key == "Validity") c = byte_string(rec.validity, have_validity);
    else if (key == "ValidityType") c = uint(rec.validity_type, have_type);
    else if (key == "Sequence") c = uint(rec.sequence, have_seq);
    else if (key == "TTL") c = uint(rec.ttl_ns, have_ttl);
    // Other keys are ignored (spec "Extensible Data").
    if (c) return c;
  }
  for (auto [have, name] : {std::pair{have_value, "Value"}, {have_validity, "Validity"}, {have_type, "ValidityType"},
                            {have_seq, "Sequence"}, {have_ttl, "TTL"}})
    if (!have) return Reject{IpnsReject::kMalformed, std::string("data: ") + name + " is missing"};
  if (rec.validity_type == 0) {
    auto eol = ParseRfc3339(rec.validity);
    if (!eol.ok()) return Reject{IpnsReject::kMalformed, "data: Validity: " + eol.error().message};
    rec.eol = *eol;
  }
  return std::nullopt;
}

Bytes SigV2Payload(ByteView data) {
  Bytes out = ToBytes(kSigV2Prefix);
  Append(out, data);
  return out;
}

Check V1Matches(const IpnsRecord& rec, const ProtoFields& v1) {
  // As boxo validateCborDataMatchesPbData: an absent V1 field counts as its zero value.
  if (AsChars(v1.value) != rec.value) return Reject{IpnsReject::kV1Mismatch, "V1 value differs from the signed Value"};
  if (AsChars(v1.validity) != rec.validity)
    return Reject{IpnsReject::kV1Mismatch, "V1 validity differs from the signed Validity"};
  if (v1.validity_type != rec.validity_type)
    return Reject{IpnsReject::kV1Mismatch, "V1 validityType differs from the signed ValidityType"};
  if (v1.sequence != rec.sequence) return Reject{IpnsReject::kV1Mismatch, "V1 sequence differs from the signed Sequence"};
  if (v1.ttl != rec.ttl_ns) return Reject{IpnsReject::kV1Mismatch, "V1 ttl differs from the signed TTL"};
  return std::nullopt;
}

Check Validate(ByteView raw, const IpnsName& name, UnixNanos now, IpnsRecord& rec) {
  ProtoFields v1;
  if (Check c = ParseProto(raw, rec, v1)) return c;
  PublicKey key;
  if (!rec.pubkey.empty()) {
    auto k = PublicKey::FromProtobuf(rec.pubkey);
    if (!k.ok()) return Reject{IpnsReject::kMalformed, "pubKey: " + k.error().message};
    IpnsName owner = IpnsName::FromPublicKey(*k);
    if (!(owner == name))
      return Reject{IpnsReject::kWrongName, "the embedded public key belongs to " + owner.ToString()};
    key = *k;
  } else if (auto inlined = name.InlinedKey()) {
    key = *inlined;
  } else {
    return Reject{IpnsReject::kWrongName,
                  "no public key to check with: the record has no pubKey and the name does not inline one"};
  }
  if (Check c = DecodeData(rec)) return c;
  if (!key.Verify(SigV2Payload(rec.data), rec.signature_v2).ok())
    return Reject{IpnsReject::kBadSignature, "signatureV2 does not verify"};
  if (rec.has_v1)
    if (Check c = V1Matches(rec, v1)) return c;
  if (rec.validity_type != 0)
    return Reject{IpnsReject::kMalformed, "unsupported ValidityType " + std::to_string(rec.validity_type) + " (only 0, EOL)"};
  if (rec.eol <= now)
    return Reject{IpnsReject::kExpired, "expired at " + rec.validity + " (now " + FormatRfc3339Nano(now) + ")"};
  return std::nullopt;
}

cbor_item_t* CborUint(uint64_t v) {
  // libcbor writes the width it is given; DAG-CBOR wants the shortest.
  if (v <= 0xff) return cbor_build_uint8(static_cast<uint8_t>(v));
  if (v <= 0xffff) return cbor_build_uint16(static_cast<uint16_t>(v));
  if (v <= 0xffffffffULL) return cbor_build_uint32(static_cast<uint32_t>(v));
  return cbor_build_uint64(v);
}

// Go's hex.Dump, which Kubo's `name inspect --dump` prints.
std::string HexDump(ByteView b) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t line = 0; line < b.size(); line += 16) {
    char off[32];
    std::snprintf(off, sizeof off, "%08zx  ", line);
    out += off;
    size_t n = std::min<size_t>(16, b.size() - line);
    for (size_t i = 0; i < 16; ++i) {
      if (i < n) {
        out += kHex[b[line + i] >> 4];
        out += kHex[b[line + i] & 15];
      } else {
        out += "  ";
      }
      out += ' ';
      if (i == 7) out += ' ';
    }
    out += " |";
    for (size_t i = 0; i < n; ++i) {
      uint8_t c = b[line + i];
      out += (c < 32 || c > 126) ? '.' : static_cast<char>(c);
    }
    out += "|\n";
  }
  return out;
}

Error RecordError(const std::string& prefix, const Reject& r, IpnsReject* why) {
  if (why) *why = r.why;
  return MakeError(Errc::kMalformed, prefix + r.rule);
}

}  // namespace

UnixNanos NowUnixNanos() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<UnixNanos>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

Result<UnixNanos> ParseRfc3339(std::string_view s) {
  auto bad = [&](const char* why) {
    return MakeError(Errc::kInvalidArgument, "'" + std::string(s.substr(0, 64)) + "' is not an RFC 3339 time: " + why);
  };
  size_t pos = 0;
  auto digits = [&](size_t n, int64_t& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (size_t i = 0; i < n; ++i) {
      char c = s[pos + i];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    pos += n;
    return true;
  };
  auto expect = [&](char c) {
    if (pos >= s.size() || s[pos] != c) return false;
    ++pos;
    return true;
  };
  int64_t y, mo, d, h, mi, sec;
  if (!digits(4, y) || !expect('-') || !digits(2, mo) || !expect('-') || !digits(2, d)) return bad("bad date");
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't')) return bad("no 'T' between date and time");
  ++pos;
  if (!digits(2, h) || !expect(':') || !digits(2, mi) || !expect(':') || !digits(2, sec)) return bad("bad time");
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, static_cast<unsigned>(mo))) return bad("no such date");
  if (h > 23 || mi > 59 || sec > 59) return bad("no such time of day");
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int kept = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (kept < 9) {  // finer than 1 ns is dropped
        frac = frac * 10 + (s[pos] - '0');
        ++kept;
      }
      ++pos;
    }
    if (pos == start) return bad("empty fraction");
    for (; kept < 9; ++kept) frac *= 10;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh, om;
    if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) return bad("bad zone offset");
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return bad("no zone (Z or ±hh:mm)");
  }
  if (pos != s.size()) return bad("trailing characters");
  int64_t secs = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 +
                 sec - offset_s;
  // int64 nanoseconds span 1677-09-21 to 2262-04-11.
  int64_t nanos;
  if (__builtin_mul_overflow(secs, kNanosPerSecond, &nanos) || __builtin_add_overflow(nanos, frac, &nanos))
    return bad("outside the years 1678-2262");
  return nanos;
}

std::string FormatRfc3339Nano(UnixNanos t) {
  int64_t secs = t / kNanosPerSecond;
  int64_t nanos = t % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --secs;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60));
  std::string out = buf;
  if (nanos != 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nanos));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

const char* IpnsRejectName(IpnsReject r) {
  switch (r) {
    case IpnsReject::kNone: return "none";
    case IpnsReject::kTooBig: return "too_big";
    case IpnsReject::kMalformed: return "malformed";
    case IpnsReject::kBadSignature: return "bad_signature";
    case IpnsReject::kWrongName: return "wrong_name";
    case IpnsReject::kV1Mismatch: return "v1_mismatch";
    case IpnsReject::kExpired: return "expired";
    case IpnsReject::kRollback: return "rollback";
  }
  return "unknown";
}

Result<IpnsRecord> ParseIpnsRecord(ByteView raw, IpnsReject* why) {
  if (why) *why = IpnsReject::kNone;
  IpnsRecord rec;
  ProtoFields v1;
  if (Check c = ParseProto(raw, rec, v1)) return RecordError("IPNS record: ", *c, why);
  if (Check c = DecodeData(rec)) return RecordError("IPNS record: ", *c, why);
  return rec;
}

Result<IpnsRecord> ValidateIpnsRecord(ByteView raw, const IpnsName& name, UnixNanos now, IpnsReject* why) {
  if (why) *why = IpnsReject::kNone;
  IpnsRecord rec;
  if (Check c = Validate(raw, name, now, rec)) return RecordError("IPNS record for " + name.ToString() + ": ", *c, why);
  return rec;
}

Result<Bytes> CreateIpnsRecord(const PrivateKey& key, const IpnsRecordParams& p) {
  if (!key.valid()) return MakeError(Errc::kInvalidArgument, "no private key to sign the IPNS record with");
  std::string_view v = p.value;
  bool ipfs = v.starts_with("/ipfs/"), ipns = v.starts_with("/ipns/");
  if ((!ipfs && !ipns) || v.size() <= 6)
    return MakeError(Errc::kInvalidArgument, "IPNS value '" + p.value + "' must be a /ipfs/… or /ipns/… path");
  if (ipfs) {
    std::string_view root = v.substr(6, v.find('/', 6) == std::string_view::npos ? v.npos : v.find('/', 6) - 6);
    auto c = Cid::Parse(root);
    if (!c.ok()) return MakeError(Errc::kInvalidArgument, "IPNS value '" + p.value + "': " + c.error().message);
  }
  if (p.eol <= 0) return MakeError(Errc::kInvalidArgument, "IPNS record needs an EOL (validity)");
  if (p.ttl_ns > static_cast<uint64_t>(INT64_MAX))  // boxo keeps the TTL as a time.Duration
    return MakeError(Errc::kInvalidArgument, "IPNS record TTL is too large");
  const std::string validity = FormatRfc3339Nano(p.eol);

  // DAG-CBOR sorts keys by length, then bytewise: TTL, Value, Sequence, Validity, ValidityType.
  CborItem map(cbor_new_definite_map(5));
  if (!map) return MakeError(Errc::kInternal, "out of memory");
  auto add = [&](const char* k, cbor_item_t* value) {
    return cbor_map_add(map.get(), cbor_pair{.key = cbor_move(cbor_build_string(k)), .value = cbor_move(value)});
  };
  bool ok = add("TTL", CborUint(p.ttl_ns)) &&
            add("Value", cbor_build_bytestring(reinterpret_cast<cbor_data>(p.value.data()), p.value.size())) &&
            add("Sequence", CborUint(p.sequence)) &&
            add("Validity", cbor_build_bytestring(reinterpret_cast<cbor_data>(validity.data()), validity.size())) &&
            add("ValidityType", CborUint(0));
  if (!ok) return MakeError(Errc::kInternal, "building the IPNS record data");
  Bytes data = CborSerialize(map.get());
  IPFSKIT_ASSIGN_OR_RETURN(Bytes sig_v2, key.Sign(SigV2Payload(data)));

  // Field order as boxo/protobuf-go and js-ipns write it: by field number.
  Bytes out;
  if (p.v1compat) {
    Bytes v1_payload = ToBytes(p.value);
    Append(v1_payload, AsBytes(validity));
    Append(v1_payload, AsBytes("EOL"));
    IPFSKIT_ASSIGN_OR_RETURN(Bytes sig_v1, key.Sign(v1_payload));
    pb::PutBytesField(out, 1, AsBytes(p.value));
    pb::PutBytesField(out, 2, sig_v1);
    pb::PutVarintField(out, 3, 0);
    pb::PutBytesField(out, 4, AsBytes(validity));
    pb::PutVarintField(out, 5, p.sequence);
    pb::PutVarintField(out, 6, p.ttl_ns);
  }
  PublicKey pub = key.Public();
  if (!IpnsName::FromPublicKey(pub).InlinedKey()) pb::PutBytesField(out, 7, pub.ToProtobuf());
  pb::PutBytesField(out, 8, sig_v2);
  pb::PutBytesField(out, 9, data);
  if (out.size() > kMaxIpnsRecordSize)
    return MakeError(Errc::kInvalidArgument, "IPNS record would be " + std::to_string(out.size()) + " bytes, over the " +
                                                 std::to_string(kMaxIpnsRecordSize) + "-byte limit");
  return out;
}

int CompareIpnsRecords(const IpnsRecord& a, const IpnsRecord& b) {
  if (a.sequence != b.sequence) return a.sequence > b.sequence ? 1 : -1;
  if (a.eol != b.eol) return a.eol > b.eol ? 1 : -1;
  auto c = std::lexicographical_compare_three_way(a.raw.begin(), a.raw.end(), b.raw.begin(), b.raw.end());
  return c > 0 ? 1 : c < 0 ? -1 : 0;
}

Result<nlohmann::json> InspectIpnsRecord(ByteView raw, const std::optional<IpnsName>& name, UnixNanos now) {
  IPFSKIT_ASSIGN_OR_RETURN(IpnsRecord rec, ParseIpnsRecord(raw));
  nlohmann::json entry = {{"Value", rec.value}, {"ValidityType", rec.validity_type}};
  entry["Validity"] = rec.validity_type == 0 ? nlohmann::json(FormatRfc3339Nano(rec.eol)) : nlohmann::json(nullptr);
  entry["Sequence"] = rec.sequence;
  entry["TTL"] = rec.ttl_ns;
  nlohmann::json out = {{"Entry", entry},
                        {"PbSize", rec.size()},
                        {"SignatureType", rec.has_v1 ? "V1+V2" : "V2"},
                        {"HexDump", HexDump(raw)}};
  if (name) {
    auto v = ValidateIpnsRecord(raw, *name, now);
    out["Validation"] = {{"Valid", v.ok()}, {"Reason", v.ok() ? "" : v.error().message}, {"Name", name->ToString()}};
  }
  return out;
}

}  // namespace ipfskit
