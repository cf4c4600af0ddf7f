// Lays a CAR's blocks out as files named by CID, the way tests/fakes/nginx.h serves them at
// /ipfs/<cid>. A CIDv0 block is written under both its v0 and its v1 text, so a gateway client
// may ask for either.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "core/car/car.h"

namespace ipfskit::testing {

// Reads every (verified) block of the CAR at `car` into a map.
inline std::map<Cid, Bytes> ReadCarBlocks(const std::string& car) {
  std::ifstream in(car, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + car);
  auto reader = CarReader::Open(IstreamSource(in));
  if (!reader.ok()) throw std::runtime_error(car + ": " + reader.error().message);
  std::map<Cid, Bytes> blocks;
  for (;;) {
    auto next = (*reader)->Next();
    if (!next.ok()) throw std::runtime_error(car + ": " + next.error().message);
    if (!*next) break;
    const CarBlock& b = **next;
    blocks[b.cid] = Bytes(b.data.begin(), b.data.end());
  }
  return blocks;
}

// Writes each block as <dir>/<cid> (and <dir>/<cid as v1> for a v0 CID).
inline void WriteBlockDir(const std::string& dir, const std::map<Cid, Bytes>& blocks) {
  std::filesystem::create_directories(dir);
  for (const auto& [cid, data] : blocks) {
    for (const std::string& name : {cid.ToString(), cid.ToV1().ToString()}) {
      std::ofstream out(dir + "/" + name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
      if (!out) throw std::runtime_error("cannot write " + dir + "/" + name);
    }
  }
}

}  // namespace ipfskit::testing
