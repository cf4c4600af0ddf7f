// /ipns on a real FUSE mount: names resolved from a loopback delegated-routing server, updates
// seen by new opens while open files keep the old content, our own names as writable trees that
// publish themselves (kill -9 after fsync included), publishing from the CLI while mounted, and
// cached names after every source is gone.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/ipns/record.h"
#include "tests/fakes/fake_ipns_router.h"
#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kSec = 1000000000;

struct TestKey {
  PrivateKey priv = *PrivateKey::Generate(KeyType::kEd25519);
  IpnsName name = IpnsName::FromPublicKey(priv.Public());
  std::string Record(const std::string& value, uint64_t seq, uint64_t ttl_ns = 3600ull * kSec) const {
    IpnsRecordParams p;
    p.value = value;
    p.sequence = seq;
    p.eol = NowUnixNanos() + 3600 * kSec;
    p.ttl_ns = ttl_ns;
    auto r = CreateIpnsRecord(priv, p);
    EXPECT_TRUE(r.ok());
    return std::string(r->begin(), r->end());
  }
};

class IpnsMountTest : public MountFixture {
 protected:
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    MountFixture::TearDown();
  }
  void WriteConfig(const std::string& json) {
    std::ofstream(repo_ + "/config.json") << json;
  }
  void UseRouter(Router& r) {
    WriteConfig(R"({"ipns": {"routers": [")" + r.url() + R"("], "publishers": [")" + r.url() +
                R"("], "timeout_ms": 2000}})");
  }
  // Two directories with a.txt "one" / "two".
  void MakeVersions() {
    ShOk("mkdir -p " + data_ + "/v1 " + data_ + "/v2 && echo one > " + data_ + "/v1/a.txt && echo two > " + data_ +
         "/v2/a.txt && mkdir " + data_ + "/v2/sub && echo deep > " + data_ + "/v2/sub/b.txt");
    v1_ = ShOk(Cli("add -r -Q " + data_ + "/v1"));
    v2_ = ShOk(Cli("add -r -Q " + data_ + "/v2"));
  }
  void MountChild() {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string bin = CliBinary();
      ::execl(bin.c_str(), bin.c_str(), "--repo", repo_.c_str(), "mount", mnt_.c_str(), "-f",
              static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_TRUE(Eventually([&] {
      struct stat st;
      return Mounted() && ::stat((mnt_ + "/ipns").c_str(), &st) == 0;
    })) << "child mount did not come up";
  }
  void KillChild() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    Sh("fusermount3 -u -z '" + mnt_ + "'");
  }
  std::string Resolve(const std::string& name) {
    std::string out;
    Sh(Cli("--offline name resolve " + name), &out);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  std::string v1_, v2_;
  pid_t pid_ = -1;
};

TEST_F(IpnsMountTest, NameShowsItsContentWithXattrsAndNewOpensFollowUpdates) {
  MakeVersions();
  TestKey k;
  Router r;
  // A 200 ms TTL: the mount re-resolves soon after a change.
  r.Set(k.name, k.Record("/ipfs/" + v1_, 1, 200000000));
  UseRouter(r);
  Mount();
  const std::string dir = mnt_ + "/ipns/" + k.name.ToString();
  EXPECT_EQ(ReadFile(dir + "/a.txt"), "one\n");
  EXPECT_EQ(Xattr(dir, "user.ipfs.cid"), v1_);
  EXPECT_EQ(Xattr(dir, "user.ipns.value"), "/ipfs/" + v1_);
  EXPECT_EQ(Xattr(dir, "user.ipns.sequence"), "1");
  EXPECT_EQ(Xattr(dir, "user.ipns.source"), "routing:" + r.url());
  EXPECT_FALSE(Xattr(dir, "user.ipns.validity").empty());
  // Another spelling of the same name works too.
  EXPECT_EQ(ReadFile(mnt_ + "/ipns/" + k.name.ToBase58() + "/a.txt"), "one\n");
  int fd = ::open((dir + "/a.txt").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  r.Set(k.name, k.Record("/ipfs/" + v2_, 2, 200000000));
  EXPECT_TRUE(Eventually([&] { return ReadFile(dir + "/a.txt") == "two\n"; })) << ReadFile(dir + "/a.txt");
  EXPECT_EQ(ReadFile(dir + "/sub/b.txt"), "deep\n");
  EXPECT_EQ(Xattr(dir, "user.ipns.sequence"), "2");
  char buf[16] = {};
  EXPECT_EQ(::pread(fd, buf, sizeof buf, 0), 4);
  EXPECT_STREQ(buf, "one\n");  // the file opened before keeps the old, immutable content
  ::close(fd);
  // ls /ipns shows the name resolved, and our own key ("self" exists in a writable mount).
  std::string ls = ShOk("ls " + mnt_ + "/ipns");
  EXPECT_NE(ls.find(k.name.ToString()), std::string::npos) << ls;
  EXPECT_NE(ls.find("self"), std::string::npos) << ls;
  // Stats count the resolutions.
  auto stats = MountStats();
  EXPECT_GE(stats["ipns"]["resolutions"].value("routing:ok", 0), 2) << stats["ipns"].dump();
  // A name that resolves nowhere is ENOENT, quickly, and the mount is fine.
  TestKey unknown;
  struct stat st;
  EXPECT_NE(::stat((mnt_ + "/ipns/" + unknown.name.ToString()).c_str(), &st), 0);
  EXPECT_EQ(ReadFile(dir + "/a.txt"), "two\n");
}

TEST_F(IpnsMountTest, CachedNamesWorkOfflineAfterEverySourceIsGone) {
  MakeVersions();
  TestKey k;
  {
    Router r;
    r.Set(k.name, k.Record("/ipfs/" + v2_, 7));
    UseRouter(r);
    Mount();
    EXPECT_EQ(ReadFile(mnt_ + "/ipns/" + k.name.ToString() + "/a.txt"), "two\n");
    Unmount();
  }  // the router is gone
  Mount("offline");
  EXPECT_EQ(ReadFile(mnt_ + "/ipns/" + k.name.ToString() + "/sub/b.txt"), "deep\n");
  Unmount();
  Mount();  // online, but the router refuses connections: the cached record still answers
  EXPECT_EQ(ReadFile(mnt_ + "/ipns/" + k.name.ToString() + "/a.txt"), "two\n");
}

TEST_F(IpnsMountTest, OwnNameIsAWritableTreeThatPublishesItself) {
  Router r;
  UseRouter(r);
  std::string id = ShOk(Cli("key gen site"));
  ASSERT_EQ(id.rfind("k51", 0), 0u) << id;
  Mount();
  char link[256] = {};
  ASSERT_GT(::readlink((mnt_ + "/ipns/site").c_str(), link, sizeof link - 1), 0);
  EXPECT_EQ(std::string(link), id);
  const std::string site = mnt_ + "/ipns/site";
  ShOk("mkdir -p " + site + "/docs && echo hello > " + site + "/docs/index.html && sync " + site + "/docs/index.html");
  int fd = ::open((site + "/docs/index.html").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  const std::string root = mnt_ + "/ipns/" + id;
  // The published record (pushed to the publisher, and in the repo for the CLI) follows the tree.
  ASSERT_TRUE(Eventually([&] { return Resolve(id) == "/ipfs/" + Xattr(root, "user.ipfs.cid"); }))
      << Resolve(id) << " vs " << Xattr(root, "user.ipfs.cid");
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lk(r.mu);
    auto it = r.records.find(id);
    if (it == r.records.end()) return false;
    auto rec = ValidateIpnsRecord(AsBytes(it->second), *IpnsName::Parse(id), NowUnixNanos());
    return rec.ok() && rec->value == "/ipfs/" + Xattr(root, "user.ipfs.cid");
  }));
  EXPECT_EQ(ShOk(Cli("--offline cat /ipns/" + id + "/docs/index.html")), "hello");
  // Changes publish again with the next sequence, debounced.
  ShOk("echo more > " + site + "/docs/more.html");
  ASSERT_TRUE(Eventually([&] { return Resolve(id) == "/ipfs/" + Xattr(root, "user.ipfs.cid"); }));
  auto info = nlohmann::json::parse(ShOk(Cli("--offline name get " + id + " | " + CliBinary() + " --json name inspect")));
  EXPECT_GE(info["Entry"]["Sequence"].get<uint64_t>(), 1u);
  Unmount();
  // After a remount the tree is the same.
  Mount();
  EXPECT_EQ(ReadFile(site + "/docs/more.html"), "more\n");
}

TEST_F(IpnsMountTest, KillNineAfterFsyncIsPublishedOnRestart) {
  WriteConfig(R"({"ipns": {"timeout_ms": 1000}})");
  std::string id = ShOk(Cli("key gen site"));
  MountChild();
  const std::string root = mnt_ + "/ipns/" + id;
  WriteRandomFile(data_ + "/big", 3000000, 9);
  ShOk("dd if=" + data_ + "/big of=" + root + "/big bs=1M conv=fsync status=none");
  KillChild();  // at once: the publisher's debounce has not run
  MountChild();
  ShOk("cmp " + data_ + "/big " + root + "/big");
  std::string cid = Xattr(root, "user.ipfs.cid");
  EXPECT_TRUE(Eventually([&] { return Resolve(id) == "/ipfs/" + cid; })) << Resolve(id) << " vs " << cid;
  EXPECT_EQ(ShOk(Cli("--offline cat /ipns/" + id + "/big | cmp - " + data_ + "/big && echo same")), "same");
}

TEST_F(IpnsMountTest, PublishFromTheCliWhileMounted) {
  MakeVersions();
  WriteConfig(R"({"ipns": {"timeout_ms": 1000}})");
  std::string id = ShOk(Cli("key gen site"));
  Mount();
  const std::string root = mnt_ + "/ipns/" + id;
  ShOk("echo local > " + root + "/local.txt");
  ASSERT_TRUE(Eventually([&] { return Resolve(id) == "/ipfs/" + Xattr(root, "user.ipfs.cid"); }));
  // Kubo refuses this while /ipns is mounted (kubo#964); here it works and the mount follows.
  EXPECT_EQ(ShOk(Cli("name publish --allow-offline --key site /ipfs/" + v2_)), "Published to " + id + ": /ipfs/" + v2_);
  EXPECT_TRUE(Eventually([&] { return ReadFile(root + "/a.txt") == "two\n"; }));
  std::this_thread::sleep_for(2500ms);  // the mount's publisher must not put its old tree back
  EXPECT_EQ(Resolve(id), "/ipfs/" + v2_);
  EXPECT_EQ(ReadFile(root + "/sub/b.txt"), "deep\n");
}

}  // namespace
}  // namespace ipfskit::testing
