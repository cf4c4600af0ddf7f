// A second node reads through `ipfskit serve`: a mount over an empty repo whose only source is
// the first node's gateway copies a tree with `cp -r`, byte-exact. Loopback only.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

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
  std::string StartServe(const std::string& repo) {
    const std::string out = tmp_ + "/serve.out", pidf = tmp_ + "/serve.pid";
    ShOk("('" + CliBinary() + "' --offline --repo '" + repo + "' serve --listen 127.0.0.1:0 > '" + out +
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

  pid_t server_pid_ = 0;
};

TEST_F(ServeMountTest, CopiesATreeThroughAnotherNodesGateway) {
  // The first node: a tree with a multi-MiB file, small files and a subdirectory.
  const std::string tree = data_ + "/tree";
  std::filesystem::create_directories(tree + "/sub/deeper");
  WriteRandomFile(tree + "/big.bin", 5 << 20, 1);
  WriteRandomFile(tree + "/sub/medium.bin", 700 << 10, 2);
  for (int i = 0; i < 40; i++) std::ofstream(tree + "/sub/deeper/f" + std::to_string(i) + ".txt") << "file " << i << "\n";
  const std::string src = tmp_ + "/src-repo";
  const std::string cli = "'" + CliBinary() + "' --offline --repo '" + src + "' ";
  ShOk(cli + "init");
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

}  // namespace
}  // namespace ipfskit::testing
