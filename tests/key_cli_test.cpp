// `ipfskit key …` as a user meets it: Kubo's output, the keystore files, export/import round
// trips in both formats, and the exported keys read by the openssl tool and by @libp2p/crypto.
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/ipns/name.h"
#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fs = std::filesystem;
using KeyCliTest = MountFixture;  // a fresh repo per test; nothing is mounted

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

unsigned Mode(const std::string& p) {
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// The one-line "Error: …" and a non-zero exit.
std::string CliError(const std::string& cmd) {
  std::string out;
  EXPECT_NE(Sh(cmd + " 2>&1 >/dev/null", &out), 0) << cmd;
  EXPECT_EQ(out.rfind("Error: ", 0), 0u) << cmd << ": " << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << cmd << ": " << out;
  return out;
}

TEST_F(KeyCliTest, GenListRenameRemove) {
  std::string ed = ShOk(Cli("key gen web"));
  std::string rsa = ShOk(Cli("key gen --type rsa --size 2048 big"));
  auto secp = nlohmann::json::parse(ShOk(Cli("--json key gen -t secp256k1 k1")));
  EXPECT_TRUE(ed.starts_with("k51qzi5uqu5")) << ed;
  EXPECT_TRUE(rsa.starts_with("k2k4r8")) << rsa;
  EXPECT_EQ(secp["Name"], "k1");
  std::string secp_id = secp["Id"];
  EXPECT_TRUE(secp_id.starts_with("kzwfwjn5ji4")) << secp_id;
  for (const std::string& id : {ed, rsa, secp_id}) EXPECT_TRUE(IpnsName::Parse(id).ok()) << id;

  // Kubo's file layout: key_<base32 of the name>, 0600, in a 0700 keystore.
  EXPECT_EQ(Mode(repo_ + "/keystore"), 0700u);
  EXPECT_EQ(Mode(repo_ + "/keystore/key_o5swe"), 0600u);  // "web"

  // list makes self on first use and shows it first.
  EXPECT_EQ(ShOk(Cli("key list")), "self\nbig\nk1\nweb");
  auto lines = Lines(ShOk(Cli("key list -l")));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].starts_with("k51qzi5uqu5")) << lines[0];
  EXPECT_TRUE(lines[0].ends_with(" self"));
  EXPECT_EQ(lines[3].substr(0, ed.size()), ed);
  EXPECT_TRUE(lines[3].ends_with(" web"));
  auto j = nlohmann::json::parse(ShOk(Cli("key ls --json")));
  ASSERT_EQ(j["Keys"].size(), 4u);
  EXPECT_EQ(j["Keys"][0]["Name"], "self");
  EXPECT_EQ(j["Keys"][1]["Name"], "big");
  EXPECT_EQ(j["Keys"][1]["Id"], rsa);
  std::string self_id = j["Keys"][0]["Id"];
  EXPECT_EQ(nlohmann::json::parse(ShOk(Cli("key list --json")))["Keys"][0]["Id"], self_id);  // stable

  EXPECT_EQ(ShOk(Cli("key rename web blog")), "Key " + ed + " renamed to blog");
  CliError(Cli("key rename blog big"));
  EXPECT_EQ(ShOk(Cli("key rename -f blog big")), "Key " + ed + " renamed to big with overwriting");
  EXPECT_EQ(ShOk(Cli("key list")), "self\nbig\nk1");
  EXPECT_EQ(nlohmann::json::parse(ShOk(Cli("--json key list")))["Keys"][1]["Id"], ed);

  CliError(Cli("key gen big"));
  CliError(Cli("key gen self"));
  CliError(Cli("key gen -t dsa x"));
  CliError(Cli("key gen -t rsa -s 1024 x"));
  CliError(Cli("key gen a/b"));
  CliError(Cli("key gen .hidden"));
  CliError(Cli("key rm self"));
  CliError(Cli("key rename self x"));
  CliError(Cli("key rm k1 nope"));
  EXPECT_EQ(ShOk(Cli("key list")), "self\nbig\nk1");  // nothing removed by the failed rm
  EXPECT_EQ(ShOk(Cli("key rm k1 big")), "k1\nbig");
  EXPECT_EQ(ShOk(Cli("key list")), "self");
  // No repo: the usual error.
  CliError("'" + CliBinary() + "' --repo '" + tmp_ + "/none' key list");
}

TEST_F(KeyCliTest, ExportImportBothFormatsReadByOpensslAndJs) {
  for (const char* type : {"ed25519", "secp256k1", "rsa"}) {
    SCOPED_TRACE(type);
    std::string name = std::string("k-") + type;
    std::string id = ShOk(Cli("key gen -t " + std::string(type) + " " + name));
    fs::create_directories(data_ + "/" + type);
    std::string dir = data_ + "/" + type;
    // Default file names as Kubo: <name>.key and <name>.pem in the working directory.
    ShOk("cd '" + dir + "' && " + Cli("key export " + name));
    ShOk("cd '" + dir + "' && " + Cli("key export -f pem-pkcs8-cleartext " + name));
    std::string key_file = dir + "/" + name + ".key", pem_file = dir + "/" + name + ".pem";
    ASSERT_TRUE(fs::exists(key_file));
    ASSERT_TRUE(fs::exists(pem_file));
    EXPECT_EQ(Mode(key_file), 0600u);
    EXPECT_EQ(Mode(pem_file), 0600u);
    // -o - is stdout; the protobuf is the keystore file itself.
    ShOk(Cli("key export " + name + " -o - > '" + dir + "/stdout.key'"));
    EXPECT_EQ(ReadFile(dir + "/stdout.key"), ReadFile(key_file));
    EXPECT_TRUE(ReadFile(pem_file).starts_with("-----BEGIN PRIVATE KEY-----\n"));

    // openssl reads the PEM; its public key is the one in the name.
    std::string out;
    ASSERT_EQ(Sh("openssl pkey -in '" + pem_file + "' -noout -text", &out), 0) << out;
    if (std::string(type) == "secp256k1") {
      EXPECT_NE(out.find("secp256k1"), std::string::npos) << out;
    }
    if (std::string(type) == "ed25519") {
      std::string der = dir + "/pub.der";
      ShOk("openssl pkey -in '" + pem_file + "' -pubout -outform DER -out '" + der + "'");
      std::string spki = ReadFile(der);
      auto n = IpnsName::Parse(id);
      ASSERT_TRUE(n.ok());
      Bytes pb = n->InlinedKey()->ToProtobuf();
      EXPECT_EQ(spki.substr(spki.size() - 32), std::string(AsChars(ByteView(pb).subspan(pb.size() - 32))));
    }
    // @libp2p/crypto reads the protobuf export and names it the same.
    out.clear();
    ASSERT_EQ(Sh("cd '" + SourceDir() + "/tests/js' && node ipns.mjs name '" + key_file + "'", &out), 0) << out;
    EXPECT_EQ(out, id + "\n");

    // Import both back under new names: the same id.
    EXPECT_EQ(ShOk(Cli("key import " + name + "-pb '" + key_file + "'")), id);
    EXPECT_EQ(ShOk(Cli("key import -f pem-pkcs8-cleartext " + name + "-pem '" + pem_file + "'")), id);
    auto j = nlohmann::json::parse(ShOk("cat '" + key_file + "' | " + Cli("--json key import " + name + "-stdin -")));
    EXPECT_EQ(j["Id"], id);
    EXPECT_EQ(j["Name"], name + "-stdin");
    // PEM fed as protobuf: the hint (ipfs-docs#746).
    std::string err = CliError(Cli("key import " + name + "-x '" + pem_file + "'"));
    EXPECT_NE(err.find("pem-pkcs8-cleartext"), std::string::npos) << err;
    CliError(Cli("key import " + name + "-pb '" + key_file + "'"));  // taken
    CliError(Cli("key import self '" + key_file + "'"));
    CliError(Cli("key export " + name + " -f pem"));
  }
  // A key generated by the openssl tool imports too.
  ShOk("openssl genpkey -algorithm ed25519 -out '" + data_ + "/o.pem'");
  std::string id = ShOk(Cli("key import -f pem-pkcs8-cleartext ossl '" + data_ + "/o.pem'"));
  EXPECT_TRUE(id.starts_with("k51qzi5uqu5")) << id;
  // self exports (made on first use) and garbage does not import.
  ShOk(Cli("key export self -o '" + data_ + "/self.key'"));
  EXPECT_EQ(ShOk(Cli("key import self2 '" + data_ + "/self.key'")),
            std::string(nlohmann::json::parse(ShOk(Cli("--json key list")))["Keys"][0]["Id"]));
  ShOk("echo garbage > '" + data_ + "/g.key'");
  CliError(Cli("key import g '" + data_ + "/g.key'"));
  CliError(Cli("key import -f pem-pkcs8-cleartext g '" + data_ + "/g.key'"));
  CliError(Cli("key import g '" + data_ + "/missing.key'"));
}

}  // namespace
}  // namespace ipfskit::testing
