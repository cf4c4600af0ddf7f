#include "core/ipns/keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/codec/protobuf.h"
#include "core/multiformats/multihash.h"

namespace ipfskit {
namespace {

// go-libp2p and js-libp2p both refuse RSA keys outside these sizes (MinRsaKeyBits,
// maxRsaKeyBits / MAX_RSA_KEY_SIZE), so a record signed with one would be invalid elsewhere.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;
// A peer ID inlines the public key protobuf with the identity hash up to this size.
constexpr size_t kMaxInlineKeySize = 42;
constexpr size_t kSecpScalarSize = 32;

struct BnFree {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct EcGroupFree {
  void operator()(EC_GROUP* g) const { EC_GROUP_free(g); }
};
struct EcPointFree {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct P8Free {
  void operator()(PKCS8_PRIV_KEY_INFO* p) const { PKCS8_PRIV_KEY_INFO_free(p); }
};

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

// The OpenSSL error queue as text (and cleared), so a failure names its cause.
std::string SslError() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Error SslFail(Errc code, const std::string& what) {
  return MakeError(code, what + ": " + SslError());
}

bool IsSecp256k1(EVP_PKEY* k) {
  if (!EVP_PKEY_is_a(k, "EC")) return false;
  char group[64] = {0};
  size_t len = 0;
  if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len)) return false;
  return std::strcmp(group, "secp256k1") == 0;
}

// Which libp2p type an OpenSSL key is; ECDSA on other curves and other algorithms are refused.
Result<KeyType> ClassifyKey(EVP_PKEY* k) {
  if (EVP_PKEY_is_a(k, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(k, "RSA")) {
    int bits = EVP_PKEY_get_bits(k);
    if (bits < kMinRsaBits || bits > kMaxRsaBits)
      return MakeError(Errc::kUnsupported, "RSA key of " + std::to_string(bits) + " bits: libp2p allows " +
                                               std::to_string(kMinRsaBits) + " to " + std::to_string(kMaxRsaBits));
    return KeyType::kRsa;
  }
  if (IsSecp256k1(k)) return KeyType::kSecp256k1;
  if (EVP_PKEY_is_a(k, "EC"))
    return MakeError(Errc::kUnsupported, "ECDSA keys on curves other than secp256k1 are not supported");
  return MakeError(Errc::kUnsupported, std::string("unsupported key algorithm ") + EVP_PKEY_get0_type_name(k));
}

Result<Bytes> RawPublic(EVP_PKEY* k) {
  Bytes out(32);
  size_t len = out.size();
  if (!EVP_PKEY_get_raw_public_key(k, out.data(), &len) || len != 32)
    return SslFail(Errc::kInternal, "reading an Ed25519 public key");
  return out;
}

// The 33-byte compressed point libp2p uses for secp256k1.
Result<Bytes> SecpCompressedPublic(EVP_PKEY* k) {
  uint8_t buf[65];
  size_t len = 0;
  if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len))
    return SslFail(Errc::kInternal, "reading a secp256k1 public key");
  if (len == 33) return Bytes(buf, buf + 33);
  if (len != 65 || buf[0] != 0x04) return MakeError(Errc::kInternal, "unexpected secp256k1 point encoding");
  Bytes out(33);
  out[0] = (buf[64] & 1) ? 0x03 : 0x02;  // SEC 1 §2.3.3: the parity of y picks the prefix
  std::memcpy(out.data() + 1, buf + 1, 32);
  return out;
}

// An EC key on secp256k1 from a public point and, optionally, the private scalar.
Result<std::shared_ptr<EVP_PKEY>> SecpFromParts(ByteView point, const BIGNUM* priv) {
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "secp256k1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ||
      (priv && !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv)))
    return SslFail(Errc::kInternal, "building secp256k1 key parameters");
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* k = nullptr;
  // fromdata decodes the point (EC_POINT_oct2point), which refuses points off the curve.
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &k, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return SslFail(Errc::kMalformed, "invalid secp256k1 key");
  return Own(k);
}

Result<std::shared_ptr<EVP_PKEY>> SecpFromScalar(ByteView scalar) {
  std::unique_ptr<EC_GROUP, EcGroupFree> group(EC_GROUP_new_by_curve_name(NID_secp256k1));
  BnPtr d(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), nullptr));
  if (!group || !d) return SslFail(Errc::kInternal, "secp256k1 setup");
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0)
    return MakeError(Errc::kMalformed, "secp256k1 private key is out of range");
  // OpenSSL does not derive the public point when a key is imported from its scalar.
  std::unique_ptr<EC_POINT, EcPointFree> pub(EC_POINT_new(group.get()));
  uint8_t buf[33];
  if (!pub || !EC_POINT_mul(group.get(), pub.get(), d.get(), nullptr, nullptr, nullptr) ||
      EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_COMPRESSED, buf, sizeof buf, nullptr) != 33)
    return SslFail(Errc::kInternal, "deriving a secp256k1 public key");
  return SecpFromParts(ByteView(buf, 33), d.get());
}

// go-libp2p signs with low S (btcec) and js-libp2p (noble, lowS) refuses a high S, so ours are
// normalised to S ≤ n/2 (BIP 62); both values verify under plain ECDSA.
Result<Bytes> SecpLowS(Bytes der) {
  const uint8_t* p = der.data();
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  std::unique_ptr<EC_GROUP, EcGroupFree> group(EC_GROUP_new_by_curve_name(NID_secp256k1));
  if (!sig || !group) return SslFail(Errc::kInternal, "decoding our ECDSA signature");
  const BIGNUM* n = EC_GROUP_get0_order(group.get());
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  BnPtr half(BN_dup(n));
  if (!half || !BN_rshift1(half.get(), half.get())) return SslFail(Errc::kInternal, "BN");
  if (BN_cmp(s, half.get()) <= 0) return der;
  BnPtr low_s(BN_new());
  BnPtr r2(BN_dup(r));
  if (!low_s || !r2 || !BN_sub(low_s.get(), n, s) || !ECDSA_SIG_set0(sig.get(), r2.get(), low_s.get()))
    return SslFail(Errc::kInternal, "normalising an ECDSA signature");
  r2.release();  // owned by sig now
  low_s.release();
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &out);
  if (len <= 0) return SslFail(Errc::kInternal, "encoding an ECDSA signature");
  Bytes result(out, out + len);
  OPENSSL_free(out);
  return result;
}

struct KeyProto {
  int64_t type = -1;
  ByteView data;
  bool has_data = false;
};

// message {Type=1 varint; Data=2 bytes}, both required (proto2); unknown fields are skipped.
Result<KeyProto> ReadKeyProto(ByteView pb, const char* what) {
  KeyProto kp;
  ByteView in = pb;
  while (!in.empty()) {
    auto f = pb::ReadField(in);
    if (!f.ok()) return MakeError(Errc::kMalformed, std::string(what) + " protobuf: " + f.error().message);
    if (f->number == 1) {
      if (f->type != pb::kVarint) return MakeError(Errc::kMalformed, std::string(what) + " protobuf: Type is not a varint");
      kp.type = f->varint > 1000 ? 1000 : static_cast<int64_t>(f->varint);
    } else if (f->number == 2) {
      if (f->type != pb::kLen) return MakeError(Errc::kMalformed, std::string(what) + " protobuf: Data is not bytes");
      kp.data = f->bytes;
      kp.has_data = true;
    }
  }
  if (kp.type < 0 || !kp.has_data)
    return MakeError(Errc::kMalformed, std::string(what) + " protobuf: Type or Data missing");
  if (kp.type == static_cast<int>(KeyType::kEcdsa))
    return MakeError(Errc::kMalformed, "ECDSA keys are not supported (go-libp2p and js-libp2p name them differently)");
  if (kp.type > static_cast<int>(KeyType::kEcdsa))
    return MakeError(Errc::kMalformed, std::string(what) + ": unknown key type " + std::to_string(kp.type));
  return kp;
}

Bytes KeyProtoBytes(KeyType t, ByteView data) {
  Bytes out;
  pb::PutVarintField(out, 1, static_cast<uint64_t>(t));
  pb::PutBytesField(out, 2, data);
  return out;
}

// EVP one-shot sign/verify: Ed25519 is pure (no digest); the others hash with SHA-256.
const EVP_MD* DigestFor(KeyType t) { return t == KeyType::kEd25519 ? nullptr : EVP_sha256(); }

}  // namespace

const char* KeyTypeName(KeyType t) {
  switch (t) {
    case KeyType::kRsa: return "rsa";
    case KeyType::kEd25519: return "ed25519";
    case KeyType::kSecp256k1: return "secp256k1";
    case KeyType::kEcdsa: return "ecdsa";
  }
  return "unknown";
}

Result<KeyType> ParseKeyTypeName(std::string_view name) {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "rsa") return KeyType::kRsa;
  if (n == "ed25519") return KeyType::kEd25519;
  if (n == "secp256k1") return KeyType::kSecp256k1;
  return MakeError(Errc::kInvalidArgument,
                   "unknown key type '" + std::string(name) + "': choose ed25519, rsa or secp256k1");
}

// ---- PublicKey ----

Result<PublicKey> PublicKey::FromProtobuf(ByteView pb) {
  IPFSKIT_ASSIGN_OR_RETURN(KeyProto kp, ReadKeyProto(pb, "public key"));
  PublicKey out;
  out.type_ = static_cast<KeyType>(kp.type);
  switch (out.type_) {
    case KeyType::kEd25519: {
      if (kp.data.size() != 32)
        return MakeError(Errc::kMalformed, "Ed25519 public key is " + std::to_string(kp.data.size()) + " bytes, not 32");
      EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, kp.data.data(), kp.data.size());
      if (!k) return SslFail(Errc::kMalformed, "invalid Ed25519 public key");
      out.key_ = Own(k);
      break;
    }
    case KeyType::kSecp256k1: {
      // Compressed (33) as libp2p writes it; uncompressed (65) as go-libp2p also accepts.
      if (!(kp.data.size() == 33 && (kp.data[0] == 2 || kp.data[0] == 3)) && !(kp.data.size() == 65 && kp.data[0] == 4))
        return MakeError(Errc::kMalformed, "secp256k1 public key is not a 33-byte compressed point");
      IPFSKIT_ASSIGN_OR_RETURN(out.key_, SecpFromParts(kp.data, nullptr));
      break;
    }
    case KeyType::kRsa: {
      const uint8_t* p = kp.data.data();
      EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(kp.data.size()));
      if (!k) return SslFail(Errc::kMalformed, "invalid RSA public key (DER SubjectPublicKeyInfo)");
      out.key_ = Own(k);
      if (p != kp.data.data() + kp.data.size()) return MakeError(Errc::kMalformed, "trailing bytes after the RSA public key");
      auto t = ClassifyKey(k);
      if (!t.ok()) return MakeError(Errc::kMalformed, t.error().message);
      if (*t != KeyType::kRsa) return MakeError(Errc::kMalformed, "public key of type RSA holds another algorithm");
      break;
    }
    case KeyType::kEcdsa: break;  // refused by ReadKeyProto
  }
  return out;
}

Bytes PublicKey::ToProtobuf() const {
  if (!key_) return {};
  switch (type_) {
    case KeyType::kEd25519: {
      auto raw = RawPublic(key_.get());
      return raw.ok() ? KeyProtoBytes(type_, *raw) : Bytes{};
    }
    case KeyType::kSecp256k1: {
      auto raw = SecpCompressedPublic(key_.get());
      return raw.ok() ? KeyProtoBytes(type_, *raw) : Bytes{};
    }
    case KeyType::kRsa: {
      unsigned char* der = nullptr;
      int len = i2d_PUBKEY(key_.get(), &der);
      if (len <= 0) return {};
      Bytes out = KeyProtoBytes(type_, ByteView(der, static_cast<size_t>(len)));
      OPENSSL_free(der);
      return out;
    }
    case KeyType::kEcdsa: break;
  }
  return {};
}

Status PublicKey::Verify(ByteView data, ByteView signature) const {
  if (!key_) return MakeError(Errc::kInvalidArgument, "no public key");
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, DigestFor(type_), nullptr, key_.get()) <= 0)
    return SslFail(Errc::kInternal, "setting up signature verification");
  int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(), data.size());
  ERR_clear_error();  // a bad signature leaves decode errors queued
  if (rc != 1) return MakeError(Errc::kMalformed, "signature does not verify");
  return Status::Ok();
}

Bytes PublicKey::PeerIdMultihash() const {
  Bytes pb = ToProtobuf();
  if (pb.empty()) return {};
  if (pb.size() <= kMaxInlineKeySize) {
    Bytes mh;
    PutUvarint(mh, mh::kIdentity);
    PutUvarint(mh, pb.size());
    Append(mh, pb);
    return mh;
  }
  auto mh = MultihashSum(mh::kSha2_256, pb);
  return mh.ok() ? *mh : Bytes{};
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::Generate(KeyType type, int bits) {
  PrivateKey out;
  out.type_ = type;
  EVP_PKEY* k = nullptr;
  switch (type) {
    case KeyType::kEd25519: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
    case KeyType::kSecp256k1: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"); break;
    case KeyType::kRsa: {
      if (bits == 0) bits = kMinRsaBits;
      if (bits < kMinRsaBits || bits > kMaxRsaBits)
        return MakeError(Errc::kInvalidArgument, "RSA key size must be " + std::to_string(kMinRsaBits) + " to " +
                                                     std::to_string(kMaxRsaBits) + " bits, not " + std::to_string(bits));
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
      break;
    }
    case KeyType::kEcdsa: return MakeError(Errc::kInvalidArgument, "ECDSA keys are not supported");
  }
  if (!k) return SslFail(Errc::kInternal, std::string("generating a ") + KeyTypeName(type) + " key");
  out.key_ = Own(k);
  return out;
}

Result<PrivateKey> PrivateKey::FromProtobuf(ByteView pb) {
  if (AsChars(pb).substr(0, 10) == "-----BEGIN")
    return MakeError(Errc::kInvalidArgument,
                     "this is PEM text, not a libp2p protobuf key: use the pem-pkcs8-cleartext format");
  IPFSKIT_ASSIGN_OR_RETURN(KeyProto kp, ReadKeyProto(pb, "private key"));
  PrivateKey out;
  out.type_ = static_cast<KeyType>(kp.type);
  switch (out.type_) {
    case KeyType::kEd25519: {
      // seed ‖ public; go-libp2p's legacy 96-byte form repeats the public key.
      if (kp.data.size() != 64 && kp.data.size() != 96)
        return MakeError(Errc::kMalformed, "Ed25519 private key is " + std::to_string(kp.data.size()) + " bytes, not 64");
      if (kp.data.size() == 96 && !std::equal(kp.data.begin() + 32, kp.data.begin() + 64, kp.data.begin() + 64))
        return MakeError(Errc::kMalformed, "Ed25519 private key: the repeated public key differs");
      EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, kp.data.data(), 32);
      if (!k) return SslFail(Errc::kMalformed, "invalid Ed25519 private key");
      out.key_ = Own(k);
      IPFSKIT_ASSIGN_OR_RETURN(Bytes pub, RawPublic(k));
      if (!std::equal(pub.begin(), pub.end(), kp.data.begin() + 32))
        return MakeError(Errc::kMalformed, "Ed25519 private key: the public half does not belong to the seed");
      break;
    }
    case KeyType::kSecp256k1: {
      if (kp.data.size() != kSecpScalarSize)
        return MakeError(Errc::kMalformed, "secp256k1 private key is " + std::to_string(kp.data.size()) + " bytes, not 32");
      IPFSKIT_ASSIGN_OR_RETURN(out.key_, SecpFromScalar(kp.data));
      break;
    }
    case KeyType::kRsa: {
      const uint8_t* p = kp.data.data();
      EVP_PKEY* k = d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(kp.data.size()));
      if (!k) return SslFail(Errc::kMalformed, "invalid RSA private key (DER PKCS#1)");
      out.key_ = Own(k);
      auto t = ClassifyKey(k);
      if (!t.ok()) return MakeError(Errc::kMalformed, t.error().message);
      break;
    }
    case KeyType::kEcdsa: break;  // refused by ReadKeyProto
  }
  return out;
}

Bytes PrivateKey::ToProtobuf() const {
  if (!key_) return {};
  switch (type_) {
    case KeyType::kEd25519: {
      Bytes data(32);
      size_t len = 32;
      if (!EVP_PKEY_get_raw_private_key(key_.get(), data.data(), &len) || len != 32) return {};
      auto pub = RawPublic(key_.get());
      if (!pub.ok()) return {};
      Append(data, *pub);
      Bytes out = KeyProtoBytes(type_, data);
      OPENSSL_cleanse(data.data(), data.size());
      return out;
    }
    case KeyType::kSecp256k1: {
      BIGNUM* d = nullptr;
      if (!EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d)) return {};
      BnPtr owned(d);
      Bytes data(kSecpScalarSize);
      if (BN_bn2binpad(d, data.data(), static_cast<int>(data.size())) != static_cast<int>(kSecpScalarSize)) return {};
      Bytes out = KeyProtoBytes(type_, data);
      OPENSSL_cleanse(data.data(), data.size());
      return out;
    }
    case KeyType::kRsa: {
      unsigned char* der = nullptr;
      int len = i2d_PrivateKey(key_.get(), &der);  // PKCS#1 RSAPrivateKey for RSA
      if (len <= 0) return {};
      Bytes out = KeyProtoBytes(type_, ByteView(der, static_cast<size_t>(len)));
      OPENSSL_clear_free(der, static_cast<size_t>(len));
      return out;
    }
    case KeyType::kEcdsa: break;
  }
  return {};
}

Result<PrivateKey> PrivateKey::FromPkcs8Pem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return SslFail(Errc::kInternal, "BIO");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long der_len = 0;
  if (!PEM_read_bio(bio.get(), &name, &header, &der, &der_len)) {
    ERR_clear_error();
    return MakeError(Errc::kInvalidArgument, "not PEM text (expected -----BEGIN PRIVATE KEY-----)");
  }
  std::string label = name;
  OPENSSL_free(name);
  OPENSSL_free(header);
  auto free_der = [&] { OPENSSL_clear_free(der, static_cast<size_t>(der_len)); };
  if (label != "PRIVATE KEY") {
    free_der();
    return MakeError(Errc::kInvalidArgument, "PEM block is '" + label +
                                                 "', expected an unencrypted PKCS#8 'PRIVATE KEY'");
  }
  const unsigned char* p = der;
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, P8Free> p8(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, der_len));
  free_der();
  if (!p8) return SslFail(Errc::kInvalidArgument, "invalid PKCS#8 private key");
  EVP_PKEY* k = EVP_PKCS82PKEY(p8.get());
  if (!k) return SslFail(Errc::kInvalidArgument, "unsupported PKCS#8 private key");
  PrivateKey out;
  out.key_ = Own(k);
  auto t = ClassifyKey(k);
  if (!t.ok()) return MakeError(Errc::kInvalidArgument, t.error().message);
  out.type_ = *t;
  if (out.type_ == KeyType::kSecp256k1) {
    // Rebuild from the scalar so that the public point is present even when the PKCS#8
    // ECPrivateKey omitted it.
    BIGNUM* d = nullptr;
    if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d)) return SslFail(Errc::kInvalidArgument, "EC key without a private scalar");
    BnPtr owned(d);
    Bytes scalar(kSecpScalarSize);
    if (BN_bn2binpad(d, scalar.data(), static_cast<int>(scalar.size())) < 0)
      return MakeError(Errc::kInvalidArgument, "secp256k1 private key is out of range");
    auto rebuilt = SecpFromScalar(scalar);
    OPENSSL_cleanse(scalar.data(), scalar.size());
    if (!rebuilt.ok()) return MakeError(Errc::kInvalidArgument, rebuilt.error().message);
    out.key_ = *rebuilt;
  }
  return out;
}

Result<std::string> PrivateKey::ToPkcs8Pem() const {
  if (!key_) return MakeError(Errc::kInvalidArgument, "no private key");
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr))
    return SslFail(Errc::kInternal, "encoding the key as PKCS#8 PEM");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_reset(bio.get());
  return out;
}

PublicKey PrivateKey::Public() const {
  // The OpenSSL key object serves both halves; PublicKey only ever reads the public one.
  PublicKey p;
  p.type_ = type_;
  p.key_ = key_;
  return p;
}

Result<Bytes> PrivateKey::Sign(ByteView data) const {
  if (!key_) return MakeError(Errc::kInvalidArgument, "no private key");
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, DigestFor(type_), nullptr, key_.get()) <= 0 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) <= 0)
    return SslFail(Errc::kInternal, "setting up signing");
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) <= 0)
    return SslFail(Errc::kInternal, "signing");
  sig.resize(len);
  if (type_ == KeyType::kSecp256k1) return SecpLowS(std::move(sig));
  return sig;
}

}  // namespace ipfskit
