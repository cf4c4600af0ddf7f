// Builds CARv1 bytes for tests (ipfs-formats.md §2), including deliberately broken ones.
#pragma once

#include <map>

#include "core/multiformats/cid.h"
#include "core/multiformats/varint.h"

namespace ipfskit::testing {

inline Bytes CarHeader(const Cid& root) {
  Bytes h;
  auto text = [&](std::string_view s) {
    h.push_back(static_cast<uint8_t>(0x60 + s.size()));
    Append(h, AsBytes(s));
  };
  h.push_back(0xa2);
  text("roots");
  h.push_back(0x81);
  h.push_back(0xd8);
  h.push_back(0x2a);
  const size_t l = root.bytes().size() + 1;
  if (l < 24) {
    h.push_back(static_cast<uint8_t>(0x40 + l));
  } else {
    h.push_back(0x58);
    h.push_back(static_cast<uint8_t>(l));
  }
  h.push_back(0x00);
  Append(h, root.bytes());
  text("version");
  h.push_back(0x01);
  Bytes out;
  PutUvarint(out, h.size());
  Append(out, h);
  return out;
}

inline void CarSection(Bytes& out, const Cid& cid, ByteView data) {
  PutUvarint(out, cid.bytes().size() + data.size());
  Append(out, cid.bytes());
  Append(out, data);
}

// Root first, then the rest in map order.
inline Bytes MakeCar(const Cid& root, const std::map<Cid, Bytes>& blocks) {
  Bytes car = CarHeader(root);
  CarSection(car, root, blocks.at(root));
  for (const auto& [cid, data] : blocks)
    if (cid != root) CarSection(car, cid, data);
  return car;
}

}  // namespace ipfskit::testing
