// The ipfskit command line as a user meets it: Kubo-style output, one-line errors with a
// non-zero exit, get that never leaves a half-written file, CAR round trips, pins and GC.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/mount_fixture.h"

namespace ipfskit::testing {
namespace {

namespace fs = std::filesystem;
using CliTest = MountFixture;  // a fresh repo per test; nothing is mounted here

TEST_F(CliTest, AddPrintsKuboLines) {
  fs::create_directories(data_ + "/d/sub");
  std::ofstream(data_ + "/d/a.txt") << "a\n";
  std::ofstream(data_ + "/d/sub/b.txt") << "b\n";
  std::string out = ShOk("cd '" + data_ + "' && " + Cli("add -r d"));
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 4u) << out;
  EXPECT_EQ(lines[0].substr(0, 6), "added ");
  EXPECT_NE(lines[0].find(" d/a.txt"), std::string::npos);
  EXPECT_NE(lines[1].find(" d/sub/b.txt"), std::string::npos);
  EXPECT_NE(lines[2].find(" d/sub"), std::string::npos);
  EXPECT_EQ(lines[3].substr(lines[3].size() - 2), " d");
  std::string root = ShOk("cd '" + data_ + "' && " + Cli("add -Qr d"));
  EXPECT_EQ(lines[3], "added " + root + " d");
  // stdin: the name is the CID, as Kubo prints it.
  EXPECT_EQ(ShOk("echo hello | " + Cli("add")),
            "added QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN");
  auto j = nlohmann::json::parse(ShOk("echo hello | " + Cli("--json add")));
  EXPECT_EQ(j["Hash"], "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN");
  EXPECT_EQ(ShOk("echo hello | " + Cli("add -Q --cid-version 1")),
            "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am");
  EXPECT_EQ(ShOk(Cli("cat " + root + "/sub/b.txt")), "b");
}

TEST_F(CliTest, ErrorsAreOneLineWithNonZeroExit) {
  std::string out;
  for (const std::string& args : {std::string("cat notacid"), std::string("cat bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"),
                                  std::string("add --chunker rabin " + data_), std::string("add /nonexistent/file"),
                                  std::string("add --cid-version 7 " + data_), std::string("ls QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"),
                                  std::string("block get Qm1234"), std::string("dag import /nonexistent.car")}) {
    out.clear();
    EXPECT_NE(Sh(Cli("--offline " + args) + " 2>&1 >/dev/null", &out), 0) << args;
    EXPECT_EQ(out.rfind("Error: ", 0), 0u) << args << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << args << ": " << out;
  }
  // A wrong flag is CLI11's usage error, also non-zero.
  EXPECT_NE(Sh(Cli("add --no-such-flag x"), &out), 0);
}

TEST_F(CliTest, GetIsAtomicAndCarRoundTrips) {
  WriteRandomFile(data_ + "/f", 3 * 1024, 1);
  std::string cid = ShOk(Cli("add -Q --chunker size-1024 '" + data_ + "/f'"));
  ShOk(Cli("get " + cid + " -o '" + tmp_ + "/out'"));
  ShOk("cmp '" + data_ + "/f' '" + tmp_ + "/out'");
  // Export, import into a fresh repo, read back.
  ShOk(Cli("dag export " + cid) + " > '" + tmp_ + "/f.car'");
  std::string other = "'" + CliBinary() + "' --repo '" + tmp_ + "/repo2' --offline ";
  EXPECT_EQ(ShOk(other + "dag import '" + tmp_ + "/f.car'"), "Pinned root " + cid + " success");
  EXPECT_EQ(ShOk(other + "cat " + cid + " | md5sum"), ShOk("md5sum < '" + data_ + "/f'"));
  // With a leaf gone, get fails and leaves neither OUT nor a partial file behind.
  std::string leaf = ShOk("dd if='" + data_ + "/f' bs=1024 skip=2 count=1 status=none | " + Cli("add -Q -n --chunker size-1024"));
  ShOk(other + "block rm " + leaf);
  std::string out;
  out.clear();
  EXPECT_NE(Sh("cd '" + tmp_ + "' && " + other + "get " + cid + " -o out2", &out), 0);
  EXPECT_NE(out.find("Error: "), std::string::npos) << out;
  for (auto& e : fs::directory_iterator(tmp_)) EXPECT_EQ(e.path().filename().string().find("out2"), std::string::npos) << e.path();
  // Export of the incomplete DAG names the missing block.
  out.clear();
  EXPECT_NE(Sh(other + "dag export " + cid + " > /dev/null", &out), 0);
  EXPECT_NE(out.find(leaf), std::string::npos) << out;
}

TEST_F(CliTest, PinsAndGarbageCollection) {
  std::string kept = ShOk("echo kept | " + Cli("add -Q"));
  std::string gone = ShOk("echo gone | " + Cli("add -Q --pin=false"));
  EXPECT_NE(ShOk(Cli("pin ls")).find(kept + " recursive"), std::string::npos);
  std::string gc = ShOk(Cli("repo gc"));
  EXPECT_NE(gc.find("removed " + gone), std::string::npos) << gc;
  EXPECT_EQ(gc.find(kept), std::string::npos);
  EXPECT_EQ(ShOk(Cli("cat " + kept)), "kept");
  std::string out;
  EXPECT_NE(Sh(Cli("--offline cat " + gone), &out), 0);
  ShOk(Cli("pin rm " + kept));
  EXPECT_NE(ShOk(Cli("repo gc")).find(kept), std::string::npos);
  // block put/get round trip with a dag-cbor codec.
  std::string c = ShOk("printf '\\241\\141\\141\\001' | " + Cli("block put --cid-codec dag-cbor"));
  EXPECT_EQ(c.substr(0, 4), "bafy");
  EXPECT_EQ(ShOk(Cli("block get " + c) + " | xxd -p"), "a1616101");
}

}  // namespace
}  // namespace ipfskit::testing
