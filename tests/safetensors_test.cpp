// safetensors parsing: layouts, dtypes and every validation rule of the format.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/infer/safetensors.h"

namespace ipfskit::infer {
namespace {

using nlohmann::json;

Bytes Make(const std::string& header, const Bytes& data, size_t pad = 0) {
  std::string h = header + std::string(pad, ' ');
  Bytes out(8);
  uint64_t n = h.size();
  for (int i = 0; i < 8; i++) out[i] = uint8_t(n >> (8 * i));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes F32(std::initializer_list<float> v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), std::data(v), b.size());
  return b;
}

TEST(Safetensors, ParsesDtypesAndMetadataUnaligned) {
  Bytes data = F32({1.f, -2.f, 3.5f});
  data.insert(data.end(), {0x00, 0x3c, 0x00, 0xc0});  // F16 1.0, -2.0
  data.insert(data.end(), {0x80, 0x3f, 0x40, 0xc0});  // BF16 1.0, -3.0
  data.push_back(7);                                    // U8, leaves what follows unaligned
  data.insert(data.end(), {0x00, 0x7c, 0x01, 0x00});   // F16 +inf, smallest subnormal
  json h = {{"a", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 12}}}},
            {"h", {{"dtype", "F16"}, {"shape", {2, 1}}, {"data_offsets", {12, 16}}}},
            {"b", {{"dtype", "BF16"}, {"shape", {2}}, {"data_offsets", {16, 20}}}},
            {"u", {{"dtype", "U8"}, {"shape", {1}}, {"data_offsets", {20, 21}}}},
            {"s", {{"dtype", "F16"}, {"shape", {2}}, {"data_offsets", {21, 25}}}},
            {"e", {{"dtype", "F32"}, {"shape", {0, 4}}, {"data_offsets", {25, 25}}}},
            {"__metadata__", {{"format", "pt"}}}};
  auto st = SafetensorsFile::Parse(Make(h.dump(), data, 5));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->metadata().at("format"), "pt");
  EXPECT_EQ(*st->ToF32(*st->Find("a")), (std::vector<float>{1.f, -2.f, 3.5f}));
  EXPECT_EQ(*st->ToF32(*st->Find("h")), (std::vector<float>{1.f, -2.f}));
  EXPECT_EQ(*st->ToF32(*st->Find("b")), (std::vector<float>{1.f, -3.f}));
  auto s = *st->ToF32(*st->Find("s"));
  EXPECT_TRUE(std::isinf(s[0]));
  EXPECT_EQ(s[1], std::ldexp(1.f, -24));
  EXPECT_EQ(st->ToF32(*st->Find("u")).error().code, Errc::kUnsupported);
  EXPECT_EQ(st->Find("e")->numel(), 0u);
  EXPECT_EQ(st->Find("missing"), nullptr);
}

TEST(Safetensors, HalfConversionMatchesAllFiniteValues) {
  // Every finite half round-trips through our conversion to the value its bits define.
  for (uint32_t h = 0; h < 0x10000; h++) {
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 31) continue;
    float expect = (e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(m | 0x400), int(e) - 25));
    if (h & 0x8000) expect = -expect;
    ASSERT_EQ(HalfToFloat(uint16_t(h)), expect) << h;
  }
}

struct BadCase {
  const char* name;
  Bytes file;
  const char* message;
};

TEST(Safetensors, RejectsEveryMalformedLayout) {
  Bytes d8 = F32({1.f, 2.f});
  auto one = [](json entry) { return json{{"t", entry}}.dump(); };
  std::vector<BadCase> cases = {
      {"short", Bytes{1, 2, 3}, "shorter than"},
      {"huge header", Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'}, "over the limit"},
      {"header past end", Make("{}", {}).size() ? [] { Bytes b = Make("{}", {}); b[0] = 50; return b; }() : Bytes{}, "past end"},
      {"not an object", Make("[1, 2]", {}), "start with '{'"},
      {"bad json", Make("{\"t\": ", {}), "not a JSON object"},
      {"no dtype", Make(one({{"shape", {2}}, {"data_offsets", {0, 8}}}), d8), "no dtype"},
      {"unknown dtype", Make(one({{"dtype", "F128"}, {"shape", {2}}, {"data_offsets", {0, 8}}}), d8), "unknown dtype"},
      {"negative dim", Make(one({{"dtype", "F32"}, {"shape", {-2}}, {"data_offsets", {0, 8}}}), d8), "bad shape"},
      {"size mismatch", Make(one({{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 8}}}), d8), "need 12"},
      {"overflow", Make(one({{"dtype", "F32"}, {"shape", {1ull << 62, 8}}, {"data_offsets", {0, 8}}}), d8), "overflows"},
      {"gap", Make(json{{"a", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}},
                        {"b", {{"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {8, 8}}}}}.dump(), d8),
       "contiguous"},
      {"overlap", Make(json{{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                            {"b", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {4, 8}}}}}.dump(), d8),
       "contiguous"},
      {"trailing bytes", Make(one({{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}), d8), "data buffer"},
      {"end before begin", Make(one({{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {8, 4}}}), d8), "data_offsets"},
      {"metadata not strings", Make(json{{"__metadata__", {{"a", 1}}}}.dump(), {}), "__metadata__"},
      {"offsets not a pair", Make(one({{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0}}}), d8), "data_offsets"},
      {"invalid utf-8", Make("{\"\xff\": 1}", {}), "not a JSON object"},
  };
  for (auto& c : cases) {
    auto r = SafetensorsFile::Parse(c.file);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().code, Errc::kMalformed) << c.name;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << c.name << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace ipfskit::infer
