#include <gtest/gtest.h>

#include "core/multiformats/cid.h"
#include "core/multiformats/multibase.h"
#include "core/multiformats/varint.h"

namespace ipfskit {
namespace {

TEST(Varint, RoundTripAndStrictness) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 16384ull, (1ull << 63) - 1}) {
    Bytes b;
    PutUvarint(b, v);
    EXPECT_EQ(b.size(), UvarintSize(v));
    ByteView in(b);
    auto r = ReadUvarint(in);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, v);
    EXPECT_TRUE(in.empty());
  }
  Bytes truncated = {0x80, 0x80};
  ByteView in(truncated);
  EXPECT_EQ(ReadUvarint(in).error().code, Errc::kTruncated);
  Bytes nonminimal = {0x81, 0x00};
  ByteView in2(nonminimal);
  EXPECT_EQ(ReadUvarint(in2).error().code, Errc::kMalformed);
}

TEST(Multibase, KnownVectors) {
  // Vectors from the multibase spec test suite ("yes mani !").
  ByteView in = AsBytes("yes mani !");
  EXPECT_EQ(MultibaseEncode(Multibase::kBase58Btc, in), "z7paNL19xttacUY");
  EXPECT_EQ(MultibaseEncode(Multibase::kBase32, in), "bpfsxgidnmfxgsibb");
  EXPECT_EQ(MultibaseEncode(Multibase::kBase36, in), "k2lcpzo5yikidynfl");
  EXPECT_EQ(MultibaseEncode(Multibase::kBase16, in), "f796573206d616e692021");
  EXPECT_EQ(MultibaseEncode(Multibase::kBase64, in), "meWVzIG1hbmkgIQ");
  for (auto s : {"z7paNL19xttacUY", "bpfsxgidnmfxgsibb", "k2lcpzo5yikidynfl", "f796573206d616e692021",
                 "BPFSXGIDNMFXGSIBB", "meWVzIG1hbmkgIQ"}) {
    auto d = MultibaseDecode(s);
    ASSERT_TRUE(d.ok()) << s;
    EXPECT_EQ(AsChars(*d), "yes mani !") << s;
  }
  // Leading zeros survive base58 and base36.
  Bytes z = {0, 0, 1};
  EXPECT_EQ(*MultibaseDecode(MultibaseEncode(Multibase::kBase58Btc, z)), z);
  EXPECT_EQ(*MultibaseDecode(MultibaseEncode(Multibase::kBase36, z)), z);
  EXPECT_FALSE(MultibaseDecode("z0OIl").ok());
  EXPECT_FALSE(MultibaseDecode("?abc").ok());
  EXPECT_FALSE(MultibaseDecode("").ok());
}

TEST(Cid, ParsesAndFormatsKnownCids) {
  // The empty UnixFS directory and file, as Kubo prints them.
  auto v0 = Cid::Parse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  ASSERT_TRUE(v0.ok()) << v0.error().message;
  EXPECT_EQ(v0->version(), 0u);
  EXPECT_EQ(v0->codec(), codec::kDagPb);
  EXPECT_EQ(v0->ToString(), "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  EXPECT_EQ(v0->ToV1().ToString(), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
  auto empty_raw = Cid::Sum(1, codec::kRaw, mh::kSha2_256, {});
  ASSERT_TRUE(empty_raw.ok());
  EXPECT_EQ(empty_raw->ToString(), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  auto id = Cid::Parse("bafkqaaa");
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->is_identity());
  EXPECT_TRUE(id->digest().empty());
  // Other bases of the same CID parse to the same CID.
  for (auto b : {Multibase::kBase36, Multibase::kBase58Btc, Multibase::kBase16, Multibase::kBase32Upper}) {
    auto again = Cid::Parse(empty_raw->ToString(b));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *empty_raw);
  }
  EXPECT_TRUE(empty_raw->Verifies({}));
  EXPECT_FALSE(empty_raw->Verifies(AsBytes("x")));
}

TEST(Cid, RejectsMalformed) {
  for (auto s : {"", "Qm", "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3N0", "bafy",
                 "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk",
                 "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykuaa", "hello", "b!!!",
                 "zQmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"}) {
    auto c = Cid::Parse(s);
    EXPECT_FALSE(c.ok()) << s;
    if (!c.ok()) {
      EXPECT_EQ(c.error().code, Errc::kInvalidArgument) << s;
    }
  }
  // Wrong digest length for sha2-256.
  Bytes bad = {0x01, 0x55, 0x12, 0x10};
  bad.resize(4 + 16, 7);
  EXPECT_FALSE(Cid::FromBytes(bad).ok());
  // CIDv0 needs sha2-256.
  Bytes mh = {0x13, 0x40};
  mh.resize(66, 1);
  EXPECT_FALSE(Cid::Make(0, codec::kDagPb, mh).ok());
}

}  // namespace
}  // namespace ipfskit
