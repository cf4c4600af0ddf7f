// IPNS records written by another implementation, the npm `ipns` package (js-ipns, through
// tests/js/ipns.mjs), for Ed25519, RSA and secp256k1 keys: served by a loopback delegated-routing
// server and read through a real mount under every spelling of the name, forged ones refused; and
// at the CLI, records we publish validated by js-ipns and moved between repos with name get/put.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/ipns/name.h"
#include "core/ipns/record.h"
#include "tests/fakes/fake_ipns_router.h"
#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

const char* const kTypes[] = {"ed25519", "rsa", "secp256k1"};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A record made by js-ipns: its files (record, key.pb, name) and what it says.
struct JsRecord {
  std::string dir, name, raw;
  IpnsName id;
};

class IpnsJsMountTest : public MountFixture {
 protected:
  // Runs tests/js/ipns.mjs; stdout (and stderr, for the failure message) in *out.
  static int Js(const std::string& args, std::string* out) {
    return RunCommand("cd '" + SourceDir() + "/tests/js' && node ipns.mjs " + args + " 2>&1", out);
  }
  // `node ipns.mjs make TYPE VALUE SEQ` with a 60 s TTL and a 1 h lifetime, into data_/<label>.
  JsRecord JsMake(const std::string& type, const std::string& value, uint64_t seq, const std::string& label) {
    JsRecord r;
    r.dir = data_ + "/js-" + label;
    std::string out;
    EXPECT_EQ(Js("make " + type + " " + value + " " + std::to_string(seq) + " 60000000000 3600000 '" + r.dir + "'", &out), 0)
        << out;
    r.name = Trim(ReadFile(r.dir + "/name"));
    r.raw = ReadFile(r.dir + "/record");
    EXPECT_FALSE(r.raw.empty()) << label;
    auto id = IpnsName::Parse(r.name);
    EXPECT_TRUE(id.ok()) << r.name;
    if (id.ok()) r.id = *id;
    return r;
  }
  // js-ipns's verdict on a record file for `name`: the JSON line it prints, or nullopt when it
  // refuses the record.
  static std::optional<nlohmann::json> JsValidate(const std::string& name, const std::string& file) {
    std::string out;
    if (Js("validate " + name + " '" + file + "'", &out) != 0) return std::nullopt;
    return nlohmann::json::parse(out);
  }
  void UseRouter(Router& r) {
    std::ofstream(repo_ + "/config.json") << R"({"ipns": {"routers": [")" + r.url() +
                                                 R"("], "timeout_ms": 2000}})";
  }
  // A directory with file "hello from js-ipns\n" and sub/deep.txt, added to `repo`.
  std::string AddSite(const std::string& repo) {
    ShOk("mkdir -p " + data_ + "/site/sub && printf 'hello from js-ipns\\n' > " + data_ +
         "/site/file && printf deep > " + data_ + "/site/sub/deep.txt");
    return ShOk("'" + CliBinary() + "' --repo '" + repo + "' add -r -Q " + data_ + "/site");
  }
  // /ipns/<name> in the mount must not resolve: ENOENT or EIO, never content.
  void ExpectRefused(const std::string& spelled) {
    SCOPED_TRACE(spelled);
    const std::string dir = mnt_ + "/ipns/" + spelled;
    struct stat st;
    errno = 0;
    EXPECT_NE(::stat(dir.c_str(), &st), 0);
    EXPECT_TRUE(errno == ENOENT || errno == EIO) << std::strerror(errno);
    errno = 0;
    EXPECT_NE(::stat((dir + "/file").c_str(), &st), 0);
    EXPECT_TRUE(errno == ENOENT || errno == EIO) << std::strerror(errno);
    EXPECT_EQ(ReadFile(dir + "/file"), "");
  }
};

TEST_F(IpnsJsMountTest, JsRecordsOfEveryKeyTypeServeTheirContentForgedOnesNothing) {
  const std::string cid = AddSite(repo_);
  ASSERT_FALSE(cid.empty());
  const std::string value = "/ipfs/" + cid;
  Router r;
  struct Case {
    std::string type;
    JsRecord good, forged, other;
    uint64_t seq;
  };
  std::vector<Case> cases;
  uint64_t seq = 40;
  for (const char* type : kTypes) {
    SCOPED_TRACE(type);
    Case c;
    c.type = type;
    c.seq = ++seq;
    c.good = JsMake(type, value, c.seq, std::string(type) + "-good");
    r.Set(c.good.id, c.good.raw);
    // A record of its own key with one signatureV2 byte flipped: js-ipns refuses it too.
    c.forged = JsMake(type, value, c.seq, std::string(type) + "-forged");
    auto parsed = ParseIpnsRecord(AsBytes(c.forged.raw));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const Bytes& sig = parsed->signature_v2;
    ASSERT_FALSE(sig.empty());
    auto at = std::search(c.forged.raw.begin(), c.forged.raw.end(), sig.begin(), sig.end(),
                          [](char a, uint8_t b) { return static_cast<uint8_t>(a) == b; });
    ASSERT_NE(at, c.forged.raw.end());
    at[static_cast<ptrdiff_t>(sig.size() / 2)] ^= 0x10;
    std::ofstream(c.forged.dir + "/forged", std::ios::binary) << c.forged.raw;
    EXPECT_FALSE(JsValidate(c.forged.name, c.forged.dir + "/forged"));
    r.Set(c.forged.id, c.forged.raw);
    // A valid js record of the good key, served under the name of another key of the same type.
    c.other = JsMake(type, "/ipfs/bafkqaddwgevxmmraojswg33smq", 1, std::string(type) + "-other");
    EXPECT_FALSE(JsValidate(c.other.name, c.good.dir + "/record"));
    r.Set(c.other.id, c.good.raw);
    cases.push_back(std::move(c));
  }
  ASSERT_EQ(cases.size(), 3u);
  UseRouter(r);
  Mount();

  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    auto js = JsValidate(c.good.name, c.good.dir + "/record");
    ASSERT_TRUE(js) << "js-ipns refuses its own record";
    std::string base58;
    ASSERT_EQ(Js("peerid " + c.good.name, &base58), 0) << base58;
    base58 = Trim(base58);
    EXPECT_EQ(base58, c.good.id.ToBase58());  // our base58 spelling is js's
    EXPECT_EQ(c.good.id.ToString(), c.good.name);
    for (const std::string& spelled : {c.good.name, base58}) {
      SCOPED_TRACE(spelled);
      const std::string dir = mnt_ + "/ipns/" + spelled;
      EXPECT_EQ(ReadFile(dir + "/file"), "hello from js-ipns\n");
      EXPECT_EQ(ReadFile(dir + "/sub/deep.txt"), "deep");
      EXPECT_EQ(Xattr(dir, "user.ipfs.cid"), cid);
      EXPECT_EQ(Xattr(dir, "user.ipns.value"), (*js)["value"].get<std::string>());
      EXPECT_EQ(Xattr(dir, "user.ipns.value"), value);
      EXPECT_EQ(Xattr(dir, "user.ipns.sequence"), (*js)["sequence"].get<std::string>());
      EXPECT_EQ(Xattr(dir, "user.ipns.sequence"), std::to_string(c.seq));
      EXPECT_EQ(Xattr(dir, "user.ipns.validity"), (*js)["validity"].get<std::string>());
      // From the router: at first directly, later through the cache ("cache:routing:URL").
      const std::string source = Xattr(dir, "user.ipns.source");
      EXPECT_TRUE(source == "routing:" + r.url() || source == "cache:routing:" + r.url()) << source;
    }
    ExpectRefused(c.forged.name);
    ExpectRefused(c.forged.id.ToBase58());
    ExpectRefused(c.other.name);
    ExpectRefused(c.other.id.ToBase58());
  }
  // The router was asked and its records were refused for what they are, not for want of an
  // answer.
  auto stats = MountStats();
  const auto& rejected = stats["ipns"]["rejected"];
  EXPECT_GE(rejected.value("bad_signature", 0) + rejected.value("wrong_name", 0), 6) << stats["ipns"].dump();
  EXPECT_GE(rejected.value("bad_signature", 0), 3) << stats["ipns"].dump();
  // The mount is fine afterwards, and the refused names are not listed.
  std::string ls = ShOk("ls " + mnt_ + "/ipns");
  for (const Case& c : cases) {
    EXPECT_NE(ls.find(c.good.name), std::string::npos) << ls;
    EXPECT_EQ(ls.find(c.forged.name), std::string::npos) << ls;
    EXPECT_EQ(ls.find(c.other.name), std::string::npos) << ls;
    EXPECT_EQ(ReadFile(mnt_ + "/ipns/" + c.good.name + "/file"), "hello from js-ipns\n");
  }
}

// No mount: the CLI's records against js-ipns, and records moved between repos.
using IpnsJsCliTest = IpnsJsMountTest;

TEST_F(IpnsJsCliTest, PublishedRecordsValidateWithJsAndMoveBetweenReposWithGetAndPut) {
  const std::string repo2 = tmp_ + "/repo2";
  ShOk("'" + CliBinary() + "' --repo '" + repo2 + "' init");
  auto cli2 = [&](const std::string& args) { return "'" + CliBinary() + "' --repo '" + repo2 + "' " + args; };
  const std::string cid = AddSite(repo_);
  ASSERT_FALSE(cid.empty());
  // A second value, so the sequence moves past its first one.
  const std::string first = ShOk(Cli("add -Q " + data_ + "/site/sub/deep.txt"));
  for (const char* type : kTypes) {
    SCOPED_TRACE(type);
    const std::string key = std::string("k-") + type;
    std::string id = ShOk(Cli(std::string("key gen --type ") + type + " " + key));
    ASSERT_TRUE(IpnsName::Parse(id).ok()) << id;
    ShOk(Cli("name publish --allow-offline --key " + key + " /ipfs/" + first));
    auto pub = nlohmann::json::parse(ShOk(Cli("--json name publish --allow-offline --key " + key + " /ipfs/" + cid)));
    EXPECT_EQ(pub["Name"], id);
    EXPECT_EQ(pub["Value"], "/ipfs/" + cid);
    const uint64_t seq = pub["Sequence"].get<uint64_t>();
    EXPECT_GE(seq, 1u);

    const std::string rec = data_ + "/rec-" + type;
    ShOk(Cli("--offline name get " + id) + " > '" + rec + "'");
    auto js = JsValidate(id, rec);
    ASSERT_TRUE(js) << "js-ipns refuses our " << type << " record";
    EXPECT_EQ((*js)["value"], "/ipfs/" + cid);
    EXPECT_EQ((*js)["sequence"], std::to_string(seq));
    // And for another name it refuses it.
    std::string other = ShOk(Cli(std::string("key gen --type ") + type + " other-" + type));
    EXPECT_FALSE(JsValidate(other, rec));

    auto ins = nlohmann::json::parse(ShOk(Cli("name inspect --verify " + id + " '" + rec + "' --json")));
    EXPECT_EQ(ins["Validation"]["Valid"], true) << ins.dump();
    EXPECT_EQ(ins["Validation"]["Name"], id);
    EXPECT_EQ(ins["Entry"]["Value"], "/ipfs/" + cid);
    EXPECT_EQ(ins["Entry"]["Sequence"], seq);
    EXPECT_EQ(ins["Entry"]["Validity"], (*js)["validity"]);
    auto wrong = nlohmann::json::parse(ShOk(Cli("name inspect --verify " + other + " '" + rec + "' --json") + " || true"));
    EXPECT_EQ(wrong["Validation"]["Valid"], false) << wrong.dump();

    EXPECT_EQ(ShOk(cli2("name put " + id + " '" + rec + "'")), "Stored record for " + id + ": /ipfs/" + cid);
    EXPECT_EQ(ShOk(cli2("--offline name resolve " + id)), "/ipfs/" + cid);
    EXPECT_EQ(ShOk(cli2("--offline name resolve " + IpnsName::Parse(id)->ToBase58())), "/ipfs/" + cid);
    // The same bytes come back out.
    ShOk(cli2("--offline name get " + id) + " > '" + rec + ".2'");
    EXPECT_EQ(ReadFile(rec + ".2"), ReadFile(rec));
    // A record for another name is refused by put.
    std::string out;
    EXPECT_NE(Sh(cli2("name put " + other + " '" + rec + "'"), &out), 0) << out;
    EXPECT_NE(Sh(cli2("--offline name resolve " + other), &out), 0) << out;
  }

  // Records from js-ipns, imported with name put, work the same.
  uint64_t seq = 100;
  for (const char* type : kTypes) {
    SCOPED_TRACE(type);
    JsRecord j = JsMake(type, "/ipfs/" + cid, ++seq, std::string("import-") + type);
    const std::string file = j.dir + "/record";
    auto ins = nlohmann::json::parse(ShOk(Cli("--json name inspect --verify " + j.name + " '" + file + "'")));
    EXPECT_EQ(ins["Validation"]["Valid"], true) << ins.dump();
    EXPECT_EQ(ins["Entry"]["Sequence"], seq);
    EXPECT_EQ(ShOk(Cli("name put " + j.name + " '" + file + "'")), "Stored record for " + j.name + ": /ipfs/" + cid);
    EXPECT_EQ(ShOk(Cli("--offline name resolve " + j.name)), "/ipfs/" + cid);
    EXPECT_EQ(ShOk(Cli("--offline name resolve " + j.id.ToBase58())), "/ipfs/" + cid);
    EXPECT_EQ(ShOk(Cli("--offline cat /ipns/" + j.name + "/file")), "hello from js-ipns");
    const std::string back = j.dir + "/back";
    ShOk(Cli("--offline name get " + j.name) + " > '" + back + "'");
    EXPECT_EQ(ReadFile(back), j.raw);
    // And from there into the second repo.
    EXPECT_EQ(ShOk(cli2("name put " + j.name + " '" + back + "'")), "Stored record for " + j.name + ": /ipfs/" + cid);
    EXPECT_EQ(ShOk(cli2("--offline name resolve " + j.name)), "/ipfs/" + cid);
    // A forged copy is refused and leaves the held record alone.
    std::string forged = j.raw;
    auto parsed = ParseIpnsRecord(AsBytes(j.raw));
    ASSERT_TRUE(parsed.ok());
    const Bytes& sig = parsed->signature_v2;
    auto at = std::search(forged.begin(), forged.end(), sig.begin(), sig.end(),
                          [](char a, uint8_t b) { return static_cast<uint8_t>(a) == b; });
    ASSERT_NE(at, forged.end());
    at[static_cast<ptrdiff_t>(sig.size() / 2)] ^= 0x10;
    std::ofstream(j.dir + "/forged", std::ios::binary) << forged;
    std::string out;
    EXPECT_NE(Sh(Cli("name put --force " + j.name + " '" + j.dir + "/forged'"), &out), 0) << out;
    EXPECT_EQ(ShOk(Cli("--offline name resolve " + j.name)), "/ipfs/" + cid);
  }
}

}  // namespace
}  // namespace ipfskit::testing
