// Hostile bytes (issue 10, parts 3 and 5): each test is one finding of the libFuzzer run, fed
// through the public API the way a malicious gateway response, `dag import` file or model folder
// would reach it. Every one must end in a clear error, promptly, without a crash, a huge
// allocation or a thread left blocked for ever.
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include "accel/backends.h"
#include "core/car/car.h"
#include "core/codec/dagcbor.h"
#include "core/codec/dagpb.h"
#include "core/codec/protobuf.h"
#include "core/codec/unixfs.h"
#include "core/config/config.h"
#include "core/infer/bert_model.h"
#include "core/infer/engine.h"
#include "core/infer/model_files.h"
#include "core/infer/safetensors.h"
#include "core/infer/tokenizer.h"
#include "core/multiformats/cid.h"
#include "core/multiformats/multibase.h"
#include "core/multiformats/varint.h"
#include "core/reader/unixfs_reader.h"
#include "core/source/car_stream.h"
#include "core/store/memory_store.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Runs fn on its own thread and says whether it finished within `limit`. A call that does not
// finish is abandoned (its state is shared, so nothing dangles) and the test fails instead of
// hanging until the ctest timeout.
bool FinishesWithin(std::chrono::milliseconds limit, std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> f = done->get_future();
  std::thread([fn = std::move(fn), done] {
    fn();
    done->set_value();
  }).detach();
  return f.wait_for(limit) == std::future_status::ready;
}

std::string WriteTemp(const std::string& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir + "/" + name, std::ios::binary) << text;
  return dir + "/" + name;
}

// ---- (a) CBOR counts the bytes cannot hold ------------------------------------------------

// A CAR header: varint(length) ‖ body.
Bytes CarWithHeader(const Bytes& body) {
  Bytes car;
  PutUvarint(car, body.size());
  Append(car, body);
  return car;
}

// A map that declares 2^32 - 1 pairs in a 5-byte header, then ends.
const Bytes kHugeMap = {0xba, 0xff, 0xff, 0xff, 0xff, 0x00};
const Bytes kHugeArray = {0x9b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01};

TEST(HostileCbor, DeclaredCountOverRemainingBytesIsRefusedBeforeAllocating) {
  for (const Bytes& body : {kHugeMap, kHugeArray}) {
    auto r = CborParse(body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kMalformed);
    // The pre-pass names the count: libcbor was never asked to allocate for it.
    EXPECT_NE(r.error().message.find("declares"), std::string::npos) << r.error().message;
  }
}

TEST(HostileCbor, BothCarReadersRefuseAHugeHeaderMap) {
  Bytes car = CarWithHeader(kHugeMap);
  auto r = CarReader::Open(BytesSource(car));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("declares"), std::string::npos) << r.error().message;

  CarStreamReader stream([](const Cid&, ByteView) { return Status::Ok(); });
  Status st = stream.Feed(car);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("declares"), std::string::npos) << st.error().message;
}

TEST(HostileCbor, DeepNestingIsRefused) {
  Bytes deep(100000, 0x81);  // [[[[…
  deep.push_back(0x01);
  auto r = DagCborLinks(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nested"), std::string::npos) << r.error().message;
  // Honest nesting still parses.
  Bytes ok(50, 0x81);
  ok.push_back(0x01);
  EXPECT_TRUE(DagCborLinks(ok).ok());
}

// ---- (b) a JSON number where a string is expected; the engine's hang --------------------

TEST(HostileModel, WrongTypesAreErrorsNotExceptions) {
  std::string dir = testing::MakeTempDir("hostile_model");
  WriteTemp(dir, "config.json", R"({"model_type": 5})");
  infer::DirectoryModelFiles files(dir);
  Result<std::shared_ptr<const infer::BertModel>> r = MakeError(Errc::kInternal, "");
  ASSERT_NO_THROW(r = infer::LoadBertModel(files));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
  EXPECT_NE(r.error().message.find("model_type"), std::string::npos) << r.error().message;

  WriteTemp(dir, "modules.json", R"([{"type": 7, "path": ""}])");
  ASSERT_NO_THROW(r = infer::LoadBertModel(files));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("modules.json"), std::string::npos) << r.error().message;
  fs::remove_all(dir);

  Result<infer::WordPieceTokenizer> t = MakeError(Errc::kInternal, "");
  ASSERT_NO_THROW(t = infer::WordPieceTokenizer::FromTokenizerJson(R"({"model": {"type": 5}})"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("'type' must be a string"), std::string::npos) << t.error().message;
}

TEST(HostileModel, EngineReturnsTheLoadErrorToEveryCallerAndStopsPromptly) {
  std::atomic<int> loads{0};
  // A loader that throws (as LoadBertModel did on "model_type": 5).
  infer::ModelLoader loader = [&loads](const std::string&) -> Result<std::shared_ptr<const infer::BertModel>> {
    loads++;
    throw std::runtime_error("type must be string, but is number");
  };
  auto engine = std::make_unique<infer::InferenceEngine>(accel::MakeCpuBackend(), loader);
  infer::InferenceEngine* e = engine.get();
  for (int i = 0; i < 2; ++i) {
    auto out = std::make_shared<std::optional<Error>>();
    bool finished = FinishesWithin(5s, [e, out] {
      try {
        auto r = e->GetModel("bad");
        *out = r.ok() ? Error{Errc::kInternal, "loaded?"} : r.error();
      } catch (const std::exception& ex) {
        *out = Error{Errc::kInternal, std::string("exception escaped: ") + ex.what()};
      }
    });
    if (!finished) {
      (void)engine.release();  // a caller is still blocked inside it: leak rather than crash
      FAIL() << "GetModel call " << i + 1 << " on a failed model blocked";
    }
    ASSERT_TRUE(out->has_value());
    EXPECT_EQ(out->value().message.find("exception escaped"), std::string::npos) << out->value().message;
    EXPECT_NE(out->value().message.find("type must be string"), std::string::npos) << out->value().message;
  }
  EXPECT_EQ(loads.load(), 1) << "within the back-off the error is remembered";
  // Submit reports the same error and never runs its callback.
  auto f = engine->Submit("bad", {"hello"});
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(f.get().ok());
  auto* raw = engine.release();
  EXPECT_TRUE(FinishesWithin(5s, [raw] { delete raw; })) << "engine destructor blocked";
}

TEST(HostileModel, AfterTheBackOffTheModelLoadsAgain) {
  std::atomic<int> loads{0};
  infer::EngineLimits limits;
  limits.model_retry_after = 0ms;
  infer::InferenceEngine engine(
      accel::MakeCpuBackend(),
      [&loads](const std::string&) -> Result<std::shared_ptr<const infer::BertModel>> {
        loads++;
        return MakeError(Errc::kUnavailable, "folder not reachable");
      },
      limits);
  EXPECT_EQ(engine.GetModel("m").error().code, Errc::kUnavailable);
  EXPECT_EQ(engine.GetModel("m").error().code, Errc::kUnavailable);
  EXPECT_EQ(loads.load(), 2);
}

// ---- (c) added-token ids the file cannot hold --------------------------------------------

std::string TokenizerJson(const std::string& added_id) {
  return R"({"model": {"type": "WordPiece", "unk_token": "[UNK]",
               "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hello": 3}},
             "normalizer": {"type": "BertNormalizer"},
             "pre_tokenizer": {"type": "BertPreTokenizer"},
             "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 1], "sep": ["[SEP]", 2]},
             "added_tokens": [{"id": )" +
         added_id + R"(, "content": "[X]"}]})";
}

TEST(HostileTokenizer, HugeAddedTokenIdsAreRefused) {
  auto ok = infer::WordPieceTokenizer::FromTokenizerJson(TokenizerJson("4"));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->Encode("hello [X]").ids, (std::vector<int32_t>{1, 3, 4, 2}));
  for (std::string id : {std::to_string(INT_MAX), std::string("200000000"), std::string("-1"),
                         std::string("4.5"), std::string("\"4\"")}) {
    Result<infer::WordPieceTokenizer> t = MakeError(Errc::kInternal, "");
    bool finished = FinishesWithin(5s, [&] {
      try {
        t = infer::WordPieceTokenizer::FromTokenizerJson(TokenizerJson(id));
      } catch (...) {
        t = MakeError(Errc::kInternal, "exception escaped");
      }
    });
    ASSERT_TRUE(finished) << id;
    ASSERT_FALSE(t.ok()) << id;
    EXPECT_EQ(t.error().code, Errc::kMalformed) << id << ": " << t.error().message;
  }
}

// ---- (d) nesting deep enough to overflow the stack ----------------------------------------

std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(HostileJson, DeepNestingIsRefusedEverywhere) {
  const std::string deep = Nested(1'000'000);
  std::string dir = testing::MakeTempDir("hostile_json");
  WriteTemp(dir, "config.json", R"({"mount": {"x": )" + deep + "}}");
  ConfigLoadOptions o;
  o.repo_path = dir;
  o.etc_path = "";
  o.env = std::map<std::string, std::string>{};
  auto c = LoadConfig(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("nested deeper"), std::string::npos) << c.error().message;

  WriteTemp(dir, "config.json", R"({"model_type": "bert", "x": )" + deep + "}");
  infer::DirectoryModelFiles files(dir);
  auto m = infer::LoadBertModel(files);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("nested deeper"), std::string::npos) << m.error().message;

  auto t = infer::WordPieceTokenizer::FromTokenizerJson(R"({"model": )" + deep + "}");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("nested deeper"), std::string::npos) << t.error().message;

  std::string header = R"({"x": )" + deep + "}";
  Bytes st(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) st[i] = uint8_t(n >> (8 * i));
  Append(st, AsBytes(header));
  auto s = infer::SafetensorsFile::Parse(std::move(st));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("nested deeper"), std::string::npos) << s.error().message;
  fs::remove_all(dir);
}

// ---- (e) sizes no integer holds ----------------------------------------------------------

TEST(HostileConfig, CacheSizeOutOfRangeIsAnError) {
  for (const char* v : {"1e30", "2e19", "inf", "nan", "16777216T"}) {
    ConfigLoadOptions o;
    o.etc_path = "";
    o.env = std::map<std::string, std::string>{{"IPFSKIT_CACHE_MAX_BYTES", v}};
    auto c = LoadConfig(o);
    ASSERT_FALSE(c.ok()) << v << " gave " << c->cache_max_bytes;
    EXPECT_EQ(c.error().code, Errc::kInvalidArgument);
    EXPECT_NE(c.error().message.find("IPFSKIT_CACHE_MAX_BYTES"), std::string::npos) << c.error().message;
  }
  ConfigLoadOptions o;
  o.etc_path = "";
  o.env = std::map<std::string, std::string>{{"IPFSKIT_CACHE_MAX_BYTES", "1.5G"}};
  auto c = LoadConfig(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->cache_max_bytes, uint64_t{3} << 29);

  // A JSON integer over int64 for a signed setting is "too large", not a wrapped negative.
  auto j = DefaultConfigJson();
  j["net"]["max_inflight"] = uint64_t{1} << 63;
  auto big = ConfigFromJson(j);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("too large"), std::string::npos) << big.error().message;
}

// ---- (f) HAMT fanouts that make undefined shifts ----------------------------------------

Bytes HamtNode(uint64_t fanout, std::vector<PbLink> links = {}) {
  UnixfsData d;
  d.type = UnixfsType::kHamtShard;
  d.hash_type = 0x22;
  d.fanout = fanout;
  d.data = Bytes{0};
  PbNode n;
  n.links = std::move(links);
  n.data = EncodeUnixfs(d);
  return EncodePbNode(n);
}

Cid PutBlock(MemoryBlockStore& store, uint64_t codec, const Bytes& data) {
  Cid c = Cid::Sum(1, codec, mh::kSha2_256, data).value();
  EXPECT_TRUE(store.Put(c, data).ok());
  return c;
}

TEST(HostileUnixfs, BadHamtFanoutIsRefused) {
  auto store = std::make_shared<MemoryBlockStore>();
  UnixfsReader reader(store);
  for (uint64_t fanout : {uint64_t{1}, uint64_t{3}, uint64_t{2048}, uint64_t{1} << 40}) {
    Bytes block = HamtNode(fanout);
    auto node = DecodePbNode(block);
    ASSERT_TRUE(node.ok());
    auto d = DecodeUnixfs(*node->data);
    ASSERT_FALSE(d.ok()) << fanout;
    EXPECT_NE(d.error().message.find("fanout"), std::string::npos) << d.error().message;
    Cid dir = PutBlock(*store, codec::kDagPb, block);
    auto r = reader.Lookup(dir, "name");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kMalformed) << r.error().message;
  }
  EXPECT_TRUE(DecodeUnixfs(*DecodePbNode(HamtNode(256))->data).ok());
}

// ---- (g) DAGs that link the same child again and again ----------------------------------

Bytes FileNode(const std::vector<Cid>& children, const std::vector<uint64_t>& sizes, uint64_t filesize) {
  UnixfsData d;
  d.type = UnixfsType::kFile;
  d.filesize = filesize;
  d.blocksizes = sizes;
  PbNode n;
  for (const Cid& c : children) n.links.push_back(PbLink{c, std::string(), uint64_t{1}});
  n.data = EncodeUnixfs(d);
  return EncodePbNode(n);
}

TEST(HostileUnixfs, FileDagThatRepeatsChildrenIsReadInBoundedWork) {
  auto store = std::make_shared<MemoryBlockStore>();
  // Each level links the level below 20 times and says each link stands for 1 byte, while the
  // level below says it is 20 bytes: read naively, 20 bytes cost about 10^depth block visits.
  Cid level = PutBlock(*store, codec::kRaw, ToBytes("a"));
  for (int depth = 0; depth < 10; ++depth)
    level = PutBlock(*store, codec::kDagPb, FileNode(std::vector<Cid>(20, level), std::vector<uint64_t>(20, 1), 20));
  auto reader = std::make_shared<UnixfsReader>(store);
  auto result = std::make_shared<Result<size_t>>(size_t{0});
  ASSERT_TRUE(FinishesWithin(5s, [reader, level, result] {
    Bytes out(20);
    *result = reader->Read(level, 0, out);
  })) << "a 20-byte read of a few-kilobyte DAG did not finish";
  // The extents are consistent, so the read succeeds, with the bytes each link stands for.
  ASSERT_TRUE(result->ok()) << result->error().message;
  auto leaves = std::make_shared<Result<std::vector<Cid>>>(std::vector<Cid>{});
  ASSERT_TRUE(FinishesWithin(5s, [reader, level, leaves] { *leaves = reader->LeavesFor(level, 0, 20); }));
}

TEST(HostileUnixfs, BlocksizesThatDoNotAddUpAreMalformed) {
  auto store = std::make_shared<MemoryBlockStore>();
  Cid leaf = PutBlock(*store, codec::kRaw, ToBytes("abcd"));
  Cid root = PutBlock(*store, codec::kDagPb, FileNode({leaf, leaf}, {4, 4}, 1000));
  UnixfsReader reader(store);
  Bytes out(100);
  auto r = reader.Read(root, 0, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
  Cid good = PutBlock(*store, codec::kDagPb, FileNode({leaf, leaf}, {4, 4}, 8));
  auto g = reader.Read(good, 0, out);
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(std::string(out.begin(), out.begin() + *g), "abcdabcd");
}

TEST(HostileUnixfs, AChildShorterThanItsBlocksizeIsMalformedNotAHole) {
  // The root says each leaf holds 4 bytes, but the middle one holds 2: read naively, bytes
  // 6-7 would be whatever the reader's buffer held before (another file's bytes, even).
  auto store = std::make_shared<MemoryBlockStore>();
  Cid full = PutBlock(*store, codec::kRaw, ToBytes("abcd"));
  Cid shorter = PutBlock(*store, codec::kRaw, ToBytes("ef"));
  Cid root = PutBlock(*store, codec::kDagPb, FileNode({full, shorter, full}, {4, 4, 4}, 12));
  Cid tail = PutBlock(*store, codec::kDagPb, FileNode({full, shorter}, {4, 4}, 8));
  UnixfsReader reader(store);
  for (const Cid& file : {root, tail}) {
    Bytes out(12, 'X');
    auto r = reader.Read(file, 0, out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kMalformed) << r.error().message;
    std::vector<Block> views;
    auto v = reader.ReadViews(file, 0, 12, views);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, Errc::kMalformed) << v.error().message;
    EXPECT_TRUE(views.empty());
  }
  // What lies before the short leaf still reads.
  Bytes out(4);
  auto r = reader.Read(root, 0, out);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::string(out.begin(), out.end()), "abcd");
}

// A dag-pb leaf with the UnixFS data `unixfs` (raw protobuf bytes).
Bytes LeafNode(const Bytes& unixfs) {
  PbNode n;
  n.data = unixfs;
  return EncodePbNode(n);
}

TEST(HostileUnixfs, LeavesReadTheSameThroughTheViewPathAndTheFullDecoders) {
  // Plain leaves are read from views into the block; anything else goes through DecodePbNode
  // and DecodeUnixfs, which must still refuse what they refused.
  auto store = std::make_shared<MemoryBlockStore>();
  UnixfsReader reader(store);
  auto unixfs = [](std::optional<uint64_t> type, std::optional<std::string> data, std::optional<uint64_t> filesize) {
    Bytes b;
    if (type) pb::PutVarintField(b, 1, *type);
    if (data) pb::PutBytesField(b, 2, ToBytes(*data));
    if (filesize) pb::PutVarintField(b, 3, *filesize);
    return b;
  };
  Bytes out(64);
  auto read = [&](const Bytes& leaf_unixfs, uint64_t offset) {
    Cid leaf = PutBlock(*store, codec::kDagPb, LeafNode(leaf_unixfs));
    Cid root = PutBlock(*store, codec::kDagPb, FileNode({leaf}, {5}, 5));
    auto whole = reader.Read(leaf, offset, out);  // the leaf as a one-block file
    auto inner = reader.Read(root, offset, out);  // the leaf under a root
    EXPECT_EQ(whole.ok(), inner.ok());
    return inner;
  };
  auto r = read(unixfs(2, "hello", 5), 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::string(out.begin(), out.begin() + *r), "ello");
  r = read(unixfs(0, "hello", std::nullopt), 0);  // Raw, no filesize
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::string(out.begin(), out.begin() + *r), "hello");
  // A filesize that is not the data's size: malformed.
  r = read(unixfs(2, "hello", 9), 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed) << r.error().message;
  // A directory where a file leaf should be: refused.
  r = read(unixfs(1, "hello", std::nullopt), 0);
  ASSERT_FALSE(r.ok());
  // An unknown UnixFS field: malformed.
  Bytes odd = unixfs(2, "hello", 5);
  pb::PutVarintField(odd, 15, 1);
  r = read(odd, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed) << r.error().message;
  // Truncated UnixFS data: malformed.
  Bytes cut = unixfs(2, "hello", 5);
  cut.resize(cut.size() - 3);
  r = read(cut, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed) << r.error().message;
}

TEST(HostileUnixfs, HamtThatRepeatsAShardIsRefusedPromptly) {
  auto store = std::make_shared<MemoryBlockStore>();
  Cid file = PutBlock(*store, codec::kRaw, ToBytes("x"));
  Cid shard = PutBlock(*store, codec::kDagPb, HamtNode(256, {PbLink{file, std::string("00name"), 1}}));
  for (int depth = 0; depth < 4; ++depth) {
    std::vector<PbLink> links;
    for (int i = 0; i < 256; ++i) {
      char name[3];
      std::snprintf(name, sizeof name, "%02X", i);
      links.push_back(PbLink{shard, std::string(name), 1});
    }
    shard = PutBlock(*store, codec::kDagPb, HamtNode(256, links));
  }
  auto reader = std::make_shared<UnixfsReader>(store);
  auto result = std::make_shared<Result<std::vector<DirEntry>>>(std::vector<DirEntry>{});
  ASSERT_TRUE(FinishesWithin(5s, [reader, shard, result] { *result = reader->ListDir(shard); }))
      << "listing a HAMT of 5 blocks did not finish";
  ASSERT_FALSE(result->ok());
  EXPECT_NE(result->error().message.find("more than once"), std::string::npos) << result->error().message;
}

// ---- (h) long base36 / base58 text and huge identity CIDs ---------------------------------

TEST(HostileMultiformats, LongRadixTextAndHugeIdentityCidsAreRefusedPromptly) {
  auto r = std::make_shared<Result<Cid>>(Cid());
  ASSERT_TRUE(FinishesWithin(5s, [r] { *r = Cid::Parse("k" + std::string(1 << 20, 'z')); }));
  ASSERT_FALSE(r->ok());
  auto b = std::make_shared<Result<Bytes>>(Bytes());
  ASSERT_TRUE(FinishesWithin(5s, [b] { *b = MultibaseDecode("z" + std::string(1 << 20, 'z')); }));
  ASSERT_FALSE(b->ok());

  Bytes big(1 << 20, 0xab);
  EXPECT_FALSE(Cid::Sum(1, codec::kRaw, mh::kIdentity, big).ok());
  Bytes raw{0x01, 0x55, 0x00};
  PutUvarint(raw, big.size());
  Append(raw, big);
  EXPECT_FALSE(Cid::FromBytes(raw).ok());

  // The largest identity CID allowed still prints, and parses back, quickly.
  Cid largest = Cid::Sum(1, codec::kLibp2pKey, mh::kIdentity, Bytes(kMaxIdentityDigestSize, 0x5a)).value();
  auto text = std::make_shared<std::string>();
  ASSERT_TRUE(FinishesWithin(5s, [largest, text] { *text = largest.ToString(); }));
  auto back = Cid::Parse(*text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, largest);
}

TEST(HostileMultiformats, RadixCodecsStillMatchKnownVectors) {
  // base58btc and base36 vectors from the multibase spec test suite ("yes mani !").
  ByteView in = AsBytes("yes mani !");
  EXPECT_EQ(EncodeBase(Multibase::kBase58Btc, in), "7paNL19xttacUY");
  EXPECT_EQ(EncodeBase(Multibase::kBase36, in), "2lcpzo5yikidynfl");
  Bytes zeros = {0, 0, 'y', 'e', 's', ' ', 'm', 'a', 'n', 'i', ' ', '!'};
  EXPECT_EQ(EncodeBase(Multibase::kBase58Btc, zeros), "117paNL19xttacUY");
  EXPECT_EQ(EncodeBase(Multibase::kBase36, zeros), "002lcpzo5yikidynfl");
  for (Multibase base : {Multibase::kBase58Btc, Multibase::kBase36, Multibase::kBase36Upper}) {
    for (size_t n : {0, 1, 2, 3, 4, 5, 31, 32, 33, 100}) {
      Bytes data(n);
      for (size_t i = 0; i < n; ++i) data[i] = uint8_t(i * 37 + 11);
      if (n > 2) data[0] = data[1] = 0;
      auto back = DecodeBase(base, EncodeBase(base, data));
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, data) << n;
    }
  }
}

}  // namespace
}  // namespace ipfskit
