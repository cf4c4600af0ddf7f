// The trustless gateway server (core/serve) in-process over a real repo, driven by libcurl, by raw
// sockets that misbehave, and by our own GatewaySource client; and `ipfskit serve` itself.
// Every address is 127.0.0.1.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "core/car/car.h"
#include "core/codec/dagpb.h"
#include "core/codec/unixfs.h"
#include "core/importer/importer.h"
#include "core/ipns/namesys.h"
#include "core/reader/unixfs_reader.h"
#include "core/serve/gateway_handler.h"
#include "core/serve/http_server.h"
#include "core/source/gateway.h"
#include "core/source/http_client.h"
#include "core/source/source_chain.h"
#include "core/store/repo.h"
#include "tests/fakes/test_dag.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

using namespace std::chrono_literals;
using testing::MemoryBlocks;
using testing::RandomBytes;

std::string Q(const std::string& s) { return "'" + s + "'"; }

struct CurlResult {
  int code = 0;
  std::string headers;  // lower-cased
  std::string body;
  std::string Header(const std::string& lower) const {
    size_t p = headers.find("\n" + lower + ":");
    if (p == std::string::npos) return "";
    p += lower.size() + 2;
    size_t e = headers.find('\r', p);
    std::string v = headers.substr(p, e - p);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

// A request as the curl tool would make it (`extra`: "-I" for HEAD, "-H 'Name: value'"), made
// with libcurl itself: the fresh CI root has the library (a dependency) but not the curl tool.
CurlResult CurlUrl(const std::string& url, const std::string& extra = "") {
  CurlResult r;
  CURL* h = curl_easy_init();
  if (!h) return r;
  curl_slist* headers = nullptr;
  bool head = false;
  for (size_t i = 0; i < extra.size();) {
    if (extra.compare(i, 2, "-I") == 0) {
      head = true;
      i += 2;
    } else if (extra.compare(i, 4, "-H '") == 0) {
      size_t e = extra.find('\'', i + 4);
      headers = curl_slist_append(headers, extra.substr(i + 4, e - i - 4).c_str());
      i = e + 1;
    } else {
      ++i;
    }
  }
  std::string raw_headers;
  auto collect = +[](char* data, size_t size, size_t n, void* out) -> size_t {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  };
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(h, CURLOPT_NOBODY, head ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &raw_headers);
  if (curl_easy_perform(h) == CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    r.code = static_cast<int>(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (head) r.body = raw_headers;  // curl -I prints the headers where the body would go
  r.headers = "\n" + raw_headers;
  for (auto& c : r.headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}


class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("ipfskit-serve");
    RepoOptions o;
    o.path = dir_ + "/repo";
    auto r = Repo::Open(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    repo_ = *r;
    chain_ = std::make_shared<SourceChain>(repo_, nullptr, std::vector<std::shared_ptr<RemoteSource>>{},
                                           ChainOptions{});
  }
  void TearDown() override {
    server_.reset();
    handler_.reset();
    chain_.reset();
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartServer(HttpServerOptions so = {}, std::shared_ptr<NameSys> names = nullptr) {
    handler_ = std::make_unique<GatewayHandler>(chain_, std::move(names));
    so.port = 0;
    server_ = std::make_unique<HttpServer>(so, handler_->AsHandler());
    ASSERT_TRUE(server_->Start().ok());
    url_ = "http://" + server_->address();
  }

  // Stores every block of `mem` in the repo.
  void Store(const MemoryBlocks& mem) {
    auto writer = repo_->NewWriter();  // one batch, not a commit per block
    for (const auto& [cid, data] : mem.blocks()) ASSERT_TRUE(writer->Put(cid, data, true).ok());
    ASSERT_TRUE(writer->Flush().ok());
  }

  CurlResult Curl(const std::string& path, const std::string& extra = "") { return CurlUrl(url_ + path, extra); }

  // The blocks of a CAR body, in order, each verified by the reader.
  static std::vector<std::pair<Cid, Bytes>> ParseCar(const std::string& body, std::vector<Cid>* roots = nullptr) {
    std::vector<std::pair<Cid, Bytes>> out;
    auto reader = CarReader::Open(BytesSource(AsBytes(body)));
    EXPECT_TRUE(reader.ok()) << reader.error().message;
    if (!reader.ok()) return out;
    if (roots) *roots = (*reader)->roots();
    for (;;) {
      auto next = (*reader)->Next();
      EXPECT_TRUE(next.ok()) << next.error().message;
      if (!next.ok() || !*next) break;
      out.emplace_back((*next)->cid, Bytes((*next)->data.begin(), (*next)->data.end()));
    }
    return out;
  }
  static std::vector<Cid> CarCids(const std::string& body) {
    std::vector<Cid> v;
    for (auto& [c, d] : ParseCar(body)) v.push_back(c);
    return v;
  }
  // What ExportCar (depth-first pre-order, each block once) gives for `root`.
  std::vector<Cid> ExportOrder(const Cid& root) {
    Bytes car;
    EXPECT_TRUE(ExportCar(*chain_, root, BytesSink(car)).ok());
    return CarCids(std::string(car.begin(), car.end()));
  }

  std::string dir_;
  std::shared_ptr<Repo> repo_;
  std::shared_ptr<SourceChain> chain_;
  std::unique_ptr<GatewayHandler> handler_;
  std::unique_ptr<HttpServer> server_;
  std::string url_;
};

std::set<Cid> AsSet(const std::vector<Cid>& v) { return {v.begin(), v.end()}; }

// A file of many blocks: raw 4 KiB leaves, width 16, so a root over internal nodes over leaves.
struct FileDag {
  MemoryBlocks mem;
  Bytes data;
  Cid root;
  explicit FileDag(size_t size, uint32_t seed = 7) {
    data = RandomBytes(size, seed);
    root = testing::ImportFileDag(data, &mem);
  }
};

// A directory over files: `n` entries, each `size` bytes; a HAMT when hamt is set.
Cid MakeDir(MemoryBlocks& mem, int n, size_t size, bool hamt, bool same_content = false) {
  ImportOptions o;
  o.cid_version = 1;
  o.raw_leaves = true;
  o.chunk_size = 1024;
  DagWriter w(o, &mem);
  std::vector<DirEntryIn> entries;
  for (int i = 0; i < n; i++) {
    Bytes d = RandomBytes(size, same_content ? 99 : static_cast<uint32_t>(i + 1));
    auto e = ImportBytes(d, o, &mem);
    if (!e.ok()) throw std::runtime_error(e.error().message);
    entries.push_back({"file-" + std::to_string(i) + ".bin", *e});
  }
  auto dir = hamt ? BuildHamt(entries, w) : BuildDirectory(entries, w);
  if (!dir.ok()) throw std::runtime_error(dir.error().message);
  return dir->cid;
}

bool IsHamtShard(const Cid& cid, const Bytes& data) {
  if (cid.codec() != codec::kDagPb) return false;
  auto n = DecodePbNode(data);
  if (!n.ok() || !n->data) return false;
  auto u = DecodeUnixfs(*n->data);
  return u.ok() && u->type == UnixfsType::kHamtShard;
}

TEST_F(ServeTest, RawBlocksHashToTheirCid) {
  FileDag f(300 << 10);
  Store(f.mem);
  StartServer();
  int n = 0;
  for (const auto& [cid, data] : f.mem.blocks()) {
    if (n++ > 20) break;
    auto r = Curl("/ipfs/" + cid.ToString() + "?format=raw");
    ASSERT_EQ(r.code, 200) << r.body;
    EXPECT_TRUE(cid.Verifies(AsBytes(r.body)));
    EXPECT_EQ(r.Header("content-type"), "application/vnd.ipld.raw");
    EXPECT_EQ(r.Header("cache-control"), "public, max-age=29030400, immutable");
    EXPECT_EQ(r.Header("x-content-type-options"), "nosniff");
    EXPECT_EQ(r.Header("etag"), "\"" + cid.ToString() + ".raw\"");
  }
  // The Accept header alone selects raw too.
  auto r = Curl("/ipfs/" + f.root.ToString(), "-H 'Accept: application/vnd.ipld.raw'");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(Bytes(r.body.begin(), r.body.end()), f.mem.blocks().at(f.root));
  // No format at all: this gateway does not deserialize.
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString()).code, 406);
  // HEAD: the headers, no body.
  // (curl -I writes the headers where the body would go: the output must be those headers only.)
  auto headers_only = [](const std::string& out) {
    return out.rfind("HTTP/1.1 200", 0) == 0 && out.find("\r\n\r\n") == out.size() - 4;
  };
  auto h = Curl("/ipfs/" + f.root.ToString() + "?format=raw", "-I");
  EXPECT_EQ(h.code, 200);
  EXPECT_EQ(h.Header("content-length"), std::to_string(f.mem.blocks().at(f.root).size()));
  EXPECT_TRUE(headers_only(h.body)) << h.body;
  auto hc = Curl("/ipfs/" + f.root.ToString() + "?format=car", "-I");
  EXPECT_EQ(hc.code, 200);
  EXPECT_EQ(hc.Header("content-type"), "application/vnd.ipld.car; version=1; order=dfs; dups=n");
  EXPECT_TRUE(headers_only(hc.body)) << hc.body;
  // If-None-Match with the ETag.
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "?format=raw", "-H 'If-None-Match: \"" + f.root.ToString() + ".raw\"'").code,
            304);
}

TEST_F(ServeTest, RangeOnRawBlocks) {
  FileDag f(300 << 10);
  Store(f.mem);
  StartServer();
  const Bytes root = f.mem.blocks().at(f.root);
  const std::string u = "/ipfs/" + f.root.ToString() + "?format=raw";
  auto r = Curl(u, "-H 'Range: bytes=10-19'");
  EXPECT_EQ(r.code, 206);
  EXPECT_EQ(Bytes(r.body.begin(), r.body.end()), Bytes(root.begin() + 10, root.begin() + 20));
  EXPECT_EQ(r.Header("content-range"), "bytes 10-19/" + std::to_string(root.size()));
  auto s = Curl(u, "-H 'Range: bytes=-5'");
  EXPECT_EQ(s.code, 206);
  EXPECT_EQ(Bytes(s.body.begin(), s.body.end()), Bytes(root.end() - 5, root.end()));
  auto o = Curl(u, "-H 'Range: bytes=3-'");
  EXPECT_EQ(o.code, 206);
  EXPECT_EQ(o.body.size(), root.size() - 3);
  auto bad = Curl(u, "-H 'Range: bytes=999999-'");
  EXPECT_EQ(bad.code, 416);
  EXPECT_EQ(bad.Header("content-range"), "bytes */" + std::to_string(root.size()));
}

TEST_F(ServeTest, ProbeAndStatusCodes) {
  FileDag f(64 << 10);
  Store(f.mem);
  StartServer();
  auto p = Curl("/ipfs/bafkqaaa?format=raw");
  EXPECT_EQ(p.code, 200);
  EXPECT_TRUE(p.body.empty());
  auto pc = Curl("/ipfs/bafkqaaa?format=car");
  EXPECT_EQ(pc.code, 200);
  std::vector<Cid> roots;
  EXPECT_TRUE(ParseCar(pc.body, &roots).empty());  // identity blocks are never sent
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_EQ(roots[0].ToString(), "bafkqaaa");

  // A CID nobody has.
  auto absent = Cid::Sum(1, codec::kRaw, mh::kSha2_256, AsBytes(std::string("not stored anywhere")));
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(Curl("/ipfs/" + absent->ToString() + "?format=raw").code, 404);
  EXPECT_EQ(Curl("/ipfs/" + absent->ToString() + "?format=car").code, 404);
  // only-if-cached: 412 when the root is not local, 200 when it is.
  EXPECT_EQ(Curl("/ipfs/" + absent->ToString() + "?format=raw", "-H 'Cache-Control: only-if-cached'").code, 412);
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "?format=raw", "-H 'Cache-Control: only-if-cached'").code, 200);
  // Bad CIDs, traversal, bad parameters.
  EXPECT_EQ(Curl("/ipfs/notacid?format=raw").code, 400);
  EXPECT_EQ(Curl("/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi%zz?format=raw").code, 400);
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "/../x?format=car").code, 400);
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "/./x?format=raw").code, 400);
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "?format=car&dag-scope=nope").code, 400);
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "?format=car&car-version=2").code, 400);
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "?format=car&entity-bytes=9:3").code, 400);
  // A path below a file: no such link.
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "/x?format=raw").code, 404);
  EXPECT_EQ(Curl("/other").code, 404);
}

TEST_F(ServeTest, CarScopesOfAFile) {
  FileDag f(300 << 10);  // 75 leaves under 5 internal nodes under the root
  Store(f.mem);
  StartServer();
  const std::string u = "/ipfs/" + f.root.ToString() + "?format=car";
  auto all = Curl(u);
  ASSERT_EQ(all.code, 200);
  EXPECT_EQ(all.Header("content-type"), "application/vnd.ipld.car; version=1; order=dfs; dups=n");
  std::vector<Cid> roots;
  auto blocks = ParseCar(all.body, &roots);
  ASSERT_EQ(roots, std::vector<Cid>{f.root});
  std::vector<Cid> order;
  for (auto& [c, d] : blocks) order.push_back(c);
  EXPECT_EQ(order, ExportOrder(f.root));  // every block once, depth-first pre-order
  EXPECT_EQ(order.size(), f.mem.blocks().size());
  EXPECT_EQ(CarCids(Curl(u + "&dag-scope=entity").body), order);
  EXPECT_EQ(CarCids(Curl(u + "&dag-scope=block").body), std::vector<Cid>{f.root});
  // Through the Accept header, with its parameters.
  auto acc = Curl("/ipfs/" + f.root.ToString(), "-H 'Accept: application/vnd.ipld.car; version=1; order=dfs; dups=y'");
  EXPECT_EQ(acc.code, 200);
  EXPECT_EQ(acc.Header("content-type"), "application/vnd.ipld.car; version=1; order=dfs; dups=y");
  EXPECT_EQ(CarCids(acc.body), order);

  // entity-bytes: the leaves covering the range, and the nodes above them only.
  auto part = Curl(u + "&entity-bytes=8192:12287");
  ASSERT_EQ(part.code, 200);
  auto got = CarCids(part.body);
  UnixfsReader reader(chain_);
  auto want_leaves = reader.LeavesFor(f.root, 8192, 4096);
  ASSERT_TRUE(want_leaves.ok());
  std::vector<Cid> leaves, inner;
  for (auto& c : got) (c.codec() == codec::kRaw ? leaves : inner).push_back(c);
  EXPECT_EQ(leaves, *want_leaves);
  ASSERT_EQ(inner.size(), 2u);  // the root and the one internal node over leaf 2
  EXPECT_EQ(inner[0], f.root);
  // The whole file from the middle to the end; negative from; ETags differ.
  auto tail = CarCids(Curl(u + "&entity-bytes=-4096:*").body);
  auto want_tail = reader.LeavesFor(f.root, f.data.size() - 4096, 4096);
  ASSERT_TRUE(want_tail.ok());
  EXPECT_EQ(tail.back(), want_tail->back());
  EXPECT_NE(part.Header("etag"), all.Header("etag"));
  EXPECT_NE(Curl(u + "&entity-bytes=0:4095").Header("etag"), part.Header("etag"));
  EXPECT_NE(Curl(u + "&dag-scope=block").Header("etag"), all.Header("etag"));
  EXPECT_NE(Curl("/ipfs/" + f.root.ToString() + "?format=raw").Header("etag"), all.Header("etag"));
}

TEST_F(ServeTest, CarScopesOfDirectoriesAndHamts) {
  MemoryBlocks mem;
  const Cid dir = MakeDir(mem, 5, 5000, /*hamt=*/false);
  const Cid hamt = MakeDir(mem, 600, 10, /*hamt=*/true);
  const Cid dupdir = MakeDir(mem, 3, 3000, false, /*same_content=*/true);
  Store(mem);
  StartServer();
  auto blocks = mem.blocks();
  // A plain directory: entity and block are its own block; all is the whole DAG.
  const std::string d = "/ipfs/" + dir.ToString() + "?format=car";
  EXPECT_EQ(CarCids(Curl(d + "&dag-scope=entity").body), std::vector<Cid>{dir});
  EXPECT_EQ(CarCids(Curl(d + "&dag-scope=block").body), std::vector<Cid>{dir});
  EXPECT_EQ(CarCids(Curl(d).body), ExportOrder(dir));
  // A path: the directory block first (it proves the name), then the file's entity.
  auto entries = UnixfsReader(chain_).ListDir(dir);
  ASSERT_TRUE(entries.ok());
  const DirEntry& e2 = (*entries)[2];
  auto path_car = CarCids(Curl("/ipfs/" + dir.ToString() + "/" + e2.name + "?format=car&dag-scope=entity").body);
  std::vector<Cid> want{dir};
  for (auto& c : ExportOrder(e2.cid)) want.push_back(c);
  EXPECT_EQ(path_car, want);

  // A HAMT: entity is exactly its shards (every HAMT-shard block stored), no entries.
  std::set<Cid> shards;
  for (const auto& [c, data] : blocks)
    if (IsHamtShard(c, data)) shards.insert(c);
  ASSERT_GT(shards.size(), 1u);  // 600 entries: sub-shards exist
  auto hamt_entity = CarCids(Curl("/ipfs/" + hamt.ToString() + "?format=car&dag-scope=entity").body);
  EXPECT_EQ(hamt_entity.front(), hamt);
  EXPECT_EQ(hamt_entity.size(), shards.size());
  EXPECT_EQ(AsSet(hamt_entity), shards);
  EXPECT_EQ(CarCids(Curl("/ipfs/" + hamt.ToString() + "?format=car&dag-scope=block").body), std::vector<Cid>{hamt});
  EXPECT_EQ(CarCids(Curl("/ipfs/" + hamt.ToString() + "?format=car").body), ExportOrder(hamt));
  // A name inside the HAMT: the shards on the way, then the file.
  auto in_hamt = CarCids(Curl("/ipfs/" + hamt.ToString() + "/file-417.bin?format=car&dag-scope=block").body);
  ASSERT_GE(in_hamt.size(), 2u);
  EXPECT_EQ(in_hamt.front(), hamt);
  auto target = UnixfsReader(chain_).Resolve(hamt, "file-417.bin");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(in_hamt.back(), *target);
  for (size_t i = 0; i + 1 < in_hamt.size(); i++) EXPECT_TRUE(shards.count(in_hamt[i])) << i;
  // Raw over a path gives the block the path ends at.
  auto raw = Curl("/ipfs/" + hamt.ToString() + "/file-417.bin?format=raw");
  EXPECT_EQ(raw.code, 200);
  EXPECT_TRUE(target->Verifies(AsBytes(raw.body)));
  EXPECT_EQ(Curl("/ipfs/" + hamt.ToString() + "/no-such-file?format=raw").code, 404);

  // dups: three files with the same content share their blocks.
  auto n = CarCids(Curl("/ipfs/" + dupdir.ToString() + "?format=car&car-dups=n").body);
  auto y = CarCids(Curl("/ipfs/" + dupdir.ToString() + "?format=car&car-dups=y").body);
  EXPECT_EQ(AsSet(n).size(), n.size());
  EXPECT_GT(y.size(), n.size());
  EXPECT_EQ(AsSet(y), AsSet(n));
}

TEST_F(ServeTest, OurGatewayClientReadsThroughIt) {
  FileDag f(6 << 20, 3);
  Store(f.mem);
  StartServer();
  auto http = std::make_shared<HttpClient>();
  auto gw = std::make_shared<GatewaySource>(url_, http, RemoteOptions{});
  auto chain = std::make_shared<SourceChain>(nullptr, nullptr, std::vector<std::shared_ptr<RemoteSource>>{gw},
                                             ChainOptions{});
  UnixfsReader reader(chain);
  Bytes out(f.data.size());
  auto n = reader.Read(f.root, 0, out);
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, f.data.size());
  EXPECT_TRUE(out == f.data);
  // The CAR path of the client: a range streamed and verified block by block.
  uint64_t blocks = 0;
  auto car = gw->FetchCarRange(f.root, 1 << 20, (2 << 20) - 1, [&](const Cid& c, ByteView d) {
    blocks++;
    return c.Verifies(d) ? Status::Ok() : Status(MakeError(Errc::kHashMismatch, "bad"));
  }, SteadyClock::now() + 30s);
  ASSERT_TRUE(car.ok()) << car.error().message;
  EXPECT_GE(blocks, 256u);  // 1 MiB of 4 KiB leaves, plus the nodes above them
}

TEST_F(ServeTest, IpnsRecord) {
  const std::string dir = testing::FixturesDir() + "/ipns_records";
  const std::string file = "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w_v1-v2.ipns-record";
  const std::string raw = testing::ReadFile(dir + "/" + file);
  ASSERT_FALSE(raw.empty());
  IpnsSettings s;
  s.offline = true;
  auto ns = NameSys::Open(repo_, s);
  ASSERT_TRUE(ns.ok()) << ns.error().message;
  auto name = IpnsName::Parse(file.substr(0, file.find('_')));
  ASSERT_TRUE(name.ok());
  auto put = (*ns)->PutRecord(*name, AsBytes(raw), "test");
  ASSERT_TRUE(put.ok()) << put.error().message;
  StartServer({}, *ns);
  auto r = Curl("/ipns/" + name->ToString() + "?format=ipns-record");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, raw);
  EXPECT_EQ(r.Header("content-type"), "application/vnd.ipfs.ipns-record");
  auto a = Curl("/ipns/" + name->ToString(), "-H 'Accept: application/vnd.ipfs.ipns-record'");
  EXPECT_EQ(a.body, raw);
  // A valid name with no record; a bad name.
  EXPECT_EQ(Curl("/ipns/k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f?format=ipns-record").code, 404);
  EXPECT_EQ(Curl("/ipns/not-a-name?format=ipns-record").code, 400);
}

// --- misbehaving clients -----------------------------------------------------------------------

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool SendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one response with a Content-Length body; returns the status (0 on failure).
int ReadResponse(int fd, std::string* body = nullptr) {
  std::string buf;
  char tmp[65536];
  size_t hend;
  while ((hend = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string head = buf.substr(0, hend);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t cl = head.find("content-length:");
  if (cl == std::string::npos) return 0;
  size_t len = std::stoul(head.substr(cl + 15));
  while (buf.size() < hend + 4 + len) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<size_t>(n));
  }
  if (body) *body = buf.substr(hend + 4, len);
  return std::atoi(head.c_str() + 9);
}

TEST_F(ServeTest, SlowHeadersAreCutAndDoNotBlockOthers) {
  FileDag f(64 << 10);
  Store(f.mem);
  HttpServerOptions so;
  so.header_timeout = 2s;
  StartServer(so);
  std::atomic<bool> cut{false};
  std::thread slow([&] {
    int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    const std::string req = "GET /ipfs/" + f.root.ToString() + "?format=raw HTTP/1.1\r\nHost: x\r\n\r\n";
    for (char c : req) {
      if (!SendAll(fd, std::string_view(&c, 1))) break;
      char b;
      // Wait one second for the server to hang up, instead of sleeping.
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) > 0 && ::recv(fd, &b, 1, MSG_DONTWAIT) <= 0) break;
    }
    char b;
    cut = ::recv(fd, &b, 1, 0) <= 0;  // EOF, not a response
    ::close(fd);
  });
  // Meanwhile others are served at once.
  for (int i = 0; i < 5; i++) {
    const auto t0 = SteadyClock::now();
    EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "?format=raw").code, 200);
    EXPECT_LT(SteadyClock::now() - t0, 1s);
    std::this_thread::sleep_for(200ms);
  }
  slow.join();
  EXPECT_TRUE(cut);
  EXPECT_GE(server_->Stats().header_timeouts, 1u);
}

TEST_F(ServeTest, ClientGoneMidCarAndOversizedRequest) {
  FileDag f(16 << 20, 5);
  Store(f.mem);
  StartServer();
  for (int i = 0; i < 3; i++) {
    int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, "GET /ipfs/" + f.root.ToString() + "?format=car HTTP/1.1\r\nHost: x\r\n\r\n"));
    char buf[65536];
    ASSERT_GT(::recv(fd, buf, sizeof buf, MSG_WAITALL), 0);
    ::close(fd);  // gone, with most of the CAR unsent
  }
  // An oversized request line: refused, and the server answers the next request.
  {
    int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    SendAll(fd, "GET /ipfs/" + std::string(200000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string body;
    int code = ReadResponse(fd, &body);
    EXPECT_TRUE(code == 0 || code >= 400) << code;
    ::close(fd);
  }
  auto r = Curl("/ipfs/" + f.root.ToString() + "?format=raw");
  EXPECT_EQ(r.code, 200);
  // The gone clients' streams are ended and their connections closed.
  const auto until = SteadyClock::now() + 10s;
  while (server_->Stats().open_connections > 0 && SteadyClock::now() < until) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server_->Stats().open_connections, 0u);
  // And a whole CAR still comes out right.
  EXPECT_EQ(CarCids(Curl("/ipfs/" + f.root.ToString() + "?format=car").body).size(), f.mem.blocks().size());
}

TEST_F(ServeTest, AThousandConcurrentKeepAliveConnections) {
  // Both ends in this process: 1,000 client and 1,000 server sockets.
  rlimit nofile{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
  if (nofile.rlim_cur < 4096) {
    nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 4096);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &nofile), 0);
  }
  ASSERT_GE(nofile.rlim_cur, 2200u) << "the open-file limit is too low for this test";
  FileDag f(256 << 10);
  Store(f.mem);
  StartServer();
  std::vector<Cid> cids;
  for (const auto& [c, d] : f.mem.blocks()) cids.push_back(c);
  constexpr int kConns = 1000;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  std::atomic<int> connected{0};
  std::atomic<bool> failed{false};
  for (int i = 0; i < kConns; i++) {
    threads.emplace_back([&, i] {
      int fd = Connect(server_->port());
      connected++;
      if (fd < 0) return;
      while (connected < kConns) std::this_thread::sleep_for(5ms);  // all open at once
      bool good = true;
      for (int k = 0; k < 3 && good; k++) {  // three requests on one connection
        const Cid& c = cids[static_cast<size_t>(i * 3 + k) % cids.size()];
        good = SendAll(fd, "GET /ipfs/" + c.ToString() + "?format=raw HTTP/1.1\r\nHost: x\r\n\r\n");
        std::string body;
        good = good && ReadResponse(fd, &body) == 200 && c.Verifies(AsBytes(body));
      }
      if (good) ok++;
      else if (!failed.exchange(true)) std::cerr << "connection " << i << " failed\n";
      ::close(fd);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, kConns);
  EXPECT_EQ(Curl("/ipfs/" + f.root.ToString() + "?format=raw").code, 200);
}

TEST_F(ServeTest, StopCompletesWithAStalledStream) {
  FileDag f(16 << 20, 9);
  Store(f.mem);
  StartServer();
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /ipfs/" + f.root.ToString() + "?format=car HTTP/1.1\r\nHost: x\r\n\r\n"));
  char b[16];
  ASSERT_GT(::recv(fd, b, sizeof b, 0), 0);  // the stream started; we stop reading
  const auto t0 = SteadyClock::now();
  server_->Stop();
  EXPECT_LT(SteadyClock::now() - t0, 5s);
  ::close(fd);
}

// Request bodies (the API server's POSTs) and the router, with a handler that echoes.
TEST(HttpServerBodies, BoundedBodiesMethodsAndRoutes) {
  PrefixRouter router;
  router.Add("/echo", [](const ServerRequest& r) { return ServerResponse::Text(200, r.method + ":" + r.body); });
  router.Add("/echo/deeper", [](const ServerRequest&) { return ServerResponse::Text(200, "deeper"); });
  HttpServerOptions so;
  so.port = 0;
  so.max_body = 1000;
  so.methods = {"GET", "POST"};
  HttpServer server(so, router);
  ASSERT_TRUE(server.Start().ok());
  auto ask = [&](const std::string& raw, std::string* body) {
    int fd = Connect(server.port());
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(SendAll(fd, raw));
    int code = ReadResponse(fd, body);
    ::close(fd);
    return code;
  };
  std::string body;
  EXPECT_EQ(ask("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", &body), 200);
  EXPECT_EQ(body, "POST:hello\n");
  EXPECT_EQ(ask("POST /echo/deeper/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &body), 200);
  EXPECT_EQ(body, "deeper\n");
  EXPECT_EQ(ask("GET /echoes HTTP/1.1\r\nHost: x\r\n\r\n", &body), 404);
  // Over the limit, declared: refused before the body is read.
  EXPECT_EQ(ask("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", &body), 413);
  // Over the limit, chunked: read to its end and dropped.
  std::string chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; i++) chunked += "190\r\n" + std::string(400, 'a') + "\r\n";
  chunked += "0\r\n\r\n";
  EXPECT_EQ(ask(chunked, &body), 413);
  EXPECT_EQ(ask("DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n", &body), 405);
  // Two requests with bodies on one keep-alive connection.
  int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  for (std::string w : {"one", "second"}) {
    ASSERT_TRUE(SendAll(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(w.size()) +
                                "\r\n\r\n" + w));
    EXPECT_EQ(ReadResponse(fd, &body), 200);
    EXPECT_EQ(body, "POST:" + w + "\n");
  }
  ::close(fd);
}

// --- the command ---------------------------------------------------------------------------

TEST(ServeCli, ServesTheRepoAndStopsOnSigterm) {
  const std::string tmp = testing::MakeTempDir("ipfskit-serve-cli");
  const std::string cli = Q(testing::CliBinary()) + " --offline --repo " + Q(tmp + "/repo") + " ";
  ASSERT_EQ(testing::RunCommand(cli + "init >/dev/null"), 0);
  {
    std::ofstream(tmp + "/hello.txt") << "hello from serve\n";
  }
  std::string cid;
  ASSERT_EQ(testing::RunCommand(cli + "add -Q --cid-version 1 " + Q(tmp + "/hello.txt"), &cid), 0);
  while (!cid.empty() && cid.back() == '\n') cid.pop_back();
  // A public address without --allow-remote is refused with a clear message.
  std::string err;
  EXPECT_NE(testing::RunCommand(cli + "serve --listen 0.0.0.0:0 2>&1", &err), 0);
  EXPECT_NE(err.find("--allow-remote"), std::string::npos) << err;

  const std::string out = tmp + "/out";
  const std::string pidf = tmp + "/pid";
  ASSERT_EQ(testing::RunCommand("(" + cli + "serve --listen 127.0.0.1:0 > " + Q(out) + " 2>&1 & echo $! > " + Q(pidf) + ")"), 0);
  std::string line;
  for (int i = 0; i < 200 && line.find("http://") == std::string::npos; i++) {
    std::this_thread::sleep_for(50ms);
    line = testing::ReadFile(out);
  }
  ASSERT_NE(line.find("Gateway server listening on http://127.0.0.1:"), std::string::npos) << line;
  std::string url = line.substr(line.find("http://"));
  url = url.substr(0, url.find('\n'));
  std::string body = CurlUrl(url + "/ipfs/" + cid + "?format=raw").body;
  EXPECT_EQ(body, "hello from serve\n");
  const pid_t pid = std::atoi(testing::ReadFile(pidf).c_str());
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGTERM);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; i++) {
    std::this_thread::sleep_for(50ms);
    gone = ::kill(pid, 0) != 0;
  }
  EXPECT_TRUE(gone);
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace ipfskit
