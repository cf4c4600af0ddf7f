// IPNS names: the multihash of a libp2p public key (a PeerID), in every spelling people use,
// and the split between key names and DNSLink domains.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/ipns/keys.h"
#include "core/util/bytes.h"
#include "core/util/result.h"

namespace ipfskit {

class IpnsName {
 public:
  IpnsName() = default;
  // Accepts base58 PeerIDs (12D3KooW…, Qm…, 16Uiu2HA…) and CIDv1 in any multibase with codec
  // libp2p-key (k51…, k2k4r8…, kzwfwjn5ji4…, bafz…). A CIDv1 with another codec is
  // kInvalidArgument naming the fixed form: "peer ID represented as CIDv1 require libp2p-key
  // multicodec: retry with /ipns/<k51…>". Anything else is kInvalidArgument.
  static Result<IpnsName> Parse(std::string_view text);
  static IpnsName FromPublicKey(const PublicKey& key);
  static Result<IpnsName> FromMultihash(ByteView multihash);

  bool valid() const { return !multihash_.empty(); }
  const Bytes& multihash() const { return multihash_; }
  // Canonical: CIDv1, libp2p-key, base36 ("k51…").
  std::string ToString() const;
  std::string ToBase58() const;  // the PeerID as Kubo's FUSE spells it ("12D3KooW…")
  // The key itself when the multihash is identity (Ed25519, secp256k1); nullopt for RSA.
  std::optional<PublicKey> InlinedKey() const;

  friend bool operator==(const IpnsName& a, const IpnsName& b) { return a.multihash_ == b.multihash_; }
  friend bool operator<(const IpnsName& a, const IpnsName& b) { return a.multihash_ < b.multihash_; }

 private:
  Bytes multihash_;
};

// RFC 1035-style domain name check, as Go's dns.IsDomainName: labels of 1-63 bytes, 255 in
// all, at least one dot (a bare label is not a domain here), an optional trailing dot.
bool IsDomainName(std::string_view text);

// What /ipns/<text> names: a key or a DNSLink domain (lower-cased, no trailing dot). Errors:
// the libp2p-key codec message above, or kInvalidArgument "not a valid IPNS name or domain".
using IpnsTarget = std::variant<IpnsName, std::string>;
Result<IpnsTarget> ParseIpnsTarget(std::string_view text);

}  // namespace ipfskit
