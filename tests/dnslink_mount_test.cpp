// DNSLink on a real FUSE mount: /ipns/<domain> resolved through a dnsmasq on loopback named in
// the repo's config (dns.resolvers), its xattrs, a zone change seen by new opens after the TTL,
// and `ipfskit name resolve <domain>` from the CLI beside the mount.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "tests/fakes/dnsmasq.h"
#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

using namespace std::chrono_literals;

class DnslinkMountTest : public MountFixture {
 protected:
  void WriteConfig(const std::string& json) { std::ofstream(repo_ + "/config.json") << json; }
  // Two directories with a.txt "one" / "two", the second with sub/b.txt.
  void MakeVersions() {
    ShOk("mkdir -p " + data_ + "/v1 " + data_ + "/v2/sub && echo one > " + data_ + "/v1/a.txt && echo two > " +
         data_ + "/v2/a.txt && echo deep > " + data_ + "/v2/sub/b.txt");
    v1_ = ShOk(Cli("add -r -Q " + data_ + "/v1"));
    v2_ = ShOk(Cli("add -r -Q " + data_ + "/v2"));
    ASSERT_FALSE(v1_.empty());
    ASSERT_NE(v1_, v2_);
  }
  std::string v1_, v2_;
};

TEST_F(DnslinkMountTest, DomainShowsItsContentWithXattrsAndFollowsAZoneChange) {
  MakeVersions();
  Dnsmasq dns({"_dnslink.site.test,dnslink=/ipfs/" + v1_}, 1);
  WriteConfig(R"({"dns": {"resolvers": {".": ")" + dns.spec() + R"("}, "timeout_ms": 1000}})");
  Mount();
  const std::string dir = mnt_ + "/ipns/site.test";
  EXPECT_EQ(ShOk("cat " + dir + "/a.txt"), "one");
  EXPECT_EQ(ShOk("cmp " + data_ + "/v1/a.txt " + dir + "/a.txt && echo same"), "same");
  EXPECT_EQ(ShOk("getfattr --absolute-names --only-values -n user.ipns.value " + dir), "/ipfs/" + v1_);
  EXPECT_EQ(Xattr(dir, "user.ipns.path"), "/ipfs/" + v1_);
  // From dnsmasq, or (once the kernel looked the name up again) from the cache, which says DNS.
  std::string source = Xattr(dir, "user.ipns.source");
  EXPECT_TRUE(source == "dns:" + dns.spec() || source.rfind("cache:dns", 0) == 0) << source;
  EXPECT_EQ(Xattr(dir, "user.ipfs.cid"), v1_);
  EXPECT_EQ(Xattr(dir, "user.ipns.sequence").rfind("error: ", 0), 0u);  // a DNSLink has none
  // The CLI beside the mount resolves it too (the shared cache, or dnsmasq).
  EXPECT_EQ(ShOk(Cli("name resolve site.test")), "/ipfs/" + v1_);
  EXPECT_EQ(ShOk(Cli("name resolve /ipns/site.test/a.txt")), "/ipfs/" + v1_ + "/a.txt");
  // ls /ipns lists the domain resolved.
  std::string ls = ShOk("ls " + mnt_ + "/ipns");
  EXPECT_NE(ls.find("site.test"), std::string::npos) << ls;

  // Zone change: dnsmasq restarted on the same port with a new record. After the 1 s TTL, a new
  // open sees the new content within a few seconds.
  dns.Stop();
  dns.Start({"_dnslink.site.test,dnslink=/ipfs/" + v2_}, 1);
  EXPECT_TRUE(Eventually([&] { return ReadFile(dir + "/a.txt") == "two\n"; }, 8s)) << ReadFile(dir + "/a.txt");
  EXPECT_EQ(ReadFile(dir + "/sub/b.txt"), "deep\n");
  EXPECT_TRUE(Eventually([&] { return Xattr(dir, "user.ipns.value") == "/ipfs/" + v2_; }, 5s))
      << Xattr(dir, "user.ipns.value");
  EXPECT_TRUE(Eventually([&] {
    std::string out;
    return Sh(Cli("name resolve site.test"), &out) == 0 && out == "/ipfs/" + v2_ + "\n";
  }, 5s));

  // A domain without DNSLink is ENOENT, and the mount is fine.
  struct stat st;
  EXPECT_NE(::stat((mnt_ + "/ipns/missing.test").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(ReadFile(dir + "/a.txt"), "two\n");
}

}  // namespace
}  // namespace ipfskit::testing
