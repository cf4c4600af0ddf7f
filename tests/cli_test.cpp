// The ipfskit command line as a user meets it: Kubo-style output, one-line errors with a
// non-zero exit, get that never leaves a half-written file, CAR round trips, pins and GC,
// global options anywhere, repo init, pin add that fetches, mount(8)'s SOURCE.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/fakes/block_dir.h"
#include "tests/fakes/fake_http_server.h"
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
}

// Usage errors look like every other error (Kubo: "Error: ..." and status 1), not CLI11's
// 105/106/109 with a help dump; --help still succeeds.
TEST_F(CliTest, UsageErrorsExitOneWithOneLine) {
  for (const std::string& args :
       {std::string("add --no-such-flag x"), std::string("pin"), std::string("block get"),
        std::string("cat a b --bogus"), std::string("add --cid-version x"), std::string("no-such-command"),
        std::string("--timeout=forever version"), std::string("--timeout -5s version"),
        std::string("version --enc=yaml"), std::string("add --chunker rabin-128-256-512 x"),
        std::string("add --chunker buzhash x")}) {
    std::string out;
    EXPECT_EQ(Sh(Cli(args) + " 2>&1 >/dev/null", &out), 1) << args << ": " << out;
    EXPECT_EQ(out.rfind("Error: ", 0), 0u) << args << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << args << ": " << out;
  }
  std::string out;
  EXPECT_NE(Sh(Cli("add --chunker rabin x") + " 2>&1", &out), 0);
  EXPECT_NE(out.find("not supported"), std::string::npos) << out;
  for (const std::string& args : {std::string("--help"), std::string("add --help"), std::string("pin add --help")}) {
    out.clear();
    EXPECT_EQ(Sh(Cli(args), &out), 0) << args << ": " << out;
    EXPECT_NE(out.find("Usage"), std::string::npos) << args << ": " << out;
  }
}

// Kubo takes its global options on either side of the command: `ipfs pin ls --enc=json`.
TEST_F(CliTest, GlobalOptionsBeforeOrAfterTheCommand) {
  std::string kept = ShOk("echo kept | " + Cli("add -Q"));
  std::string before = ShOk(Cli("--json pin ls"));
  EXPECT_EQ(nlohmann::json::parse(before)["Keys"][kept]["Type"], "recursive") << before;
  for (const std::string& args : {std::string("pin ls --json"), std::string("pin ls --enc=json"),
                                  std::string("pin ls --enc json"), std::string("--enc=json pin ls"),
                                  std::string("pin ls --offline --json")})
    EXPECT_EQ(ShOk(Cli(args)), before) << args;
  EXPECT_EQ(ShOk(Cli("pin ls --enc=text")), kept + " recursive");
  // The example from the issue: `cache stats --json` was "not expected" (exit 109).
  auto j = nlohmann::json::parse(ShOk(Cli("cache stats --offline --json")));
  EXPECT_TRUE(j.is_object()) << j.dump();
  // --repo after the command names the repo: a second repo sees only its own pins.
  const std::string other = tmp_ + "/repo2";
  const std::string bin = "'" + CliBinary() + "'";
  ShOk(bin + " init --repo '" + other + "'");
  std::string mine = ShOk("echo other | " + bin + " add -Q --repo '" + other + "'");
  EXPECT_EQ(ShOk(bin + " pin ls -q --repo '" + other + "'"), mine);
  EXPECT_EQ(ShOk(Cli("pin ls -q")), kept);
  EXPECT_EQ(ShOk(bin + " cat " + mine + " --offline --timeout=30s --repo '" + other + "'"), "other");
}

// --timeout (a Go duration) bounds fetches: against a gateway that never answers, cat fails
// with a one-line error soon after the timeout instead of the default 60 s.
TEST_F(CliTest, TimeoutBoundsFetches) {
  FakeHttpServer hang([](const FakeRequest&) {
    FakeResponse r;
    r.mode = FakeResponse::Mode::kHang;
    return r;
  });
  const std::string cid = "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom";
  for (const std::string& args : {"cat " + cid + " --gateway " + hang.url() + " --timeout=1500ms",
                                  "--timeout 1s --gateway " + hang.url() + " block get " + cid}) {
    auto t0 = std::chrono::steady_clock::now();
    std::string out;
    EXPECT_EQ(Sh(Cli(args) + " 2>&1 >/dev/null", &out), 1) << args << ": " << out;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 8.0) << args;
    EXPECT_EQ(out.rfind("Error: ", 0), 0u) << args << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << args << ": " << out;
  }
}

// Only `init` creates a repo; it refuses an existing one, and other commands name the missing
// repo instead of quietly making one.
TEST_F(CliTest, InitAndMissingRepo) {
  std::string out;
  EXPECT_NE(Sh(Cli("init") + " 2>&1 >/dev/null", &out), 0);
  EXPECT_EQ(out, "Error: ipfskit repo already exists in " + repo_ + "! (reinitializing is not needed)\n");
  const std::string fresh = tmp_ + "/fresh";
  const std::string cli = "'" + CliBinary() + "' --repo '" + fresh + "' --offline ";
  std::ofstream(data_ + "/f") << "f\n";
  for (const std::string& args : {std::string("pin ls"), std::string("add '" + data_ + "/f'"),
                                  std::string("cat QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"),
                                  std::string("repo stat"), std::string("dag import /dev/null"),
                                  std::string("files ls /"), std::string("block stat QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN")}) {
    out.clear();
    EXPECT_EQ(Sh(cli + args + " 2>&1 >/dev/null", &out), 1) << args;
    EXPECT_EQ(out, "Error: no ipfskit repo found in " + fresh + "; run 'ipfskit init'\n") << args;
    EXPECT_FALSE(fs::exists(fresh)) << args;
  }
  // Hashing only needs no repo, as with Kubo's add -n.
  EXPECT_EQ(ShOk("echo hello | " + cli + "add -n -Q"), "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN");
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_NE(ShOk(cli + "init").find(fresh), std::string::npos);
  EXPECT_EQ(ShOk(cli + "pin ls"), "");
}

TEST_F(CliTest, GetIsAtomicAndCarRoundTrips) {
  WriteRandomFile(data_ + "/f", 3 * 1024, 1);
  std::string cid = ShOk(Cli("add -Q --chunker size-1024 '" + data_ + "/f'"));
  ShOk(Cli("get " + cid + " -o '" + tmp_ + "/out'"));
  ShOk("cmp '" + data_ + "/f' '" + tmp_ + "/out'");
  // Export, import into a fresh repo, read back.
  ShOk(Cli("dag export " + cid) + " > '" + tmp_ + "/f.car'");
  std::string other = "'" + CliBinary() + "' --repo '" + tmp_ + "/repo2' --offline ";
  ShOk(other + "init");
  // Kubo's line, tab-separated, and the root is pinned (Kubo's default).
  EXPECT_EQ(ShOk(other + "dag import '" + tmp_ + "/f.car'"), "Pinned root\t" + cid + "\tsuccess");
  EXPECT_EQ(ShOk(other + "pin ls"), cid + " recursive");
  // --pin-roots=false: blocks imported, nothing pinned, nothing printed.
  std::string third = "'" + CliBinary() + "' --repo '" + tmp_ + "/repo3' --offline ";
  ShOk(third + "init");
  EXPECT_EQ(ShOk(third + "dag import --pin-roots=false '" + tmp_ + "/f.car'"), "");
  EXPECT_EQ(ShOk(third + "pin ls"), "");
  EXPECT_EQ(ShOk(third + "cat " + cid + " | md5sum"), ShOk("md5sum < '" + data_ + "/f'"));
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

TEST_F(CliTest, AddCidBaseProgressAndMetadataFlags) {
  const std::string v0 = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN";  // "hello\n"
  // Expected strings computed independently (Python base32/base36/base58 of 0x01 0x70 + multihash).
  struct Case { std::string base, cid; };
  for (const Case& c : {Case{"base32", "bafybeiffndsajwhk3lwjewwdxqntmjm4b5wxaaanokonsggenkbw6slwk4"},
                        Case{"base36", "k2jmtxvhiy25o2vnw7h4bdboly9dhaf75v3ttv1ggm04t3547s33fo0n"},
                        Case{"base16", "f01701220a568e404d8eadaec925ac3bc1b36259c0f6d70000d729cd918c46a836f497657"},
                        Case{"base58btc", v0}}) {
    EXPECT_EQ(ShOk("echo hello | " + Cli("add -Q --cid-base " + c.base)), c.cid) << c.base;
    EXPECT_EQ(ShOk("echo hello | " + Cli("add --cid-base=" + c.base)), "added " + c.cid + " " + c.cid) << c.base;
  }
  EXPECT_EQ(ShOk("echo hello | " + Cli("add -Q --raw-leaves=false --cid-version 1 --cid-base base58btc")),
            "zdj7WgZb7dJCFFLxEgawRRQ5M6Eni9d8ix75bfo2JC14nHRQJ");
  auto j = nlohmann::json::parse(ShOk("echo hello | " + Cli("add --cid-base base32 --enc=json")));
  EXPECT_EQ(j["Hash"], "bafybeiffndsajwhk3lwjewwdxqntmjm4b5wxaaanokonsggenkbw6slwk4");
  std::string out;
  EXPECT_EQ(Sh("echo hello | " + Cli("add --cid-base base99") + " 2>&1", &out), 1) << out;

  // Progress: drawn on a terminal (script(1) gives one), off with --progress=false; the
  // added lines are the same either way.
  WriteRandomFile(data_ + "/big", 3 << 20, 4);
  std::string tty = ShOk("script -qec \"" + Cli("add -p '" + data_ + "/big'") + "\" /dev/null");
  EXPECT_NE(tty.find("adding"), std::string::npos) << tty;
  EXPECT_NE(tty.find("3.00 MiB"), std::string::npos) << tty;
  std::string quiet = ShOk("script -qec \"" + Cli("add --progress=false '" + data_ + "/big'") + "\" /dev/null");
  EXPECT_EQ(quiet.find("adding"), std::string::npos) << quiet;
  EXPECT_NE(quiet.find("added "), std::string::npos) << quiet;
  EXPECT_EQ(ShOk(Cli("add -p '" + data_ + "/big'")), ShOk(Cli("add '" + data_ + "/big'")));

  // --preserve-mode/--preserve-mtime reach the importer (cross-checked against the JS importer
  // in import_crosscheck_test) and come back through stat.
  ::chmod((data_ + "/big").c_str(), 0604);
  std::string plain = ShOk(Cli("add -Q '" + data_ + "/big'"));
  std::string with_mode = ShOk(Cli("add -Q --preserve-mode '" + data_ + "/big'"));
  std::string with_both = ShOk(Cli("add -Q --preserve-mode --preserve-mtime '" + data_ + "/big'"));
  EXPECT_NE(plain, with_mode);
  EXPECT_NE(with_mode, with_both);
}

// Kubo's pin add fetches the whole DAG: content known only to a gateway can be pinned, and then
// survives GC offline. A DAG with a block the sources cannot give is not pinned at all.
TEST_F(CliTest, PinAddFetchesTheWholeDagFromTheSources) {
  WriteRandomFile(data_ + "/f", 20 * 1024 + 7, 9);
  std::string cid = ShOk(Cli("add -Q --chunker size-1024 '" + data_ + "/f'"));
  std::string leaf = ShOk("dd if='" + data_ + "/f' bs=1024 skip=5 count=1 status=none | " + Cli("add -Q -n --chunker size-1024"));
  ShOk(Cli("dag export " + cid) + " > '" + tmp_ + "/f.car'");
  std::map<Cid, Bytes> blocks = ReadCarBlocks(tmp_ + "/f.car");
  ASSERT_GT(blocks.size(), 20u);
  std::map<Cid, Bytes> by_v1;
  for (auto& [c, b] : blocks) by_v1[c.ToV1()] = b;
  std::atomic<bool> hide_leaf{true};
  Cid hidden = *Cid::Parse(leaf);
  FakeHttpServer gw([&](const FakeRequest& req) {
    FakeResponse r;
    r.content_type = "application/vnd.ipld.raw";
    auto c = Cid::Parse(req.path.rfind("/ipfs/", 0) == 0 ? req.path.substr(6) : "");
    auto it = c.ok() ? by_v1.find(c->ToV1()) : by_v1.end();
    if (it == by_v1.end() || (hide_leaf && c->ToV1() == hidden.ToV1())) {
      r.status = 404;
      r.content_type = "text/plain";
      r.body = "not found\n";
    } else {
      r.body.assign(it->second.begin(), it->second.end());
    }
    return r;
  });
  const std::string cli = "'" + CliBinary() + "' --repo '" + tmp_ + "/pinrepo' ";
  ShOk(cli + "init");
  std::string out;
  EXPECT_EQ(Sh(cli + "pin add " + cid + " --gateway " + gw.url() + " --timeout=20s 2>&1", &out), 1) << out;
  EXPECT_EQ(out.rfind("Error: ", 0), 0u) << out;
  EXPECT_NE(out.find(leaf), std::string::npos) << out;
  EXPECT_EQ(ShOk(cli + "pin ls"), "");

  hide_leaf = false;
  EXPECT_EQ(ShOk(cli + "pin add " + cid + " --gateway " + gw.url()), "pinned " + cid + " recursively");
  EXPECT_EQ(ShOk(cli + "pin ls"), cid + " recursive");
  // Every block is now in the repo itself (not only in the evictable cache): GC keeps them and
  // an offline read needs nothing else.
  ShOk(cli + "repo gc");
  EXPECT_EQ(nlohmann::json::parse(ShOk(cli + "repo stat --json"))["NumObjects"].get<uint64_t>(), blocks.size());
  EXPECT_EQ(ShOk(cli + "--offline cat " + cid + " | md5sum"), ShOk("md5sum < '" + data_ + "/f'"));
  EXPECT_EQ(ShOk(cli + "--offline dag export " + cid + " | md5sum"), ShOk("md5sum < '" + tmp_ + "/f.car'"));
  // Direct pins fetch just the root; progress shows on a terminal.
  const std::string cli2 = "'" + CliBinary() + "' --repo '" + tmp_ + "/pinrepo2' ";
  ShOk(cli2 + "init");
  std::string tty = ShOk("script -qec \"" + cli2 + "pin add --recursive=false " + cid + " --gateway " + gw.url() + "\" /dev/null");
  EXPECT_NE(tty.find("pinned " + cid + " directly"), std::string::npos) << tty;
  EXPECT_NE(tty.find("fetched"), std::string::npos) << tty;
  EXPECT_EQ(ShOk(cli2 + "--offline block stat " + cid).find("Error"), std::string::npos);
}

// mount(8) runs `ipfskit SOURCE DIR -o OPTS`: an absolute SOURCE is the repo, any other word
// the default repo.
TEST_F(CliTest, MountHelperFormUsesAbsoluteSourceAsRepo) {
  std::string in_fixture = ShOk("echo in-fixture-repo | " + Cli("add -Q"));
  const std::string def = tmp_ + "/default-repo";
  const std::string env = "IPFSKIT_PATH='" + def + "' ";
  const std::string bin = "'" + CliBinary() + "' ";
  ShOk(env + bin + "init");
  std::string in_default = ShOk("echo in-default-repo | " + env + bin + "add -Q");
  auto wait_mounted = [&] {
    for (int i = 0; i < 100; ++i) {
      struct stat st;
      if (Mounted() && ::stat((mnt_ + "/ipfs").c_str(), &st) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  ShOk(env + bin + "'" + repo_ + "' '" + mnt_ + "' -o offline");
  ASSERT_TRUE(wait_mounted());
  EXPECT_EQ(ShOk("cat '" + mnt_ + "/ipfs/" + in_fixture + "'"), "in-fixture-repo");
  Unmount();
  // A repo= option still wins over SOURCE.
  ShOk(env + bin + "'" + repo_ + "' '" + mnt_ + "' -o offline,repo='" + def + "'");
  ASSERT_TRUE(wait_mounted());
  EXPECT_EQ(ShOk("cat '" + mnt_ + "/ipfs/" + in_default + "'"), "in-default-repo");
  Unmount();
  ShOk(env + bin + "ipfskit '" + mnt_ + "' -o offline");
  ASSERT_TRUE(wait_mounted());
  EXPECT_EQ(ShOk("cat '" + mnt_ + "/ipfs/" + in_default + "'"), "in-default-repo");
  Unmount();
}

}  // namespace
}  // namespace ipfskit::testing
