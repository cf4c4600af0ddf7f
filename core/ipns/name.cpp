#include "core/ipns/name.h"

#include "core/multiformats/cid.h"
#include "core/multiformats/multibase.h"
#include "core/multiformats/multihash.h"

namespace ipfskit {
namespace {

constexpr std::string_view kCodecHint = "peer ID represented as CIDv1 require libp2p-key multicodec: retry with /ipns/";

// libp2p makes peer IDs with identity (inlined key) or sha2-256 only; a name under any other
// hash could never be checked against a key.
Status CheckPeerMultihash(ByteView multihash) {
  ByteView in = multihash;
  auto mhv = ReadMultihash(in);
  if (!mhv.ok()) return MakeError(Errc::kInvalidArgument, "not a valid peer ID multihash: " + mhv.error().message);
  if (!in.empty()) return MakeError(Errc::kInvalidArgument, "trailing bytes after the peer ID multihash");
  if (mhv->code != mh::kIdentity && mhv->code != mh::kSha2_256)
    return MakeError(Errc::kInvalidArgument, std::string("peer ID multihash must be identity or sha2-256, not ") +
                                                 MultihashName(mhv->code));
  if (mhv->digest.empty()) return MakeError(Errc::kInvalidArgument, "empty peer ID");
  return Status::Ok();
}

}  // namespace

Result<IpnsName> IpnsName::Parse(std::string_view text) {
  if (text.empty()) return MakeError(Errc::kInvalidArgument, "empty IPNS name");
  auto bad = [&](const std::string& why) {
    return MakeError(Errc::kInvalidArgument, "not a valid IPNS name '" + std::string(text) + "': " + why);
  };
  // As go-libp2p peer.Decode: "Qm…" and "1…" are base58 multihashes, the rest CIDs.
  if (text.starts_with("Qm") || text.starts_with("1")) {
    auto raw = DecodeBase(Multibase::kBase58Btc, text);
    if (!raw.ok()) return bad(raw.error().message);
    auto n = FromMultihash(*raw);
    if (!n.ok()) return bad(n.error().message);
    return n;
  }
  auto cid = Cid::Parse(text);
  if (!cid.ok()) return bad(cid.error().message);
  if (cid->codec() != codec::kLibp2pKey) {
    auto fixed = Cid::Make(1, codec::kLibp2pKey, cid->multihash());
    if (!fixed.ok()) return bad(fixed.error().message);
    return MakeError(Errc::kInvalidArgument, std::string(kCodecHint) + fixed->ToString());
  }
  auto n = FromMultihash(cid->multihash());
  if (!n.ok()) return bad(n.error().message);
  return n;
}

IpnsName IpnsName::FromPublicKey(const PublicKey& key) {
  IpnsName n;
  n.multihash_ = key.PeerIdMultihash();
  return n;
}

Result<IpnsName> IpnsName::FromMultihash(ByteView multihash) {
  IPFSKIT_TRY_STATUS(CheckPeerMultihash(multihash));
  IpnsName n;
  n.multihash_.assign(multihash.begin(), multihash.end());
  return n;
}

std::string IpnsName::ToString() const {
  if (!valid()) return "";
  auto c = Cid::Make(1, codec::kLibp2pKey, multihash_);
  return c.ok() ? c->ToString() : "";
}

std::string IpnsName::ToBase58() const { return EncodeBase(Multibase::kBase58Btc, multihash_); }

std::optional<PublicKey> IpnsName::InlinedKey() const {
  ByteView in = multihash_;
  auto mhv = ReadMultihash(in);
  if (!mhv.ok() || mhv->code != mh::kIdentity) return std::nullopt;
  auto k = PublicKey::FromProtobuf(mhv->digest);
  if (!k.ok()) return std::nullopt;
  return *k;
}

bool IsDomainName(std::string_view text) {
  if (text.empty() || text.size() > 255) return false;
  if (text.back() == '.') text.remove_suffix(1);
  size_t labels = 0;
  while (true) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > 63) return false;
    // Letters, digits, hyphen and underscore (for _dnslink-style labels): enough for every
    // DNSLink name, and it keeps paths and spaces out of DNS queries.
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) return false;
    }
    ++labels;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  return labels >= 2;
}

Result<IpnsTarget> ParseIpnsTarget(std::string_view text) {
  auto n = IpnsName::Parse(text);
  if (n.ok()) return IpnsTarget(*n);
  if (n.error().message.starts_with(kCodecHint)) return n.take_error();
  if (IsDomainName(text)) {
    std::string d(text);
    if (d.back() == '.') d.pop_back();
    for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return IpnsTarget(std::move(d));
  }
  return MakeError(Errc::kInvalidArgument, "not a valid IPNS name or domain: '" + std::string(text) + "'");
}

}  // namespace ipfskit
