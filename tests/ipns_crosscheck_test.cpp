// Cross-implementation check of IPNS keys and records against the npm `ipns` package (js-ipns,
// @libp2p/crypto, @libp2p/peer-id) through tests/js/ipns.mjs, and of PEM keys against the
// openssl command line tool.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/ipns/keys.h"
#include "core/ipns/name.h"
#include "core/ipns/record.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::RunCommand;
constexpr UnixNanos kSec = 1000000000;
const std::string kValue = "/ipfs/bafkqaddwgevxmmraojswg33smq";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class IpnsCrosscheck : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("ipfskit-ipns-xcheck"); }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs tests/js/ipns.mjs; stdout in *out, stderr folded in on failure.
  static int Js(const std::string& args, std::string* out) {
    return RunCommand("cd '" + testing::SourceDir() + "/tests/js' && node ipns.mjs " + args + " 2>&1", out);
  }
  void Write(const std::string& path, ByteView b) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  Bytes Read(const std::string& path) { return ToBytes(ReadFile(path)); }

  std::string dir_;
};

const char* const kTypes[] = {"ed25519", "secp256k1", "rsa"};

TEST_F(IpnsCrosscheck, JsRecordsValidateWithOursAndOursWithJs) {
  for (const char* type : kTypes) {
    SCOPED_TRACE(type);
    std::string out = dir_ + "/js-" + type;
    std::string js_out;
    ASSERT_EQ(Js(std::string("make ") + type + " " + kValue + " 42 60000000000 3600000 '" + out + "'", &js_out), 0)
        << js_out;
    std::string js_name = Trim(ReadFile(out + "/name"));
    Bytes js_record = Read(out + "/record");
    Bytes js_key = Read(out + "/key.pb");
    ASSERT_FALSE(js_record.empty());

    // The JS private key protobuf, imported, has the JS name and encodes back byte for byte.
    auto key = PrivateKey::FromProtobuf(js_key);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->ToProtobuf(), js_key);
    IpnsName name = IpnsName::FromPublicKey(key->Public());
    EXPECT_EQ(name.ToString(), js_name);
    auto parsed = IpnsName::Parse(js_name);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, name);

    // Their record validates with us and says the same.
    IpnsReject why;
    auto rec = ValidateIpnsRecord(js_record, name, NowUnixNanos(), &why);
    ASSERT_TRUE(rec.ok()) << rec.error().message;
    EXPECT_EQ(rec->value, kValue);
    EXPECT_EQ(rec->sequence, 42u);
    EXPECT_EQ(rec->ttl_ns, 60ULL * kSec);
    EXPECT_EQ(rec->validity.size(), 30u) << rec->validity;  // js writes 9 fraction digits
    EXPECT_GT(rec->eol, NowUnixNanos() + 3500 * kSec);
    EXPECT_EQ(rec->pubkey.empty(), std::string(type) != "rsa");

    // Ours, V1+V2 and V2-only, validate with js-ipns and read back the same.
    for (bool v1 : {true, false}) {
      IpnsRecordParams p;
      p.value = kValue + "/dir";
      p.sequence = 7;
      p.eol = NowUnixNanos() + 7200 * kSec + 123;
      p.ttl_ns = 30ULL * kSec;
      p.v1compat = v1;
      auto ours = CreateIpnsRecord(*key, p);
      ASSERT_TRUE(ours.ok()) << ours.error().message;
      std::string file = out + (v1 ? "/ours-v1" : "/ours-v2");
      Write(file, *ours);
      std::string res;
      ASSERT_EQ(Js("validate " + js_name + " '" + file + "'", &res), 0) << res;
      auto j = nlohmann::json::parse(res);
      EXPECT_EQ(j["value"], p.value);
      EXPECT_EQ(j["sequence"], "7");
      EXPECT_EQ(j["ttl"], "30000000000");
      EXPECT_EQ(j["validity"], FormatRfc3339Nano(p.eol));

      // A flipped signatureV2 byte: js-ipns refuses it too, so the check above could fail.
      auto parsed_ours = ParseIpnsRecord(*ours);
      ASSERT_TRUE(parsed_ours.ok());
      const Bytes& sig = parsed_ours->signature_v2;
      auto at = std::search(ours->begin(), ours->end(), sig.begin(), sig.end()) - ours->begin();
      Bytes bad = *ours;
      bad[static_cast<size_t>(at) + sig.size() / 2] ^= 0x04;
      Write(file + "-bad", bad);
      res.clear();
      EXPECT_NE(Js("validate " + js_name + " '" + file + "-bad'", &res), 0) << res;
      EXPECT_NE(res.find("SignatureVerificationError"), std::string::npos) << res;
      EXPECT_FALSE(ValidateIpnsRecord(bad, name, NowUnixNanos(), &why).ok());
      EXPECT_EQ(why, IpnsReject::kBadSignature);
    }
    // And under another name js-ipns refuses ours as well.
    auto other = PrivateKey::Generate(KeyType::kEd25519);
    std::string res;
    EXPECT_NE(Js("validate " + IpnsName::FromPublicKey(other->Public()).ToString() + " '" + out + "/ours-v1'", &res), 0)
        << res;
  }
}

TEST_F(IpnsCrosscheck, SameKeySameInputsSameBytes) {
  // Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic, so with our key, and an EOL
  // whose fraction has 9 significant digits (js always writes 9; boxo trims zeros), js-ipns must
  // write exactly our bytes. secp256k1 signatures are randomised by OpenSSL: only the signed
  // data and the unsigned fields can be compared there.
  UnixNanos eol = *ParseRfc3339("2030-01-01T00:00:00.123456789Z");
  for (KeyType t : {KeyType::kEd25519, KeyType::kRsa, KeyType::kSecp256k1}) {
    SCOPED_TRACE(KeyTypeName(t));
    auto key = PrivateKey::Generate(t);
    ASSERT_TRUE(key.ok());
    std::string kfile = dir_ + "/" + KeyTypeName(t) + ".pb";
    Write(kfile, key->ToProtobuf());
    std::string name;
    ASSERT_EQ(Js("name '" + kfile + "'", &name), 0) << name;
    EXPECT_EQ(Trim(name), IpnsName::FromPublicKey(key->Public()).ToString());
    for (bool v1 : {true, false}) {
      std::string out = dir_ + "/same-" + KeyTypeName(t) + (v1 ? "-v1" : "-v2");
      std::string log;
      ASSERT_EQ(Js("make x " + kValue + " 5 300000000000 2030-01-01T00:00:00.123456789Z '" + out + "' --key '" + kfile +
                       "'" + (v1 ? "" : " --v2only"),
                   &log),
                0)
          << log;
      Bytes js = Read(out + "/record");
      IpnsRecordParams p;
      p.value = kValue;
      p.sequence = 5;
      p.eol = eol;
      p.ttl_ns = 300ULL * kSec;
      p.v1compat = v1;
      auto ours = CreateIpnsRecord(*key, p);
      ASSERT_TRUE(ours.ok());
      if (t != KeyType::kSecp256k1) {
        EXPECT_EQ(HexEncode(*ours), HexEncode(js));
      } else {
        auto a = ParseIpnsRecord(*ours), b = ParseIpnsRecord(js);
        ASSERT_TRUE(a.ok() && b.ok());
        EXPECT_EQ(HexEncode(a->data), HexEncode(b->data));
        EXPECT_EQ(a->pubkey, b->pubkey);
        EXPECT_EQ(a->has_v1, b->has_v1);
        EXPECT_EQ(ours->size(), js.size() + a->signature_v2.size() + a->signature_v1.size() -
                                    b->signature_v2.size() - b->signature_v1.size());
      }
    }
  }
}

TEST_F(IpnsCrosscheck, Secp256k1LowSAcceptedByNoble) {
  // noble-secp256k1 (js-libp2p) refuses high-S signatures; without our normalisation about half
  // of these would fail.
  auto key = PrivateKey::Generate(KeyType::kSecp256k1);
  ASSERT_TRUE(key.ok());
  std::string name = IpnsName::FromPublicKey(key->Public()).ToString();
  std::string files;
  for (int i = 0; i < 24; ++i) {
    IpnsRecordParams p;
    p.value = kValue;
    p.sequence = static_cast<uint64_t>(i);
    p.eol = NowUnixNanos() + 3600 * kSec;
    auto r = CreateIpnsRecord(*key, p);
    ASSERT_TRUE(r.ok());
    std::string f = dir_ + "/secp-" + std::to_string(i);
    Write(f, *r);
    files += " '" + f + "'";
  }
  std::string out;
  EXPECT_EQ(Js("validate " + name + files, &out), 0) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 24);
}

TEST_F(IpnsCrosscheck, PemAgainstOpensslTool) {
  for (KeyType t : {KeyType::kEd25519, KeyType::kSecp256k1, KeyType::kRsa}) {
    SCOPED_TRACE(KeyTypeName(t));
    auto key = PrivateKey::Generate(t);
    ASSERT_TRUE(key.ok());
    auto pem = key->ToPkcs8Pem();
    ASSERT_TRUE(pem.ok());
    std::string pem_file = dir_ + "/" + KeyTypeName(t) + ".pem";
    Write(pem_file, AsBytes(*pem));
    std::string der_file = pem_file + ".pub.der";
    std::string out;
    std::string conv = t == KeyType::kSecp256k1 ? " -ec_conv_form compressed" : "";
    ASSERT_EQ(RunCommand("openssl pkey -in '" + pem_file + "' -pubout -outform DER" + conv + " -out '" + der_file +
                             "' 2>&1",
                         &out),
              0)
        << out;
    Bytes spki = Read(der_file);
    // The libp2p public key Data: the SPKI itself for RSA, its key bits for the others.
    Bytes pb_bytes = key->Public().ToProtobuf();
    ByteView pb = pb_bytes;
    ByteView data = pb.subspan(pb.size() - (t == KeyType::kRsa ? spki.size() : t == KeyType::kEd25519 ? 32 : 33));
    ASSERT_GE(spki.size(), data.size());
    EXPECT_EQ(HexEncode(ByteView(spki).subspan(spki.size() - data.size())), HexEncode(data));
    out.clear();
    ASSERT_EQ(RunCommand("openssl pkey -in '" + pem_file + "' -noout -text 2>&1", &out), 0) << out;
    const char* want = t == KeyType::kSecp256k1 ? "secp256k1" : t == KeyType::kRsa ? "2048 bit" : "ED25519";
    EXPECT_NE(out.find(want), std::string::npos) << out;
  }
  // Keys made by the openssl tool import, with the public key openssl derives.
  struct Gen { const char* args; KeyType type; const char* conv; };
  for (Gen g : {Gen{"-algorithm ed25519", KeyType::kEd25519, ""},
                Gen{"-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1", KeyType::kSecp256k1, " -ec_conv_form compressed"},
                Gen{"-algorithm RSA -pkeyopt rsa_keygen_bits:2048", KeyType::kRsa, ""}}) {
    SCOPED_TRACE(g.args);
    std::string pem_file = dir_ + "/gen.pem", der_file = dir_ + "/gen.der", out;
    ASSERT_EQ(RunCommand(std::string("openssl genpkey ") + g.args + " -out '" + pem_file + "' 2>&1 && openssl pkey -in '" +
                             pem_file + "' -pubout -outform DER" + g.conv + " -out '" + der_file + "' 2>&1",
                         &out),
              0)
        << out;
    auto key = PrivateKey::FromPkcs8Pem(ReadFile(pem_file));
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->type(), g.type);
    Bytes spki = Read(der_file);
    Bytes pb = key->Public().ToProtobuf();
    size_t n = g.type == KeyType::kRsa ? spki.size() : g.type == KeyType::kEd25519 ? 32 : 33;
    EXPECT_EQ(HexEncode(ByteView(spki).subspan(spki.size() - n)), HexEncode(ByteView(pb).subspan(pb.size() - n)));
    // It signs records js-ipns accepts.
    IpnsRecordParams p;
    p.value = kValue;
    p.eol = NowUnixNanos() + 3600 * kSec;
    auto r = CreateIpnsRecord(*key, p);
    ASSERT_TRUE(r.ok());
    Write(dir_ + "/gen.rec", *r);
    out.clear();
    EXPECT_EQ(Js("validate " + IpnsName::FromPublicKey(key->Public()).ToString() + " '" + dir_ + "/gen.rec'", &out), 0)
        << out;
  }
}

}  // namespace
}  // namespace ipfskit
