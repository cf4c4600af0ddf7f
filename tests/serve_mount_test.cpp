// A second node reads through `ipfskit serve`: a mount over an empty repo whose only source is
// the first node's gateway copies a tree with `cp -r`, byte-exact. Loopback only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

using namespace std::chrono_literals;

class ServeMountTest : public MountFixture {
 protected:
  void TearDown() override {
    if (server_pid_ > 0) {
      ::kill(server_pid_, SIGTERM);
      for (int i = 0; i < 100 && ::kill(server_pid_, 0) == 0; i++) std::this_thread::sleep_for(50ms);
    }
    MountFixture::TearDown();
  }

  // Starts `ipfskit serve` over `repo` on a free port; returns its URL.
  std::string StartServe(const std::string& repo, const std::string& listen = "127.0.0.1:0") {
    const std::string out = tmp_ + "/serve.out", pidf = tmp_ + "/serve.pid";
    ShOk("('" + CliBinary() + "' --offline --repo '" + repo + "' serve --listen " + listen + " > '" + out +
         "' 2>&1 & echo $! > '" + pidf + "')");
    std::string line;
    for (int i = 0; i < 200 && line.find('\n') == std::string::npos; i++) {
      std::this_thread::sleep_for(50ms);
      line = ReadFile(out);
    }
    server_pid_ = std::atoi(ReadFile(pidf).c_str());
    const size_t at = line.find("http://");
    EXPECT_NE(at, std::string::npos) << line;
    if (at == std::string::npos) return "";
    return line.substr(at, line.find('\n', at) - at);
  }

  // The first node's repo (created on first use) and the CLI over it.
  std::string SourceRepo() {
    const std::string src = tmp_ + "/src-repo";
    if (!std::filesystem::exists(src)) ShOk(SrcCli() + "init");
    return src;
  }
  std::string SrcCli() const { return "'" + CliBinary() + "' --offline --repo '" + tmp_ + "/src-repo' "; }

  pid_t server_pid_ = 0;
};

TEST_F(ServeMountTest, CopiesATreeThroughAnotherNodesGateway) {
  // The first node: a tree with a multi-MiB file, small files and a subdirectory.
  const std::string tree = data_ + "/tree";
  std::filesystem::create_directories(tree + "/sub/deeper");
  WriteRandomFile(tree + "/big.bin", 5 << 20, 1);
  WriteRandomFile(tree + "/sub/medium.bin", 700 << 10, 2);
  for (int i = 0; i < 40; i++) std::ofstream(tree + "/sub/deeper/f" + std::to_string(i) + ".txt") << "file " << i << "\n";
  const std::string src = SourceRepo();
  const std::string cli = SrcCli();
  const std::string root = ShOk(cli + "add -Qr '" + tree + "'");
  ASSERT_FALSE(root.empty());

  const std::string url = StartServe(src);
  ASSERT_FALSE(url.empty());
  // The second node (this fixture's repo, empty) mounts with the first as its only gateway.
  Mount("gateway=" + url);
  ShOk("cp -r '" + mnt_ + "/ipfs/" + root + "' '" + tmp_ + "/copy'");
  EXPECT_EQ(Sh("diff -r '" + tree + "' '" + tmp_ + "/copy'"), 0);
  std::string stats = ShOk("cat '" + mnt_ + "/.ipfskit/stats'");
  EXPECT_NE(stats.find(url), std::string::npos);  // it really went through the gateway
}

// An independent client (tests/js/car_verify.mjs: @ipld/car, js-multiformats, and
// ipfs-unixfs-exporter reading from the CAR's blocks alone) fetches files, a byte range, a path
// through a HAMT directory and a CIDv1 raw-leaves file from `ipfskit serve` and verifies them.
TEST_F(ServeMountTest, AnIndependentClientVerifiesOurCars) {
  const std::string tree = data_ + "/tree";
  std::filesystem::create_directories(tree + "/sub");
  std::filesystem::create_directories(tree + "/hamt");
  WriteRandomFile(tree + "/sub/big.bin", 3 << 20, 21);
  std::ofstream(tree + "/small.txt") << "a small file\n";
  // Long names over 3,000 entries: past the 256 KiB sharding threshold, a HAMT directory.
  const std::string name = "an-entry-with-a-rather-long-name-to-push-the-directory-over-the-sharding-threshold-";
  for (int i = 0; i < 3000; i++) std::ofstream(tree + "/hamt/" + name + std::to_string(i)) << "entry " << i << "\n";
  const std::string src = SourceRepo();
  const std::string cli = SrcCli();
  const std::string root = ShOk(cli + "add -Qr '" + tree + "'");
  const std::string v1 = ShOk(cli + "add -Q --cid-version 1 '" + tree + "/sub/big.bin'");
  EXPECT_NE(ShOk(cli + "stat " + root + "/hamt").find("ChildBlocks: 256"), std::string::npos) << "not a HAMT";
  const std::string url = StartServe(src);
  ASSERT_FALSE(url.empty());
  auto verify = [&](const std::string& path, const std::string& file, const std::string& range = "") {
    std::string out;
    int rc = Sh("cd '" + SourceDir() + "/tests/js' && node car_verify.mjs " + url + " '" + path + "' '" + file + "' " +
                    range + " 2>&1",
                &out);
    EXPECT_EQ(rc, 0) << path << " " << range << ": " << out;
    EXPECT_NE(out.find("\"ok\":true"), std::string::npos) << out;
    return out;
  };
  verify(root + "/sub/big.bin", tree + "/sub/big.bin");
  // A range: only the blocks covering it (and the path), which the exporter needs and finds.
  const std::string ranged = verify(root + "/sub/big.bin", tree + "/sub/big.bin", "1000000:1300000");
  const auto blocks = [](const std::string& out) { return std::stoi(out.substr(out.find("\"blocks\":") + 9)); };
  EXPECT_LT(blocks(ranged), 8) << ranged;
  verify(root + "/small.txt", tree + "/small.txt");
  verify(root + "/hamt/" + name + "1234", tree + "/hamt/" + name + "1234");
  verify(v1, tree + "/sub/big.bin", "0:*");
  // And the check can fail: the wrong expected bytes are refused.
  std::string out;
  EXPECT_NE(Sh("cd '" + SourceDir() + "/tests/js' && node car_verify.mjs " + url + " '" + root + "/small.txt' '" +
                   tree + "/sub/big.bin' 2>&1",
               &out),
            0);
  EXPECT_NE(out.find("content differs"), std::string::npos) << out;
}

// A fresh mount reading through `ipfskit serve` asks for CAR streams, not block after block: a
// sequential read of a 24 MiB file as file ranges, `cp -r` of 300 small files as one tree.
TEST_F(ServeMountTest, AFreshMountStreamsFilesAndTreesAsCars) {
  const std::string tree = data_ + "/tree";
  std::filesystem::create_directories(tree + "/small");
  WriteRandomFile(tree + "/big.bin", 24 << 20, 11);
  for (int i = 0; i < 300; i++) WriteRandomFile(tree + "/small/f" + std::to_string(i), 2000 + i, 100 + i);
  const std::string src = SourceRepo();
  const std::string cli = SrcCli();
  const std::string root = ShOk(cli + "add -Qr '" + tree + "'");
  const std::string url = StartServe(src);
  ASSERT_FALSE(url.empty());
  Mount("gateway=" + url);
  ShOk("cat '" + mnt_ + "/ipfs/" + root + "/big.bin' > '" + tmp_ + "/big.copy'");
  EXPECT_EQ(Sh("cmp '" + tree + "/big.bin' '" + tmp_ + "/big.copy'"), 0);
  ShOk("cp -r '" + mnt_ + "/ipfs/" + root + "/small' '" + tmp_ + "/small.copy'");
  EXPECT_EQ(Sh("diff -r '" + tree + "/small' '" + tmp_ + "/small.copy'"), 0);
  const auto stats = MountStats();
  const auto& src_stats = stats.at("sources");
  SCOPED_TRACE(src_stats.dump(2));
  EXPECT_GE(src_stats.at("car").at("ranges").get<uint64_t>(), 1u);
  EXPECT_GE(src_stats.at("car").at("trees").get<uint64_t>(), 1u);
  // 96 leaves and 300 files: per-block fetching would make ~400 requests. The roots, the
  // directories and the blocks read before the first stream starts still go one by one.
  EXPECT_GE(src_stats.at("car").at("blocks").get<uint64_t>(), 380u);
  EXPECT_LT(src_stats.at("remote_fetches").get<uint64_t>(), 30u);
}

// A file whose inner nodes come in the stream before the reader needs them: with small leaves
// (16 KiB, so 174 of them are 2.7 MiB under one inner node) and small windows (1 MiB asked; the
// mount makes them at least 16 leaves of 256 KiB, 4 MiB), most windows begin under an inner
// node that the stream before is still bringing. The window's stream must
// take those leaves (not leave them to block-by-block reads), and nothing is fetched twice.
TEST_F(ServeMountTest, StreamsCoverLeavesUnderInnerNodesStillInFlight) {
  const std::string file = data_ + "/small-leaves.bin";
  WriteRandomFile(file, 12 << 20, 21);
  const std::string src = SourceRepo();
  const std::string root = ShOk(SrcCli() + "add -Q --chunker size-16384 '" + file + "'");
  const std::string url = StartServe(src);
  ASSERT_FALSE(url.empty());
  std::ofstream(repo_ + "/config.json") << R"({"net": {"car_stream_window_bytes": 1048576}})" << "\n";
  Mount("gateway=" + url);
  ShOk("dd if='" + mnt_ + "/ipfs/" + root + "' of='" + tmp_ + "/copy' bs=1M status=none");
  EXPECT_EQ(Sh("cmp '" + file + "' '" + tmp_ + "/copy'"), 0);
  const auto src_stats = MountStats().at("sources");
  SCOPED_TRACE(src_stats.dump(2));
  // 768 leaves, 5 inner nodes and the root: block by block would be ~770 requests (the code
  // before made 65-129: the first read's own leaves, and windows that began under an inner
  // node in flight, went one by one).
  EXPECT_LE(src_stats.at("remote_fetches").get<uint64_t>(), 8u);
  EXPECT_GE(src_stats.at("car").at("blocks").get<uint64_t>(), 700u);
}

// The serving node goes away and comes back: what the mount has read stays readable from its
// cache, what it has not gives EIO in bounded time, and once the server is back (same address)
// those reads work again.
TEST_F(ServeMountTest, KeepsWorkingWhenTheServerGoesAwayAndComesBack) {
  const std::string tree = data_ + "/tree";
  std::filesystem::create_directories(tree);
  WriteRandomFile(tree + "/first.bin", 4 << 20, 31);
  WriteRandomFile(tree + "/second.bin", 4 << 20, 32);
  const std::string src = SourceRepo();
  const std::string cli = SrcCli();
  const std::string root = ShOk(cli + "add -Qr '" + tree + "'");
  const std::string url = StartServe(src);
  ASSERT_FALSE(url.empty());
  const std::string listen = url.substr(7);  // "127.0.0.1:PORT"
  Mount("gateway=" + url + ",timeout=5");
  // No listing: a listing of this small tree would bring all of it as one CAR.
  EXPECT_EQ(Sh("cmp '" + mnt_ + "/ipfs/" + root + "/first.bin' '" + tree + "/first.bin'"), 0);

  ASSERT_EQ(::kill(server_pid_, SIGTERM), 0);
  for (int i = 0; i < 100 && ::kill(server_pid_, 0) == 0; i++) std::this_thread::sleep_for(50ms);
  server_pid_ = 0;
  ShOk("echo 3 > /proc/sys/vm/drop_caches || true");
  EXPECT_EQ(Sh("cmp '" + mnt_ + "/ipfs/" + root + "/first.bin' '" + tree + "/first.bin'"), 0) << "cached content lost";
  const auto t0 = std::chrono::steady_clock::now();
  std::string out;
  EXPECT_NE(Sh("timeout 60 cat '" + mnt_ + "/ipfs/" + root + "/second.bin' > /dev/null", &out), 0);
  EXPECT_NE(out.find("Input/output error"), std::string::npos) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);

  ASSERT_EQ(StartServe(src, listen), url);
  // The gateway may be backed off after those failures; it is the only source, so it is asked.
  EXPECT_TRUE(Eventually([&] { return Sh("cmp '" + mnt_ + "/ipfs/" + root + "/second.bin' '" + tree + "/second.bin'") == 0; },
                         30s));
}

// A mount that also serves (-o serve=): another node reads through it what the mount has,
// including a file just written in /mfs, and the mount's stats count the requests.
TEST_F(ServeMountTest, AMountServesWhatItHasWithServeOption) {
  const std::string tree = data_ + "/tree";
  std::filesystem::create_directories(tree + "/sub");
  WriteRandomFile(tree + "/big.bin", 3 << 20, 7);
  std::ofstream(tree + "/sub/a.txt") << "served by a mount\n";
  const std::string cli = "'" + CliBinary() + "' --offline --repo '" + repo_ + "' ";
  const std::string root = ShOk(cli + "add -Qr '" + tree + "'");
  ASSERT_FALSE(root.empty());
  // A free port: bound and released (another process could take it in between; unlikely here).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  Mount("offline,serve=127.0.0.1:" + std::to_string(port));

  std::ofstream(mnt_ + "/mfs/new.txt") << "written in /mfs, read over HTTP\n";
  const std::string mfs_cid = Xattr(mnt_ + "/mfs/new.txt", "user.ipfs.cid");
  ASSERT_EQ(mfs_cid.rfind("error", 0), std::string::npos) << mfs_cid;

  const std::string other = tmp_ + "/other-repo";
  const std::string reader = "'" + CliBinary() + "' --repo '" + other + "' --gateway " + url + " ";
  ShOk(reader + "init");
  EXPECT_EQ(ShOk(reader + "cat /ipfs/" + root + "/sub/a.txt"), "served by a mount");
  ShOk(reader + "get -o '" + tmp_ + "/got' /ipfs/" + root);
  EXPECT_EQ(Sh("diff -r '" + tree + "' '" + tmp_ + "/got'"), 0);
  // The /mfs file's blocks are committed to the repo the gateway reads (within the commit delay).
  std::string body;
  for (int i = 0; i < 60; i++) {
    if (Sh(reader + "cat /ipfs/" + mfs_cid, &body) == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(body, "written in /mfs, read over HTTP\n");
  const std::string stats = ShOk("cat '" + mnt_ + "/.ipfskit/stats'");
  EXPECT_NE(stats.find("\"serve\""), std::string::npos) << stats;
  EXPECT_NE(stats.find("127.0.0.1:" + std::to_string(port)), std::string::npos);
  EXPECT_EQ(stats.find("\"requests\": 0,"), std::string::npos) << stats;
}

// A serve= address that is not loopback, without serve_remote, stops the mount with a clear error.
TEST_F(ServeMountTest, NonLoopbackServeNeedsServeRemote) {
  std::string out;
  EXPECT_NE(Sh("'" + CliBinary() + "' --repo '" + repo_ + "' mount -o offline,serve=0.0.0.0:0 '" + mnt_ + "' 2>&1", &out), 0);
  EXPECT_NE(out.find("serve_remote"), std::string::npos) << out;
}

}  // namespace
}  // namespace ipfskit::testing
