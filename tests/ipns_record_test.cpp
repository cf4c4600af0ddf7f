// IPNS keys, names and records: RFC 3339 times, every name spelling, the spec's test vectors
// (gateway-conformance fixtures), hostile records, creation and selection.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <random>

#include "core/codec/protobuf.h"
#include "core/ipns/keys.h"
#include "core/ipns/keystore.h"
#include "core/ipns/name.h"
#include "core/ipns/record.h"
#include "core/multiformats/cid.h"
#include "core/multiformats/multibase.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

namespace fs = std::filesystem;
constexpr UnixNanos kSec = 1000000000;

template <typename T>
std::string Msg(const Result<T>& r) {
  return r.ok() ? "" : r.error().message;
}

Bytes Unhex(std::string_view h) {
  Bytes out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

// One key per type, generated once (RSA takes a while).
const PrivateKey& TestKey(KeyType t) {
  static std::map<KeyType, PrivateKey> keys;
  auto it = keys.find(t);
  if (it == keys.end()) {
    auto k = PrivateKey::Generate(t);
    EXPECT_TRUE(k.ok()) << Msg(k);
    it = keys.emplace(t, *k).first;
  }
  return it->second;
}
const KeyType kAllTypes[] = {KeyType::kEd25519, KeyType::kSecp256k1, KeyType::kRsa};

Bytes MakeRecord(const PrivateKey& key, const std::string& value, uint64_t seq, UnixNanos eol,
                 bool v1compat = true, uint64_t ttl = kDefaultIpnsTtlNs) {
  IpnsRecordParams p;
  p.value = value;
  p.sequence = seq;
  p.eol = eol;
  p.ttl_ns = ttl;
  p.v1compat = v1compat;
  auto r = CreateIpnsRecord(key, p);
  EXPECT_TRUE(r.ok()) << Msg(r);
  return r.ok() ? *r : Bytes{};
}

const std::string kValue = "/ipfs/bafkqaddwgevxmmraojswg33smq";

// ---- RFC 3339 ----

TEST(Rfc3339, FixtureStylesRoundTrip) {
  // boxo's trimmed RFC3339Nano (as in the fixtures) comes back byte for byte.
  for (const char* s : {"2123-08-14T12:17:03.694052Z", "2023-01-01T00:00:00Z", "2024-02-29T23:59:59.999999999Z",
                        "1970-01-01T00:00:00.1Z", "2262-04-11T23:47:16.854775807Z"}) {
    auto t = ParseRfc3339(s);
    ASSERT_TRUE(t.ok()) << s << ": " << Msg(t);
    EXPECT_EQ(FormatRfc3339Nano(*t), s);
  }
  // js-ipns writes 9 digits; boxo trims them.
  auto js = ParseRfc3339("2123-08-14T12:17:03.694052000Z");
  ASSERT_TRUE(js.ok());
  EXPECT_EQ(FormatRfc3339Nano(*js), "2123-08-14T12:17:03.694052Z");
  auto zeros = ParseRfc3339("2030-05-06T07:08:09.000000000Z");
  ASSERT_TRUE(zeros.ok());
  EXPECT_EQ(FormatRfc3339Nano(*zeros), "2030-05-06T07:08:09Z");
  EXPECT_EQ(FormatRfc3339Nano(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339Nano(-1), "1969-12-31T23:59:59.999999999Z");
}

TEST(Rfc3339, OffsetsFractionsAndAgreementWithTimegm) {
  auto utc = ParseRfc3339("2023-06-01T10:00:00Z");
  auto plus = ParseRfc3339("2023-06-01T12:00:00+02:00");
  auto minus = ParseRfc3339("2023-06-01T04:30:00-05:30");
  auto lower = ParseRfc3339("2023-06-01t10:00:00z");
  ASSERT_TRUE(utc.ok() && plus.ok() && minus.ok() && lower.ok());
  EXPECT_EQ(*utc, *plus);
  EXPECT_EQ(*utc, *minus);
  EXPECT_EQ(*utc, *lower);
  // More than 9 fraction digits: the extra precision is dropped.
  auto long_frac = ParseRfc3339("2023-06-01T10:00:00.1234567891234Z");
  ASSERT_TRUE(long_frac.ok());
  EXPECT_EQ(*long_frac - *utc, 123456789);

  // libc's timegm is the reference for the calendar arithmetic.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    struct tm tm = {};
    tm.tm_year = static_cast<int>(rng() % 580) + 1680 - 1900;
    tm.tm_mon = static_cast<int>(rng() % 12);
    tm.tm_mday = static_cast<int>(rng() % 28) + 1;
    tm.tm_hour = static_cast<int>(rng() % 24);
    tm.tm_min = static_cast<int>(rng() % 60);
    tm.tm_sec = static_cast<int>(rng() % 60);
    int64_t nanos = static_cast<int64_t>(rng() % kSec);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string text = std::string(buf) + "." + std::to_string(1000000000 + nanos).substr(1) + "Z";
    time_t ref = timegm(&tm);
    auto t = ParseRfc3339(text);
    ASSERT_TRUE(t.ok()) << text << ": " << Msg(t);
    EXPECT_EQ(*t, static_cast<int64_t>(ref) * kSec + nanos) << text;
    auto back = ParseRfc3339(FormatRfc3339Nano(*t));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, *t);
  }
}

TEST(Rfc3339, RejectsBadTimes) {
  for (const char* s : {"", "2023-02-29T00:00:00Z", "2023-13-01T00:00:00Z", "2023-04-31T00:00:00Z",
                        "2023-01-01T24:00:00Z", "2023-01-01T00:60:00Z", "2023-01-01T00:00:60Z", "2023-01-01T00:00:00",
                        "2023-01-01 00:00:00Z", "2023-01-01T00:00:00.Z", "2023-1-01T00:00:00Z", "2023-01-01T00:00:00Zx",
                        "2023-01-01T00:00:00+0200", "2023-01-01T00:00:00+24:00", "9999-01-01T00:00:00Z",
                        "1600-01-01T00:00:00Z", "+123-01-01T00:00:00Z"}) {
    auto t = ParseRfc3339(s);
    EXPECT_FALSE(t.ok()) << s;
    if (!t.ok()) {
      EXPECT_EQ(t.error().code, Errc::kInvalidArgument) << s;
    }
  }
}

// ---- keys ----

TEST(Keys, Ed25519KnownAnswerRfc8032) {
  // RFC 8032 §7.1 test 1: the libp2p protobuf carries seed ‖ public.
  Bytes pb = Unhex("08011240");
  Append(pb, Unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
                   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
  auto k = PrivateKey::FromProtobuf(pb);
  ASSERT_TRUE(k.ok()) << Msg(k);
  EXPECT_EQ(k->type(), KeyType::kEd25519);
  EXPECT_EQ(k->ToProtobuf(), pb);
  auto sig = k->Sign({});
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0"
            "595bbe24655141438e7a100b");
  EXPECT_EQ(HexEncode(k->Public().ToProtobuf()),
            "08011220d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  // The public half must belong to the seed.
  Bytes bad = pb;
  bad.back() ^= 1;
  auto r = PrivateKey::FromProtobuf(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not belong"), std::string::npos) << r.error().message;
}

TEST(Keys, ProtobufAndPemRoundTripsSignVerify) {
  for (KeyType t : kAllTypes) {
    SCOPED_TRACE(KeyTypeName(t));
    const PrivateKey& k = TestKey(t);
    ASSERT_TRUE(k.valid());
    EXPECT_EQ(k.type(), t);
    Bytes pb = k.ToProtobuf();
    ASSERT_FALSE(pb.empty());
    auto back = PrivateKey::FromProtobuf(pb);
    ASSERT_TRUE(back.ok()) << Msg(back);
    EXPECT_EQ(back->ToProtobuf(), pb);
    EXPECT_EQ(back->Public().ToProtobuf(), k.Public().ToProtobuf());

    auto pem = k.ToPkcs8Pem();
    ASSERT_TRUE(pem.ok()) << Msg(pem);
    EXPECT_TRUE(pem->starts_with("-----BEGIN PRIVATE KEY-----\n")) << *pem;
    auto from_pem = PrivateKey::FromPkcs8Pem(*pem);
    ASSERT_TRUE(from_pem.ok()) << Msg(from_pem);
    EXPECT_EQ(from_pem->type(), t);
    EXPECT_EQ(from_pem->ToProtobuf(), pb);

    // PEM fed as protobuf: the hint of ipfs-docs#746.
    auto wrong = PrivateKey::FromProtobuf(AsBytes(*pem));
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.error().message.find("pem-pkcs8-cleartext"), std::string::npos);

    Bytes msg = ToBytes("ipns-signature:hello");
    auto sig = k.Sign(msg);
    ASSERT_TRUE(sig.ok()) << Msg(sig);
    auto pub = PublicKey::FromProtobuf(k.Public().ToProtobuf());
    ASSERT_TRUE(pub.ok()) << Msg(pub);
    EXPECT_TRUE(pub->Verify(msg, *sig).ok());
    Bytes flipped = *sig;
    flipped[flipped.size() / 2] ^= 0x10;
    EXPECT_FALSE(pub->Verify(msg, flipped).ok());
    Bytes other = msg;
    other.back() ^= 1;
    EXPECT_FALSE(pub->Verify(other, *sig).ok());
    EXPECT_FALSE(pub->Verify(msg, {}).ok());
  }
}

TEST(Keys, Secp256k1SignaturesHaveLowS) {
  // js-libp2p (noble, lowS) refuses S > n/2; half of raw ECDSA signatures have one.
  const PrivateKey& k = TestKey(KeyType::kSecp256k1);
  EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_secp256k1);
  BIGNUM* half = BN_dup(EC_GROUP_get0_order(g));
  BN_rshift1(half, half);
  for (int i = 0; i < 64; ++i) {
    Bytes msg = ToBytes("message " + std::to_string(i));
    auto sig = k.Sign(msg);
    ASSERT_TRUE(sig.ok());
    const uint8_t* p = sig->data();
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig->size()));
    ASSERT_NE(s, nullptr);
    EXPECT_LE(BN_cmp(ECDSA_SIG_get0_s(s), half), 0);
    ECDSA_SIG_free(s);
    EXPECT_TRUE(k.Public().Verify(msg, *sig).ok());
  }
  BN_free(half);
  EC_GROUP_free(g);
}

TEST(Keys, HostileKeyProtobufs) {
  auto pk = [](std::string_view hex) { return PublicKey::FromProtobuf(Unhex(hex)); };
  EXPECT_FALSE(pk("").ok());
  EXPECT_FALSE(pk("0801").ok());                     // no Data
  EXPECT_FALSE(pk("1200").ok());                     // no Type
  EXPECT_FALSE(pk("08011201aa").ok());               // Ed25519 of 1 byte
  EXPECT_FALSE(pk("080912020000").ok());             // unknown type
  EXPECT_FALSE(pk("0803120100").ok());               // ECDSA: unsupported
  EXPECT_FALSE(pk("08021221" + std::string(66, '0')).ok());  // secp256k1 with prefix 00
  // A compressed x with no point on the curve (x = 5 has none on secp256k1).
  EXPECT_FALSE(pk("0802122102" + std::string(62, '0') + "05").ok());
  EXPECT_FALSE(pk("08001203010203").ok());           // RSA, not DER
  EXPECT_FALSE(pk("08011240").ok());                 // truncated Data
  // A 1024-bit RSA key: refused as by go-libp2p and js-libp2p.
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024});
  ASSERT_NE(small, nullptr);
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(small, &der);
  Bytes pb;
  pb::PutVarintField(pb, 1, 0);
  pb::PutBytesField(pb, 2, ByteView(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  EVP_PKEY_free(small);
  auto r = PublicKey::FromProtobuf(pb);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("1024"), std::string::npos) << r.error().message;
  // Private keys.
  EXPECT_FALSE(PrivateKey::FromProtobuf(Unhex("08021220" + std::string(64, '0'))).ok());  // secp scalar 0
  EXPECT_FALSE(PrivateKey::FromProtobuf(Unhex("08021220" + std::string(64, 'f'))).ok());  // ≥ n
  EXPECT_FALSE(PrivateKey::FromProtobuf(Unhex("08011220" + std::string(64, '1'))).ok());  // 32-byte Ed25519
  EXPECT_FALSE(PrivateKey::Generate(KeyType::kRsa, 1024).ok());
  EXPECT_FALSE(PrivateKey::Generate(KeyType::kEcdsa).ok());
  EXPECT_FALSE(PrivateKey::FromPkcs8Pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n").ok());
  EXPECT_FALSE(PrivateKey::FromPkcs8Pem("hello").ok());
  // A P-256 key is ECDSA: not one of the three types.
  EVP_PKEY* p256 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(p256, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(bio, p256, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  auto p = PrivateKey::FromPkcs8Pem(std::string_view(data, static_cast<size_t>(n)));
  BIO_free(bio);
  EVP_PKEY_free(p256);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("ECDSA"), std::string::npos) << p.error().message;
}

TEST(Keys, TypeNames) {
  EXPECT_EQ(*ParseKeyTypeName("ed25519"), KeyType::kEd25519);
  EXPECT_EQ(*ParseKeyTypeName("RSA"), KeyType::kRsa);
  EXPECT_EQ(*ParseKeyTypeName("secp256k1"), KeyType::kSecp256k1);
  auto bad = ParseKeyTypeName("dsa");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("ed25519, rsa or secp256k1"), std::string::npos);
}

// ---- names ----

TEST(Names, EverySpellingOfEveryKeyType) {
  struct Expect { KeyType t; const char* base36; const char* base58; size_t pb; };
  for (Expect e : {Expect{KeyType::kEd25519, "k51qzi5uqu5", "12D3KooW", 36},
                   Expect{KeyType::kSecp256k1, "kzwfwjn5ji4", "16Uiu2HA", 37},
                   Expect{KeyType::kRsa, "k2k4r8", "Qm", 0}}) {
    SCOPED_TRACE(KeyTypeName(e.t));
    PublicKey pub = TestKey(e.t).Public();
    IpnsName name = IpnsName::FromPublicKey(pub);
    ASSERT_TRUE(name.valid());
    EXPECT_TRUE(name.ToString().starts_with(e.base36)) << name.ToString();
    EXPECT_TRUE(name.ToBase58().starts_with(e.base58)) << name.ToBase58();
    if (e.pb) {
      EXPECT_EQ(pub.ToProtobuf().size(), e.pb);
      auto inl = name.InlinedKey();
      ASSERT_TRUE(inl.has_value());
      EXPECT_EQ(inl->ToProtobuf(), pub.ToProtobuf());
    } else {
      EXPECT_FALSE(name.InlinedKey().has_value());
      EXPECT_EQ(name.multihash()[0], 0x12);  // sha2-256 of the 294-byte protobuf
    }
    auto cid = Cid::Make(1, codec::kLibp2pKey, name.multihash());
    ASSERT_TRUE(cid.ok());
    std::vector<std::string> spellings = {name.ToString(), name.ToBase58(), cid->ToString(Multibase::kBase32),
                                          cid->ToString(Multibase::kBase36Upper), cid->ToString(Multibase::kBase58Btc),
                                          cid->ToString(Multibase::kBase16)};
    for (const std::string& s : spellings) {
      auto p = IpnsName::Parse(s);
      ASSERT_TRUE(p.ok()) << s << ": " << Msg(p);
      EXPECT_EQ(*p, name) << s;
      EXPECT_EQ(p->ToString(), name.ToString());
      auto target = ParseIpnsTarget(s);
      ASSERT_TRUE(target.ok()) << s;
      ASSERT_TRUE(std::holds_alternative<IpnsName>(*target)) << s;
      EXPECT_EQ(std::get<IpnsName>(*target), name);
    }
    // A CIDv1 of another codec names the fixed form.
    for (uint64_t codec : {codec::kDagPb, codec::kRaw}) {
      auto wrong = Cid::Make(1, codec, name.multihash());
      ASSERT_TRUE(wrong.ok());
      std::string expect = "peer ID represented as CIDv1 require libp2p-key multicodec: retry with /ipns/" + name.ToString();
      auto p = IpnsName::Parse(wrong->ToString());
      ASSERT_FALSE(p.ok());
      EXPECT_EQ(p.error().message, expect);
      EXPECT_EQ(p.error().code, Errc::kInvalidArgument);
      auto t = ParseIpnsTarget(wrong->ToString());
      ASSERT_FALSE(t.ok());
      EXPECT_EQ(t.error().message, expect);
    }
  }
}

TEST(Names, DomainsAndGarbage) {
  auto t = ParseIpnsTarget("Docs.IPFS.tech.");
  ASSERT_TRUE(t.ok()) << Msg(t);
  ASSERT_TRUE(std::holds_alternative<std::string>(*t));
  EXPECT_EQ(std::get<std::string>(*t), "docs.ipfs.tech");
  auto u = ParseIpnsTarget("en.wikipedia-on-ipfs.org");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(std::get<std::string>(*u), "en.wikipedia-on-ipfs.org");
  EXPECT_TRUE(IsDomainName("_dnslink.example.com"));
  EXPECT_TRUE(IsDomainName("a.b"));
  EXPECT_FALSE(IsDomainName("localhost"));  // a bare label is not a domain here
  EXPECT_FALSE(IsDomainName("a..b"));
  EXPECT_FALSE(IsDomainName(".a.b"));
  EXPECT_FALSE(IsDomainName("a b.com"));
  EXPECT_FALSE(IsDomainName("a/b.com"));
  EXPECT_FALSE(IsDomainName(std::string(64, 'a') + ".com"));
  EXPECT_TRUE(IsDomainName(std::string(63, 'a') + ".com"));
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  EXPECT_FALSE(IsDomainName(long_name + "com"));
  for (const char* s : {"", "localhost", "k51qzi5uqu5dnotavalidname", "12D3KooWnotbase58!", "QmShort", "/ipns/x.com",
                        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"}) {
    auto r = ParseIpnsTarget(s);
    EXPECT_FALSE(r.ok()) << s;
  }
  // A dag-pb CIDv1 is a wrong codec, with the fixed name in the error.
  auto dagpb = ParseIpnsTarget("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi");
  ASSERT_FALSE(dagpb.ok());
  EXPECT_NE(dagpb.error().message.find("retry with /ipns/k"), std::string::npos) << dagpb.error().message;
  auto garbage = ParseIpnsTarget("localhost");
  EXPECT_EQ(garbage.error().message, "not a valid IPNS name or domain: 'localhost'");
  // Peer IDs under other hash functions are refused.
  auto sha512 = MultihashSum(mh::kSha2_512, ToBytes("x"));
  ASSERT_TRUE(sha512.ok());
  EXPECT_FALSE(IpnsName::FromMultihash(*sha512).ok());
}

// ---- the spec's test vectors ----

struct Fixture {
  const char* suffix;
  bool valid;
  IpnsReject why;
  const char* value;
};
const Fixture kFixtures[] = {
    {"v1-v2", true, IpnsReject::kNone, "/ipfs/bafkqaddwgevxmmraojswg33smq"},
    {"v2", true, IpnsReject::kNone, "/ipfs/bafkqadtwgiww63tmpeqhezldn5zgi"},
    {"v1-v2-broken-signature-v1", true, IpnsReject::kNone,
     "/ipfs/bafkqahtwgevxmmrao5uxi2bamjzg623fnyqhg2lhnzqxi5lsmuqhmmi"},
    {"v1", false, IpnsReject::kMalformed, nullptr},
    {"v1-v2-broken-v1-value", false, IpnsReject::kV1Mismatch, nullptr},
    {"v1-v2-broken-signature-v2", false, IpnsReject::kBadSignature, nullptr},
};

std::string FixtureDir() { return testing::FixturesDir() + "/ipns_records"; }

// name and raw bytes of the fixture whose file name ends in _<suffix>.ipns-record
std::pair<std::string, Bytes> LoadFixture(const std::string& suffix) {
  for (const auto& e : fs::directory_iterator(FixtureDir())) {
    std::string f = e.path().filename().string();
    if (f.ends_with("_" + suffix + ".ipns-record")) {
      std::string name = f.substr(0, f.find('_'));
      // "_v1-v2" is also the tail of longer names: require the exact suffix.
      if (f != name + "_" + suffix + ".ipns-record") continue;
      return {name, ToBytes(testing::ReadFile(e.path().string()))};
    }
  }
  ADD_FAILURE() << "no fixture " << suffix << " in " << FixtureDir();
  return {};
}

TEST(IpnsRecordFixtures, VerifyAsTheSpecSays) {
  int valid = 0, invalid = 0;
  for (const Fixture& fx : kFixtures) {
    SCOPED_TRACE(fx.suffix);
    auto [text, raw] = LoadFixture(fx.suffix);
    ASSERT_FALSE(raw.empty());
    auto name = IpnsName::Parse(text);
    ASSERT_TRUE(name.ok()) << Msg(name);
    EXPECT_EQ(name->ToString(), text);
    IpnsReject why = IpnsReject::kRollback;
    auto rec = ValidateIpnsRecord(raw, *name, NowUnixNanos(), &why);
    EXPECT_EQ(rec.ok(), fx.valid) << Msg(rec);
    EXPECT_EQ(why, fx.why) << IpnsRejectName(why) << ": " << Msg(rec);
    if (rec.ok()) {
      ++valid;
      EXPECT_EQ(rec->value, fx.value);
      EXPECT_EQ(rec->validity_type, 0u);
      EXPECT_GT(rec->eol, NowUnixNanos());
      // The validity as signed comes back unchanged through our formatter (boxo's style).
      EXPECT_EQ(FormatRfc3339Nano(rec->eol), rec->validity);
    } else {
      ++invalid;
      EXPECT_NE(rec.error().message.find("IPNS record for " + text + ": "), std::string::npos) << rec.error().message;
      EXPECT_EQ(rec.error().code, Errc::kMalformed);
    }
  }
  EXPECT_EQ(valid, 3);
  EXPECT_EQ(invalid, 3);
}

TEST(IpnsRecordFixtures, InspectMatchesKuboShape) {
  auto [text, raw] = LoadFixture("v1-v2");
  auto name = IpnsName::Parse(text);
  ASSERT_TRUE(name.ok());
  auto j = InspectIpnsRecord(raw, *name, NowUnixNanos());
  ASSERT_TRUE(j.ok()) << Msg(j);
  EXPECT_EQ((*j)["Entry"]["Value"], "/ipfs/bafkqaddwgevxmmraojswg33smq");
  EXPECT_EQ((*j)["Entry"]["ValidityType"], 0);
  EXPECT_EQ((*j)["SignatureType"], "V1+V2");
  EXPECT_EQ((*j)["PbSize"], raw.size());
  EXPECT_EQ((*j)["Validation"]["Valid"], true);
  EXPECT_EQ((*j)["Validation"]["Name"], text);
  std::string dump = (*j)["HexDump"];
  // Go's hex.Dump: 16 bytes a line, "|ascii|" at the end.
  EXPECT_TRUE(dump.starts_with("00000000  0a ")) << dump;
  EXPECT_EQ(std::count(dump.begin(), dump.end(), '\n'), static_cast<long>((raw.size() + 15) / 16));
  auto [t2, raw2] = LoadFixture("v1-v2-broken-signature-v2");
  auto n2 = IpnsName::Parse(t2);
  auto j2 = InspectIpnsRecord(raw2, *n2, NowUnixNanos());
  ASSERT_TRUE(j2.ok());
  EXPECT_EQ((*j2)["Validation"]["Valid"], false);
  EXPECT_NE(std::string((*j2)["Validation"]["Reason"]).find("signatureV2 does not verify"), std::string::npos);
  auto [t3, raw3] = LoadFixture("v2");
  auto j3 = InspectIpnsRecord(raw3, std::nullopt, NowUnixNanos());
  ASSERT_TRUE(j3.ok());
  EXPECT_EQ((*j3)["SignatureType"], "V2");
  EXPECT_FALSE(j3->contains("Validation"));
  auto [t4, raw4] = LoadFixture("v1");
  EXPECT_FALSE(InspectIpnsRecord(raw4, std::nullopt, NowUnixNanos()).ok());
}

TEST(HexDump, GoFormat) {
  // The layout of Go's hex.Dump, from its documented example: every line has its '|' at
  // column 60, a short last line is padded with spaces, and the text column shows only the
  // bytes of that line:
  //   00000020  20 6c 61 6e 67 75 61 67  65 2e                    | language.|
  Bytes raw = MakeRecord(TestKey(KeyType::kEd25519), kValue, 1, NowUnixNanos() + 3600 * kSec);
  auto j = InspectIpnsRecord(raw, std::nullopt, NowUnixNanos());
  ASSERT_TRUE(j.ok());
  std::string dump = (*j)["HexDump"];
  size_t off = 0, lines = 0;
  for (size_t pos = 0; pos < dump.size(); ++lines) {
    size_t nl = dump.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    std::string line = dump.substr(pos, nl - pos);
    pos = nl + 1;
    size_t n = std::min<size_t>(16, raw.size() - off);
    char head[16];
    std::snprintf(head, sizeof head, "%08zx  ", off);
    EXPECT_TRUE(line.starts_with(head)) << line;
    EXPECT_EQ(line.find('|'), 60u) << line;
    EXPECT_EQ(line.size(), 60 + n + 2) << line;
    for (size_t i = 0; i < n; ++i) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%02x", raw[off + i]);
      EXPECT_EQ(line.substr(10 + 3 * i + (i >= 8), 2), hex) << line;
      char c = (raw[off + i] < 32 || raw[off + i] > 126) ? '.' : static_cast<char>(raw[off + i]);
      EXPECT_EQ(line[61 + i], c) << line;
    }
    for (size_t i = n; i < 16; ++i) EXPECT_EQ(line.substr(10 + 3 * i + (i >= 8), 2), "  ") << line;
    off += n;
  }
  EXPECT_EQ(off, raw.size());
  EXPECT_EQ(lines, (raw.size() + 15) / 16);
  EXPECT_NE(raw.size() % 16, 0u);  // so the padded last line is exercised
}

// ---- records we create ----

// The CBOR data, written out by hand from the DAG-CBOR rules (RFC 8949 §3, keys by length).
Bytes ExpectedData(const std::string& value, const std::string& validity, uint8_t seq, uint32_t ttl) {
  Bytes d = {0xa5};
  auto text = [&](std::string_view s) {
    d.push_back(static_cast<uint8_t>(0x60 + s.size()));
    Append(d, AsBytes(s));
  };
  auto bytes = [&](std::string_view s) {
    if (s.size() < 24) {
      d.push_back(static_cast<uint8_t>(0x40 + s.size()));
    } else {
      d.push_back(0x58);
      d.push_back(static_cast<uint8_t>(s.size()));
    }
    Append(d, AsBytes(s));
  };
  text("TTL");
  d.push_back(0x1b);  // ttl ≥ 2^32: 8-byte uint
  for (int i = 7; i >= 0; --i) d.push_back(static_cast<uint8_t>(uint64_t(ttl) * 1000000000 >> (8 * i)));
  text("Value");
  bytes(value);
  text("Sequence");
  d.push_back(seq);  // < 24: one byte
  text("Validity");
  bytes(validity);
  text("ValidityType");
  d.push_back(0x00);
  return d;
}

TEST(IpnsRecordCreate, RoundTripAllKeyTypes) {
  UnixNanos eol = *ParseRfc3339("2123-08-14T12:17:03.694052Z");
  for (KeyType t : kAllTypes) {
    for (bool v1 : {true, false}) {
      SCOPED_TRACE(std::string(KeyTypeName(t)) + (v1 ? " v1compat" : " v2"));
      const PrivateKey& k = TestKey(t);
      IpnsName name = IpnsName::FromPublicKey(k.Public());
      // TTL 300 s = 300e9 ns needs the 8-byte CBOR uint.
      Bytes raw = MakeRecord(k, kValue, 7, eol, v1, 300ULL * kSec);
      ASSERT_FALSE(raw.empty());
      IpnsReject why;
      auto rec = ValidateIpnsRecord(raw, name, NowUnixNanos(), &why);
      ASSERT_TRUE(rec.ok()) << Msg(rec);
      EXPECT_EQ(why, IpnsReject::kNone);
      EXPECT_EQ(rec->value, kValue);
      EXPECT_EQ(rec->sequence, 7u);
      EXPECT_EQ(rec->ttl_ns, 300ULL * kSec);
      EXPECT_EQ(rec->eol, eol);
      EXPECT_EQ(rec->validity, "2123-08-14T12:17:03.694052Z");
      EXPECT_EQ(rec->has_v1, v1);
      EXPECT_EQ(rec->signature_v1.empty(), !v1);
      EXPECT_EQ(rec->pubkey.empty(), t != KeyType::kRsa);  // only RSA names do not inline the key
      EXPECT_EQ(rec->data, ExpectedData(kValue, "2123-08-14T12:17:03.694052Z", 7, 300));
      EXPECT_EQ(rec->raw, raw);
      if (v1) {
        // signatureV1 signs value ‖ validity ‖ "EOL" (never checked, but legacy nodes do).
        Bytes payload = ToBytes(kValue + "2123-08-14T12:17:03.694052Z" + "EOL");
        EXPECT_TRUE(k.Public().Verify(payload, rec->signature_v1).ok());
      }
      if (t == KeyType::kRsa && v1) {  // the spec's "record 1020 B with embedded pubKey"
        EXPECT_GT(raw.size(), 900u);
        EXPECT_LT(raw.size(), 1100u);
      }
    }
  }
}

TEST(IpnsRecordCreate, ExactBytesForAFixedEd25519Key) {
  // Ed25519 signing is deterministic, so the whole record is fixed by its inputs; the layout
  // is the one boxo writes (fields 1-6 then 8, 9; no pubKey).
  Bytes pb = Unhex("08011240");
  Append(pb, Unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
                   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
  auto k = PrivateKey::FromProtobuf(pb);
  ASSERT_TRUE(k.ok());
  UnixNanos eol = *ParseRfc3339("2030-01-02T03:04:05.5Z");
  Bytes raw = MakeRecord(*k, "/ipns/example.com", 0, eol, true, 60ULL * kSec);
  Bytes data = ExpectedData("/ipns/example.com", "2030-01-02T03:04:05.5Z", 0, 60);
  Bytes sig_payload = ToBytes("ipns-signature:");
  Append(sig_payload, data);
  Bytes expect;
  pb::PutBytesField(expect, 1, AsBytes("/ipns/example.com"));
  pb::PutBytesField(expect, 2, *k->Sign(ToBytes("/ipns/example.com2030-01-02T03:04:05.5ZEOL")));
  Append(expect, Unhex("1800"));
  pb::PutBytesField(expect, 4, AsBytes("2030-01-02T03:04:05.5Z"));
  Append(expect, Unhex("2800"));
  pb::PutVarintField(expect, 6, 60ULL * kSec);
  pb::PutBytesField(expect, 8, *k->Sign(sig_payload));
  pb::PutBytesField(expect, 9, data);
  EXPECT_EQ(HexEncode(raw), HexEncode(expect));
}

TEST(IpnsRecordCreate, RefusesBadParams) {
  const PrivateKey& k = TestKey(KeyType::kEd25519);
  IpnsRecordParams p;
  p.eol = NowUnixNanos() + kSec;
  for (const char* v : {"", "/ipfs/", "ipfs/bafkqaddwgevxmmraojswg33smq", "/ipfs/notacid", "/foo/bar"}) {
    p.value = v;
    EXPECT_FALSE(CreateIpnsRecord(k, p).ok()) << v;
  }
  p.value = kValue + "/sub/path";
  EXPECT_TRUE(CreateIpnsRecord(k, p).ok());
  p.eol = 0;
  EXPECT_FALSE(CreateIpnsRecord(k, p).ok());
  p.eol = NowUnixNanos() + kSec;
  EXPECT_FALSE(CreateIpnsRecord(PrivateKey(), p).ok());
  p.value = "/ipns/" + std::string(11000, 'a');
  auto big = CreateIpnsRecord(k, p);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("10240"), std::string::npos);
}

// ---- hostile records ----

// Signs arbitrary CBOR data as a V2-only record: for data our encoder would never write.
Bytes SignData(const PrivateKey& k, const Bytes& data, bool embed_pub = false) {
  Bytes payload = ToBytes("ipns-signature:");
  Append(payload, data);
  Bytes raw;
  if (embed_pub) pb::PutBytesField(raw, 7, k.Public().ToProtobuf());
  pb::PutBytesField(raw, 8, *k.Sign(payload));
  pb::PutBytesField(raw, 9, data);
  return raw;
}

// Rewrites the protobuf: fields in `drop` go, `add` is appended.
Bytes Rewrite(const Bytes& raw, std::set<uint32_t> drop, const Bytes& add = {}) {
  Bytes out;
  ByteView in = raw;
  while (!in.empty()) {
    ByteView start = in;
    auto f = pb::ReadField(in);
    if (!f.ok()) break;
    if (!drop.count(f->number)) Append(out, start.first(start.size() - in.size()));
  }
  Append(out, add);
  return out;
}

IpnsReject Why(const Bytes& raw, const IpnsName& name, UnixNanos now = 0) {
  IpnsReject why = IpnsReject::kRollback;
  auto r = ValidateIpnsRecord(raw, name, now ? now : NowUnixNanos(), &why);
  if (r.ok()) EXPECT_EQ(why, IpnsReject::kNone);
  else EXPECT_NE(why, IpnsReject::kNone);
  return why;
}

class HostileRecords : public ::testing::Test {
 protected:
  UnixNanos eol_ = NowUnixNanos() + 3600 * kSec;
};

TEST_F(HostileRecords, TruncationAtEveryByte) {
  for (KeyType t : {KeyType::kEd25519, KeyType::kRsa}) {
    const PrivateKey& k = TestKey(t);
    IpnsName name = IpnsName::FromPublicKey(k.Public());
    Bytes raw = MakeRecord(k, kValue, 1, eol_);
    ASSERT_EQ(Why(raw, name), IpnsReject::kNone);
    for (size_t n = 0; n < raw.size(); ++n) {
      Bytes cut(raw.begin(), raw.begin() + n);
      IpnsReject why = Why(cut, name);
      // The last field is data: every prefix breaks it, drops it or makes the signature fail.
      EXPECT_TRUE(why == IpnsReject::kMalformed || why == IpnsReject::kBadSignature) << n << " " << IpnsRejectName(why);
      EXPECT_FALSE(ParseIpnsRecord(cut).ok() && why == IpnsReject::kMalformed) << n;
    }
  }
}

TEST_F(HostileRecords, SizeLimitIsInclusive) {
  const PrivateKey& k = TestKey(KeyType::kEd25519);
  IpnsName name = IpnsName::FromPublicKey(k.Public());
  Bytes raw = MakeRecord(k, kValue, 1, eol_);
  // Pad with an unknown field (number 20) to exactly 10240, then one byte more.
  auto padded = [&](size_t total) {
    size_t len = total - raw.size();
    while (raw.size() + pb::BytesFieldSize(20, len) > total) --len;
    Bytes out = raw;
    pb::PutBytesField(out, 20, Bytes(len, 'x'));
    return out;
  };
  Bytes exact = padded(kMaxIpnsRecordSize);
  ASSERT_EQ(exact.size(), kMaxIpnsRecordSize);
  EXPECT_EQ(Why(exact, name), IpnsReject::kNone);
  Bytes over = padded(kMaxIpnsRecordSize + 1);
  ASSERT_EQ(over.size(), kMaxIpnsRecordSize + 1);
  EXPECT_EQ(Why(over, name), IpnsReject::kTooBig);
  IpnsReject why;
  auto r = ParseIpnsRecord(over, &why);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(why, IpnsReject::kTooBig);
  Bytes huge(1 << 20, 0x0a);
  EXPECT_EQ(Why(huge, name), IpnsReject::kTooBig);
}

TEST_F(HostileRecords, BitFlips) {
  const PrivateKey& k = TestKey(KeyType::kEd25519);
  IpnsName name = IpnsName::FromPublicKey(k.Public());
  Bytes raw = MakeRecord(k, kValue, 1, eol_, /*v1compat=*/false);
  auto rec = ParseIpnsRecord(raw);
  ASSERT_TRUE(rec.ok());
  auto find = [&](const Bytes& part) {
    auto it = std::search(raw.begin(), raw.end(), part.begin(), part.end());
    EXPECT_NE(it, raw.end());
    return static_cast<size_t>(it - raw.begin());
  };
  size_t sig = find(rec->signature_v2), data = find(rec->data);
  for (size_t i = 0; i < rec->signature_v2.size(); ++i) {
    Bytes b = raw;
    b[sig + i] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_EQ(Why(b, name), IpnsReject::kBadSignature) << i;
  }
  for (size_t i = 0; i < rec->data.size(); ++i) {
    Bytes b = raw;
    b[data + i] ^= static_cast<uint8_t>(1u << (i % 8));
    IpnsReject why = Why(b, name);
    // Either the CBOR no longer decodes or the signature no longer matches; never valid.
    EXPECT_TRUE(why == IpnsReject::kMalformed || why == IpnsReject::kBadSignature) << i;
  }
  // A flip inside the Value text keeps the CBOR well-formed: the signature catches it.
  Bytes b = raw;
  b[find(ToBytes(kValue)) + 10] ^= 1;
  EXPECT_EQ(Why(b, name), IpnsReject::kBadSignature);
}

TEST_F(HostileRecords, RsaPubKeyFlipsAndAnotherNamesRecord) {
  const PrivateKey& rsa = TestKey(KeyType::kRsa);
  IpnsName rsa_name = IpnsName::FromPublicKey(rsa.Public());
  Bytes raw = MakeRecord(rsa, kValue, 1, eol_);
  auto rec = ParseIpnsRecord(raw);
  ASSERT_TRUE(rec.ok());
  ASSERT_FALSE(rec->pubkey.empty());
  auto it = std::search(raw.begin(), raw.end(), rec->pubkey.begin(), rec->pubkey.end());
  size_t pk = static_cast<size_t>(it - raw.begin());
  // Deep in the modulus: still an RSA key, but another one, so another name.
  Bytes b = raw;
  b[pk + 100] ^= 0x01;
  EXPECT_EQ(Why(b, rsa_name), IpnsReject::kWrongName);
  auto r = ValidateIpnsRecord(b, rsa_name, NowUnixNanos());
  EXPECT_NE(Msg(r).find("embedded public key belongs to k2k4r8"), std::string::npos) << Msg(r);
  // The Type byte: an "Ed25519" key of 294 bytes does not parse.
  b = raw;
  b[pk + 1] = 0x01;
  EXPECT_EQ(Why(b, rsa_name), IpnsReject::kMalformed);
  // Without pubKey an RSA name gives nothing to check with.
  EXPECT_EQ(Why(Rewrite(raw, {7}), rsa_name), IpnsReject::kWrongName);

  // Another name's record: RSA by the embedded key, Ed25519 by the inlined one.
  const PrivateKey& ed = TestKey(KeyType::kEd25519);
  IpnsName ed_name = IpnsName::FromPublicKey(ed.Public());
  auto other_rsa = PrivateKey::Generate(KeyType::kRsa);
  ASSERT_TRUE(other_rsa.ok());
  EXPECT_EQ(Why(raw, IpnsName::FromPublicKey(other_rsa->Public())), IpnsReject::kWrongName);
  EXPECT_EQ(Why(raw, ed_name), IpnsReject::kWrongName);
  auto other_ed = PrivateKey::Generate(KeyType::kEd25519);
  Bytes ed_raw = MakeRecord(ed, kValue, 1, eol_);
  EXPECT_EQ(Why(ed_raw, IpnsName::FromPublicKey(other_ed->Public())), IpnsReject::kBadSignature);
  // An Ed25519 record carrying another key than its name's.
  Bytes wrong_embed = Rewrite(ed_raw, {}, [&] {
    Bytes f;
    pb::PutBytesField(f, 7, other_ed->Public().ToProtobuf());
    return f;
  }());
  EXPECT_EQ(Why(wrong_embed, ed_name), IpnsReject::kWrongName);
  // ... and its own key embedded is fine.
  Bytes right_embed = Rewrite(ed_raw, {}, [&] {
    Bytes f;
    pb::PutBytesField(f, 7, ed.Public().ToProtobuf());
    return f;
  }());
  EXPECT_EQ(Why(right_embed, ed_name), IpnsReject::kNone);
}

TEST_F(HostileRecords, ExpiryIsStrict) {
  const PrivateKey& k = TestKey(KeyType::kSecp256k1);
  IpnsName name = IpnsName::FromPublicKey(k.Public());
  Bytes raw = MakeRecord(k, kValue, 1, eol_);
  EXPECT_EQ(Why(raw, name, eol_ - 1), IpnsReject::kNone);
  EXPECT_EQ(Why(raw, name, eol_), IpnsReject::kExpired);
  auto r = ValidateIpnsRecord(raw, name, eol_ + kSec);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("IPNS record for " + name.ToString() + ": expired at"), std::string::npos)
      << r.error().message;
  Bytes old = MakeRecord(k, kValue, 1, NowUnixNanos() - kSec);
  EXPECT_EQ(Why(old, name), IpnsReject::kExpired);
  // Parsing does not look at the clock.
  EXPECT_TRUE(ParseIpnsRecord(old).ok());
}

TEST_F(HostileRecords, V1FieldsMustMatch) {
  const PrivateKey& k = TestKey(KeyType::kEd25519);
  IpnsName name = IpnsName::FromPublicKey(k.Public());
  Bytes raw = MakeRecord(k, kValue, 5, eol_, true, 60ULL * kSec);
  ASSERT_EQ(Why(raw, name), IpnsReject::kNone);
  auto with = [&](uint32_t field, auto value) {
    Bytes f;
    if constexpr (std::is_integral_v<decltype(value)>) pb::PutVarintField(f, field, value);
    else pb::PutBytesField(f, field, AsBytes(value));
    return Rewrite(raw, {field}, f);
  };
  EXPECT_EQ(Why(with(1, std::string("/ipfs/bafkqadtwgiww63tmpeqhezldn5zgi")), name), IpnsReject::kV1Mismatch);
  EXPECT_EQ(Why(with(4, std::string("2123-08-14T12:17:03.694052Z")), name), IpnsReject::kV1Mismatch);
  EXPECT_EQ(Why(with(3, uint64_t{1}), name), IpnsReject::kV1Mismatch);
  EXPECT_EQ(Why(with(5, uint64_t{6}), name), IpnsReject::kV1Mismatch);
  EXPECT_EQ(Why(with(6, uint64_t{61} * kSec), name), IpnsReject::kV1Mismatch);
  // A V1 field missing counts as zero: sequence 5 ≠ 0.
  EXPECT_EQ(Why(Rewrite(raw, {5}), name), IpnsReject::kV1Mismatch);
  // boxo's rule: signatureV1 alone (no value) also triggers the check.
  EXPECT_EQ(Why(Rewrite(raw, {1}), name), IpnsReject::kV1Mismatch);
  // Without value and signatureV1 the other V1 copies are not compared.
  EXPECT_EQ(Why(Rewrite(raw, {1, 2, 5}), name), IpnsReject::kNone);
  // signatureV1 is never checked.
  Bytes junk_sig;
  pb::PutBytesField(junk_sig, 2, ToBytes("junk"));
  EXPECT_EQ(Why(Rewrite(raw, {2}, junk_sig), name), IpnsReject::kNone);
  // V1-only: no data or signatureV2.
  EXPECT_EQ(Why(Rewrite(raw, {8, 9}), name), IpnsReject::kMalformed);
  EXPECT_EQ(Why(Rewrite(raw, {8}), name), IpnsReject::kMalformed);
}

TEST_F(HostileRecords, SignedButBadData) {
  const PrivateKey& k = TestKey(KeyType::kEd25519);
  IpnsName name = IpnsName::FromPublicKey(k.Public());
  std::string validity = FormatRfc3339Nano(eol_);
  Bytes good = ExpectedData(kValue, validity, 1, 300);
  EXPECT_EQ(Why(SignData(k, good), name), IpnsReject::kNone);
  auto replace = [&](std::string_view from, const Bytes& to) {
    Bytes d = good;
    auto it = std::search(d.begin(), d.end(), from.begin(), from.end());
    if (it == d.end()) {
      ADD_FAILURE() << "no " << from;
      return d;
    }
    size_t at = static_cast<size_t>(it - d.begin());
    d.erase(d.begin() + at, d.begin() + at + from.size());
    d.insert(d.begin() + at, to.begin(), to.end());
    return d;
  };
  // ValidityType 1: signed, but not EOL.
  Bytes vt = good;
  vt.back() = 0x01;
  auto r = ValidateIpnsRecord(SignData(k, vt), name, NowUnixNanos());
  EXPECT_EQ(Why(SignData(k, vt), name), IpnsReject::kMalformed);
  EXPECT_NE(Msg(r).find("ValidityType 1"), std::string::npos) << Msg(r);
  // Negative TTL (boxo refuses it).
  Bytes neg = good;
  neg.erase(neg.begin() + 5, neg.begin() + 14);  // the 9-byte uint after "TTL"
  neg.insert(neg.begin() + 5, 0x20);             // -1
  ASSERT_EQ(neg[4], 'L');
  EXPECT_EQ(Why(SignData(k, neg), name), IpnsReject::kMalformed);
  // Value as a text string, Validity unparsable, a key missing, a duplicate key.
  char len = static_cast<char>(kValue.size());
  Bytes text_value = replace(std::string("\x58", 1) + len + kValue, [&] {
    Bytes t = {0x78, static_cast<uint8_t>(len)};
    Append(t, AsBytes(kValue));
    return t;
  }());
  EXPECT_EQ(Why(SignData(k, text_value), name), IpnsReject::kMalformed);
  std::string bad_validity = validity;
  bad_validity[4] = '/';
  EXPECT_EQ(Why(SignData(k, replace(validity, ToBytes(bad_validity))), name), IpnsReject::kMalformed);
  Bytes missing = replace("\x6cValidityType", ToBytes("\x6cValidityTypX"));
  EXPECT_EQ(Why(SignData(k, missing), name), IpnsReject::kMalformed);
  Bytes dup = replace("\x68Sequence", ToBytes("\x68Validity"));
  EXPECT_EQ(Why(SignData(k, dup), name), IpnsReject::kMalformed);
  // Extra keys are ignored (spec "Extensible Data").
  Bytes extra = good;
  extra[0] = 0xa6;
  Append(extra, Unhex("654578747261a1616101"));  // "Extra": {"a": 1}
  EXPECT_EQ(Why(SignData(k, extra), name), IpnsReject::kNone);
  // Not a map; a map that claims 2^32 entries; deep nesting; trailing bytes.
  EXPECT_EQ(Why(SignData(k, Unhex("83010203")), name), IpnsReject::kMalformed);
  EXPECT_EQ(Why(SignData(k, Unhex("bbffffffffffffffff63545454")), name), IpnsReject::kMalformed);
  Bytes deep = good;
  deep[0] = 0xa6;
  Append(deep, Unhex("654578747261"));
  for (int i = 0; i < 500; ++i) deep.push_back(0x81);
  deep.push_back(0x01);
  EXPECT_EQ(Why(SignData(k, deep), name), IpnsReject::kMalformed);
  Bytes trailing = good;
  trailing.push_back(0x00);
  EXPECT_EQ(Why(SignData(k, trailing), name), IpnsReject::kMalformed);
  // Protobuf: a known field with the wrong wire type, an unknown one that is skipped.
  EXPECT_EQ(Why(Rewrite(SignData(k, good), {}, Unhex("2801")), name), IpnsReject::kNone);
  EXPECT_EQ(Why(Rewrite(SignData(k, good), {}, Unhex("2a0101")), name), IpnsReject::kMalformed);
  EXPECT_EQ(Why(Rewrite(SignData(k, good), {}, Unhex("f80701")), name), IpnsReject::kNone);
  EXPECT_EQ(Why(Unhex("0bffff"), name), IpnsReject::kMalformed);  // group wire type
}

// ---- selection ----

TEST(IpnsRecordCompare, SequenceThenEolThenBytes) {
  const PrivateKey& k = TestKey(KeyType::kEd25519);
  UnixNanos t = NowUnixNanos() + 3600 * kSec;
  auto parse = [](const Bytes& raw) { return *ParseIpnsRecord(raw); };
  IpnsRecord seq1 = parse(MakeRecord(k, kValue, 1, t + 100 * kSec));
  IpnsRecord seq2 = parse(MakeRecord(k, kValue, 2, t));
  EXPECT_GT(CompareIpnsRecords(seq2, seq1), 0);
  EXPECT_LT(CompareIpnsRecords(seq1, seq2), 0);
  IpnsRecord later = parse(MakeRecord(k, kValue, 2, t + kSec));
  EXPECT_GT(CompareIpnsRecords(later, seq2), 0);
  EXPECT_LT(CompareIpnsRecords(seq2, later), 0);
  EXPECT_EQ(CompareIpnsRecords(seq2, seq2), 0);
  // Same sequence and EOL: the larger raw bytes win (boxo selectRecord's bytes.Compare).
  IpnsRecord a = parse(MakeRecord(k, "/ipfs/bafkqaddwgevxmmraojswg33smq", 3, t));
  IpnsRecord b = parse(MakeRecord(k, "/ipfs/bafkqadtwgiww63tmpeqhezldn5zgi", 3, t));
  int c = CompareIpnsRecords(a, b);
  EXPECT_EQ(c > 0, a.raw > b.raw);
  EXPECT_NE(c, 0);
  EXPECT_EQ(CompareIpnsRecords(b, a), -c);
  IpnsRecord prefix = a;
  prefix.raw.pop_back();
  EXPECT_GT(CompareIpnsRecords(a, prefix), 0);
}

}  // namespace
}  // namespace ipfskit

// ---- keystore ----

namespace ipfskit {
namespace {

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = testing::MakeTempDir("ipfskit-keystore"); }
  void TearDown() override { fs::remove_all(root_); }
  static unsigned Mode(const std::string& p) {
    struct stat st;
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  std::string root_;
};

TEST_F(KeystoreTest, PutGetListRenameRemove) {
  mode_t old_umask = ::umask(0);  // the modes must not depend on the caller's umask
  auto ks = Keystore::Open(root_ + "/keystore");
  ::umask(old_umask);
  ASSERT_TRUE(ks.ok()) << Msg(ks);
  EXPECT_EQ(Mode(root_ + "/keystore"), 0700u);
  auto empty = ks->List();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  const PrivateKey& ed = TestKey(KeyType::kEd25519);
  const PrivateKey& rsa = TestKey(KeyType::kRsa);
  ASSERT_TRUE(ks->Put("web", ed).ok());
  ASSERT_TRUE(ks->Put("a rsa key", rsa).ok());
  // Kubo's file name: "key_" + lower-case unpadded base32 of the name ("web" → "o5swe").
  std::string web_file = root_ + "/keystore/key_o5swe";
  ASSERT_TRUE(fs::exists(web_file));
  EXPECT_EQ(Mode(web_file), 0600u);
  EXPECT_EQ(testing::ReadFile(web_file), std::string(AsChars(ed.ToProtobuf())));
  auto got = ks->Get("web");
  ASSERT_TRUE(got.ok()) << Msg(got);
  EXPECT_EQ(got->ToProtobuf(), ed.ToProtobuf());
  auto dup = ks->Put("web", rsa);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::kExists);
  EXPECT_EQ(ks->Get("web")->ToProtobuf(), ed.ToProtobuf());  // not replaced
  auto missing = ks->Get("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "no key named nope");

  // self: made on first use, listed first, stable, reserved.
  auto self = ks->Self();
  ASSERT_TRUE(self.ok()) << Msg(self);
  EXPECT_EQ(self->type(), KeyType::kEd25519);
  EXPECT_EQ(ks->Self()->ToProtobuf(), self->ToProtobuf());
  EXPECT_EQ(ks->Put("self", ed).error().code, Errc::kExists);
  EXPECT_FALSE(ks->Remove("self").ok());
  EXPECT_FALSE(ks->Rename("self", "x", false).ok());
  EXPECT_FALSE(ks->Rename("web", "self", true).ok());

  auto list = ks->List();
  ASSERT_TRUE(list.ok()) << Msg(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "self");
  EXPECT_EQ((*list)[1].name, "a rsa key");
  EXPECT_EQ((*list)[1].type, KeyType::kRsa);
  EXPECT_EQ((*list)[2].name, "web");
  EXPECT_EQ((*list)[2].id, IpnsName::FromPublicKey(ed.Public()));
  auto found = ks->FindById(IpnsName::FromPublicKey(rsa.Public()));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name, "a rsa key");
  auto other = PrivateKey::Generate(KeyType::kEd25519);
  EXPECT_FALSE(ks->FindById(IpnsName::FromPublicKey(other->Public()))->has_value());

  // Rename: refuses to overwrite unless asked.
  ASSERT_TRUE(ks->Rename("web", "blog", false).ok());
  EXPECT_EQ(ks->Get("web").error().code, Errc::kNotFound);
  EXPECT_EQ(ks->Get("blog")->ToProtobuf(), ed.ToProtobuf());
  auto clash = ks->Rename("blog", "a rsa key", false);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, Errc::kExists);
  EXPECT_EQ(ks->Get("a rsa key")->ToProtobuf(), rsa.ToProtobuf());
  ASSERT_TRUE(ks->Rename("blog", "a rsa key", true).ok());
  EXPECT_EQ(ks->Get("a rsa key")->ToProtobuf(), ed.ToProtobuf());
  EXPECT_EQ(ks->Rename("gone", "x", false).error().code, Errc::kNotFound);

  ASSERT_TRUE(ks->Remove("a rsa key").ok());
  EXPECT_EQ(ks->Remove("a rsa key").error().code, Errc::kNotFound);
  ASSERT_EQ(ks->List()->size(), 1u);
  // No temporaries left behind; foreign files are ignored by List.
  std::ofstream(root_ + "/keystore/README") << "x";
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(root_ + "/keystore")) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp")) << e.path();
    ++files;
  }
  EXPECT_EQ(files, 2u);
  EXPECT_EQ(ks->List()->size(), 1u);
  // A corrupt key file is an error naming it, not a silently shorter list.
  std::ofstream(root_ + "/keystore/key_mjqxe") << "garbage";  // "bar"
  auto bad = ks->List();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("key bar"), std::string::npos) << bad.error().message;

  // Reopening finds the same keys.
  auto again = Keystore::Open(root_ + "/keystore/");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Self()->ToProtobuf(), self->ToProtobuf());
}

TEST_F(KeystoreTest, BadNames) {
  auto ks = Keystore::Open(root_ + "/keystore");
  ASSERT_TRUE(ks.ok());
  const PrivateKey& k = TestKey(KeyType::kEd25519);
  for (std::string bad : {std::string(""), std::string("a/b"), std::string(".hidden"), std::string("tab\there"),
                          std::string(157, 'x'), std::string("nul\0x", 5)}) {
    auto st = ks->Put(bad, k);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.error().code, Errc::kInvalidArgument) << bad;
    EXPECT_EQ(ks->Get(bad).error().code, Errc::kInvalidArgument);
  }
  // The longest name whose file name fits, and UTF-8.
  EXPECT_TRUE(ks->Put(std::string(156, 'x'), k).ok());
  EXPECT_TRUE(ks->Put("clé", k).ok());
  EXPECT_TRUE(ks->Get("clé").ok());
  // A file where the keystore directory should be.
  std::ofstream(root_ + "/file") << "x";
  EXPECT_FALSE(Keystore::Open(root_ + "/file").ok());
  EXPECT_FALSE(Keystore::Open(root_ + "/no/such/parent").ok());
}

}  // namespace
}  // namespace ipfskit
