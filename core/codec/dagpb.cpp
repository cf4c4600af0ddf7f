#include "core/codec/dagpb.h"

#include "core/codec/protobuf.h"

namespace ipfskit {
namespace {

Bytes EncodeLinkBody(const PbLink& l) {
  Bytes body;
  pb::PutBytesField(body, 1, l.hash.bytes());
  if (l.name) pb::PutBytesField(body, 2, AsBytes(*l.name));
  if (l.tsize) pb::PutVarintField(body, 3, *l.tsize);
  return body;
}

size_t LinkBodySize(const PbLink& l) {
  size_t n = pb::BytesFieldSize(1, l.hash.bytes().size());
  if (l.name) n += pb::BytesFieldSize(2, l.name->size());
  if (l.tsize) n += 1 + UvarintSize(*l.tsize);
  return n;
}

Result<PbLink> DecodeLink(ByteView in) {
  PbLink l;
  bool have_hash = false;
  int last = 0;
  while (!in.empty()) {
    IPFSKIT_ASSIGN_OR_RETURN(pb::Field f, pb::ReadField(in));
    if (static_cast<int>(f.number) <= last) return MakeError(Errc::kMalformed, "dag-pb link fields out of order or duplicated");
    last = f.number;
    switch (f.number) {
      case 1: {
        if (f.type != pb::kLen) return MakeError(Errc::kMalformed, "dag-pb link Hash has wrong wire type");
        auto c = Cid::FromBytes(f.bytes);
        if (!c.ok()) return MakeError(Errc::kMalformed, "dag-pb link has invalid CID: " + c.error().message);
        l.hash = std::move(*c);
        have_hash = true;
        break;
      }
      case 2:
        if (f.type != pb::kLen) return MakeError(Errc::kMalformed, "dag-pb link Name has wrong wire type");
        l.name = std::string(AsChars(f.bytes));
        break;
      case 3:
        if (f.type != pb::kVarint) return MakeError(Errc::kMalformed, "dag-pb link Tsize has wrong wire type");
        l.tsize = f.varint;
        break;
      default:
        return MakeError(Errc::kMalformed, "dag-pb link has unknown field " + std::to_string(f.number));
    }
  }
  if (!have_hash) return MakeError(Errc::kMalformed, "dag-pb link without Hash");
  return l;
}

}  // namespace

size_t PbLinkEncodedSize(const PbLink& link) { return pb::BytesFieldSize(2, LinkBodySize(link)); }

Bytes EncodePbNode(const PbNode& node) {
  Bytes out;
  size_t total = node.data ? pb::BytesFieldSize(1, node.data->size()) : 0;
  for (const auto& l : node.links) total += PbLinkEncodedSize(l);
  out.reserve(total);
  for (const auto& l : node.links) pb::PutBytesField(out, 2, EncodeLinkBody(l));
  if (node.data) pb::PutBytesField(out, 1, *node.data);
  return out;
}

Result<PbNode> DecodePbNode(ByteView in) {
  PbNode n;
  bool seen_data = false;
  while (!in.empty()) {
    IPFSKIT_ASSIGN_OR_RETURN(pb::Field f, pb::ReadField(in));
    if (f.type != pb::kLen) return MakeError(Errc::kMalformed, "dag-pb field has wrong wire type");
    if (f.number == 2) {
      if (seen_data) return MakeError(Errc::kMalformed, "dag-pb Links after Data");
      IPFSKIT_ASSIGN_OR_RETURN(PbLink l, DecodeLink(f.bytes));
      n.links.push_back(std::move(l));
    } else if (f.number == 1) {
      if (seen_data) return MakeError(Errc::kMalformed, "dag-pb duplicate Data");
      seen_data = true;
      n.data = Bytes(f.bytes.begin(), f.bytes.end());
    } else {
      return MakeError(Errc::kMalformed, "dag-pb has unknown field " + std::to_string(f.number));
    }
  }
  return n;
}

}  // namespace ipfskit

