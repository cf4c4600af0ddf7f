// libp2p keys (RSA, Ed25519, secp256k1) for IPNS: the PublicKey/PrivateKey protobufs, PeerIDs,
// signing and verifying. All crypto is OpenSSL's (EVP); nothing here is hand-rolled.
//
// Wire forms (libp2p peer-id spec): message {Type=1 (varint: RSA=0, Ed25519=1, Secp256k1=2,
// ECDSA=3); Data=2 (bytes)}.
//   public Data:  RSA = DER SubjectPublicKeyInfo (PKIX); Ed25519 = 32 raw bytes;
//                 secp256k1 = 33-byte compressed point.
//   private Data: RSA = DER PKCS#1 RSAPrivateKey; Ed25519 = 64 bytes (seed ‖ public);
//                 secp256k1 = 32-byte scalar.
// Signatures: Ed25519 pure; secp256k1 ECDSA over SHA-256, DER-encoded; RSA PKCS#1 v1.5 SHA-256.
//
// PublicKey and PrivateKey are cheap to copy (they share the OpenSSL key) and immutable, so
// any thread may use them.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/util/bytes.h"
#include "core/util/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace ipfskit {

enum class KeyType : int { kRsa = 0, kEd25519 = 1, kSecp256k1 = 2, kEcdsa = 3 };

const char* KeyTypeName(KeyType t);                 // "rsa", "ed25519", "secp256k1", "ecdsa"
Result<KeyType> ParseKeyTypeName(std::string_view name);  // kInvalidArgument naming the choices

class PublicKey {
 public:
  PublicKey() = default;
  // The libp2p PublicKey protobuf. kMalformed for anything else (or an ECDSA key: unsupported).
  static Result<PublicKey> FromProtobuf(ByteView pb);
  Bytes ToProtobuf() const;
  KeyType type() const { return type_; }
  bool valid() const { return key_ != nullptr; }
  // Ok when `signature` is a valid signature of `data`; kMalformed ("signature does not verify")
  // otherwise.
  Status Verify(ByteView data, ByteView signature) const;
  // The PeerID multihash: identity of the protobuf when it is ≤ 42 bytes, else sha2-256 of it.
  Bytes PeerIdMultihash() const;

 private:
  friend class PrivateKey;
  KeyType type_ = KeyType::kEd25519;
  std::shared_ptr<EVP_PKEY> key_;
};

class PrivateKey {
 public:
  PrivateKey() = default;
  // Ed25519 ignores bits; RSA: bits in [2048, 8192] (default 2048; go-libp2p and js-libp2p refuse
  // other sizes, so their records would not verify elsewhere); secp256k1 ignores bits.
  static Result<PrivateKey> Generate(KeyType type, int bits = 0);
  // The libp2p PrivateKey protobuf (Kubo's `key export` format libp2p-protobuf-cleartext).
  // Fed PEM text, the error says to use the pem-pkcs8-cleartext format (ipfs-docs#746).
  static Result<PrivateKey> FromProtobuf(ByteView pb);
  Bytes ToProtobuf() const;
  // PKCS#8 PEM "-----BEGIN PRIVATE KEY-----" (format pem-pkcs8-cleartext), as Kubo writes it;
  // secp256k1 as an EC key on that curve.
  static Result<PrivateKey> FromPkcs8Pem(std::string_view pem);
  Result<std::string> ToPkcs8Pem() const;

  KeyType type() const { return type_; }
  bool valid() const { return key_ != nullptr; }
  PublicKey Public() const;
  Result<Bytes> Sign(ByteView data) const;

 private:
  KeyType type_ = KeyType::kEd25519;
  std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace ipfskit
