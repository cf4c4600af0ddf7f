#pragma once
#include <cstdint>
#include <cstddef>

namespace ipfskit {
// MurmurHash3 x64_128 (Austin Appleby, public domain); returns h1, the first 64-bit half,
// which is what the UnixFS HAMT uses (spaolacci/murmur3 Sum64).
uint64_t Murmur3X64_64(const void* data, size_t len, uint32_t seed = 0);
}  // namespace ipfskit
