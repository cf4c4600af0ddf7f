// `ipfskit pin remote …` as a user meets it, against (a) the npm mock-ipfs-pinning-service (an
// independent implementation of the Pinning Services API) and (b) our own `ipfskit serve --api`.
// Everything listens on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/multiformats/cid.h"
#include "core/source/http_client.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/paths.h"

namespace ipfskit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string RawCid(const std::string& content) { return Cid::Sum(1, 0x55, 0x12, ToBytes(content))->ToString(); }

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// A background process started through the shell; SIGTERM and a bounded wait at the end.
struct Background {
  pid_t pid = 0;
  std::string log;
  void Start(const std::string& cmd, const std::string& log_path) {
    log = log_path;
    const std::string pidf = log_path + ".pid";
    ASSERT_EQ(Sh("(" + cmd + " > '" + log_path + "' 2>&1 & echo $! > '" + pidf + "')"), 0);
    pid = std::atoi(ReadFile(pidf).c_str());
    ASSERT_GT(pid, 0);
  }
  // True once the process is gone (within `limit`).
  bool Stop(std::chrono::milliseconds limit = 10s) {
    if (pid <= 0) return true;
    ::kill(pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::kill(pid, 0) != 0) {
        pid = 0;
        return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    ::kill(pid, SIGKILL);
    pid = 0;
    return false;
  }
  ~Background() { Stop(); }
};

class PinRemoteCliTest : public MountFixture {
 protected:
  // Exit status; stdout in *out, stderr in *err.
  int Run(const std::string& args, std::string* out, std::string* err = nullptr) {
    const std::string errf = tmp_ + "/stderr";
    int rc = Sh(Cli(args) + " 2>'" + errf + "'", out);
    if (err) *err = ReadFile(errf);
    return rc;
  }
  std::string Ok(const std::string& args) {
    std::string out, err;
    EXPECT_EQ(Run(args, &out, &err), 0) << args << "\n" << err;
    return out;
  }
  std::string Fails(const std::string& args) {
    std::string out, err;
    EXPECT_NE(Run(args, &out, &err), 0) << args << "\n" << out;
    return err;
  }
  std::string AddFile(const std::string& repo_flag, const std::string& text) {
    const std::string f = tmp_ + "/file-" + std::to_string(files_++);
    std::ofstream(f) << text;
    std::string cid = ShOk("'" + CliBinary() + "' " + repo_flag + " add -Q --cid-version 1 '" + f + "'");
    return cid;
  }
  // Waits until an HTTP server answers at `url` (any status).
  static bool Answers(const std::string& url) {
    HttpClient http;
    return Eventually(
        [&] {
          HttpRequest r;
          r.url = url;
          r.timeout = 2s;
          auto resp = http.Fetch(r);
          return resp.ok() && resp->status > 0;
        },
        60s);  // node starts slowly on a loaded machine
  }
  int files_ = 0;
};

TEST_F(PinRemoteCliTest, AgainstTheNpmMockPinningService) {
  int port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  Background mock;
  mock.Start("cd '" + SourceDir() + "/tests/js' && exec node node_modules/mock-ipfs-pinning-service/cli.js --port " +
                 std::to_string(port) + " --token mock-secret",
             tmp_ + "/mock.log");
  ASSERT_TRUE(Answers(url + "/pins")) << ReadFile(mock.log);

  // Services: stored in the repo config (0600), the token never printed.
  Ok("pin remote service add mock " + url + "/pins/ mock-secret");
  Ok("pin remote service add badkey " + url + " wrong-secret");
  Fails("pin remote service add mock " + url + " other");
  EXPECT_NE(Fails("pin remote service add x ftp://h/ t").find("http"), std::string::npos);
  EXPECT_EQ(Ok("pin remote service ls"), "badkey\t" + url + "\nmock\t" + url + "\n");
  json ls = json::parse(Ok("--json pin remote service ls"));
  ASSERT_EQ(ls["RemoteServices"].size(), 2u);
  EXPECT_EQ(ls["RemoteServices"][1]["Service"], "mock");
  EXPECT_EQ(ls["RemoteServices"][1]["ApiEndpoint"], url);
  EXPECT_EQ(ls.dump().find("secret"), std::string::npos);
  json cfg = json::parse(ReadFile(repo_ + "/config.json"));
  EXPECT_EQ(cfg["Pinning"]["RemoteServices"]["mock"]["API"]["Key"], "mock-secret");
  EXPECT_EQ(cfg["Pinning"]["RemoteServices"]["mock"]["API"]["Endpoint"], url);
  struct stat st;
  ASSERT_EQ(::stat((repo_ + "/config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const std::string c1 = RawCid("one"), c2 = RawCid("two");
  const std::string c3 = Cid::Sum(0, 0x70, 0x12, ToBytes("three"))->ToString();  // a CIDv0
  // The mock derives a pin's status from its name's prefix ("pinned-…" is pinned at once).
  EXPECT_EQ(Ok("pin remote add --service mock --name pinned-one " + c1), "CID:\t" + c1 + "\nName:\tpinned-one\nStatus:\tpinned\n");
  EXPECT_EQ(Ok("pin remote add --service mock --background --name two /ipfs/" + c2),
            "CID:\t" + c2 + "\nName:\ttwo\nStatus:\tqueued\n");
  json j = json::parse(Ok("--json pin remote add --service mock --background --name failed-three " + c3));
  EXPECT_EQ(j, (json{{"Cid", c3}, {"Name", "failed-three"}, {"Status", "failed"}}));
  // Waiting on a pin that fails is an error.
  EXPECT_NE(Fails("pin remote add --service mock --name failed-four bafkqaaa").find("failed to pin"), std::string::npos);

  EXPECT_EQ(Ok("pin remote ls --service mock"), c1 + "\tpinned\tpinned-one\n");
  auto lines = Lines(Ok("--json pin remote ls --service mock --status queued,pinned"));
  ASSERT_EQ(lines.size(), 2u);
  std::set<std::string> names;
  for (const auto& l : lines) {
    json e = json::parse(l);
    EXPECT_TRUE(e.contains("Cid") && e.contains("Status") && e.contains("Name")) << l;
    names.insert(e["Name"]);
  }
  EXPECT_EQ(names, (std::set<std::string>{"pinned-one", "two"}));
  EXPECT_EQ(Ok("pin remote ls --service mock --status queued,pinning,pinned,failed --cid " + c2), c2 + "\tqueued\ttwo\n");
  EXPECT_EQ(Ok("pin remote ls --service mock --status failed --name failed-three"), c3 + "\tfailed\tfailed-three\n");
  EXPECT_NE(Fails("pin remote ls --service mock --status done").find("status"), std::string::npos);
  EXPECT_NE(Fails("pin remote ls --service nosuch").find("nosuch"), std::string::npos);
  // A wrong token: the service's 401 becomes an error; --stat says invalid.
  EXPECT_NE(Fails("pin remote ls --service badkey").find("401"), std::string::npos);
  std::string stat = Ok("pin remote service ls --stat");
  EXPECT_NE(stat.find("badkey\t" + url + "\tinvalid\n"), std::string::npos) << stat;
  EXPECT_NE(stat.find("mock\t" + url + "\t1/0/1/"), std::string::npos) << stat;  // the mock counts at most limit=1

  // rm: more than one match needs --force.
  EXPECT_NE(Fails("pin remote rm --service mock --status queued,pinned").find("--force"), std::string::npos);
  EXPECT_EQ(Lines(Ok("pin remote ls --service mock --status queued,pinned")).size(), 2u);
  EXPECT_EQ(Ok("pin remote rm --service mock --name pinned-one"), "");
  EXPECT_EQ(Ok("pin remote ls --service mock --status queued,pinned"), c2 + "\tqueued\ttwo\n");
  Ok("pin remote rm --service mock --status queued,pinning,pinned,failed --force");
  EXPECT_EQ(Ok("pin remote ls --service mock --status queued,pinning,pinned,failed"), "");

  Ok("pin remote service rm badkey");
  Fails("pin remote service rm badkey");
  EXPECT_EQ(Ok("pin remote service ls"), "mock\t" + url + "\n");
  EXPECT_TRUE(mock.Stop());
}

TEST_F(PinRemoteCliTest, AgainstOurOwnServeApi) {
  // The service's node: its own repo, offline (it can pin only what it has), one token.
  const std::string srv_repo = tmp_ + "/srv";
  const std::string srv = "--offline --repo '" + srv_repo + "'";
  ShOk("'" + CliBinary() + "' " + srv + " init");
  std::ofstream(srv_repo + "/config.json") << R"({"serve": {"pinning": {"tokens": ["tok-1", "tok-2"]}}})";
  const std::string have = AddFile(srv, "content the service holds\n");
  ShOk("'" + CliBinary() + "' " + srv + " pin rm " + have);  // `add` pinned it; the request should
  ASSERT_EQ(ShOk("'" + CliBinary() + "' " + srv + " pin ls"), "");
  Background server;
  server.Start("exec '" + CliBinary() + "' " + srv + " serve --listen 127.0.0.1:0 --api 127.0.0.1:0",
               tmp_ + "/serve.log");
  std::string api;
  ASSERT_TRUE(Eventually([&] {
    std::string log = ReadFile(server.log);
    size_t p = log.find("API server listening on http://");
    if (p == std::string::npos) return false;
    api = log.substr(log.find("http://", p));
    api = api.substr(0, api.find('\n'));
    return true;
  }, 60s)) << ReadFile(server.log);
  ASSERT_EQ(api.rfind("http://127.0.0.1:", 0), 0u) << api;

  Ok("pin remote service add ours " + api + " tok-2");
  Ok("pin remote service add wrong " + api + " tok-3");
  std::string out, err;
  ASSERT_EQ(Run("pin remote add --service ours --name mine " + have, &out, &err), 0) << err;
  EXPECT_EQ(out, "CID:\t" + have + "\nName:\tmine\nStatus:\tpinned\n");
  // Progress on stderr while it waits: the POST answers queued, always.
  EXPECT_EQ(err.rfind("queued\n", 0), 0u) << err;
  // The service pinned it in its own repo.
  EXPECT_EQ(ShOk("'" + CliBinary() + "' " + srv + " pin ls"), have + " recursive");
  EXPECT_EQ(Ok("pin remote ls --service ours"), have + "\tpinned\tmine\n");
  json e = json::parse(Ok("--json pin remote ls --service ours --cid " + have));
  EXPECT_EQ(e, (json{{"Cid", have}, {"Name", "mine"}, {"Status", "pinned"}}));
  EXPECT_NE(Ok("pin remote service ls --stat").find("ours\t" + api + "\t0/0/1/0\n"), std::string::npos);

  // A CID nobody has: the offline service fails it, with its reason, and the CLI says so.
  const std::string absent = RawCid("nobody has this block");
  std::string why = Fails("pin remote add --service ours --name lost " + absent);
  EXPECT_NE(why.find("failed to pin"), std::string::npos) << why;
  EXPECT_NE(why.find("cannot fetch block"), std::string::npos) << why;
  EXPECT_EQ(Ok("pin remote ls --service ours --status failed"), absent + "\tfailed\tlost\n");

  EXPECT_NE(Fails("pin remote ls --service wrong").find("401"), std::string::npos);
  EXPECT_NE(Fails("pin remote rm --service wrong --cid " + have).find("401"), std::string::npos);
  EXPECT_EQ(ShOk("'" + CliBinary() + "' " + srv + " pin ls"), have + " recursive");

  // Removing the request unpins it at the service (it was not pinned there before).
  Ok("pin remote rm --service ours --cid " + have);
  EXPECT_EQ(Ok("pin remote ls --service ours"), "");
  EXPECT_EQ(ShOk("'" + CliBinary() + "' " + srv + " pin ls"), "");
  Ok("pin remote rm --service ours --status failed");
  EXPECT_EQ(Ok("pin remote ls --service ours --status queued,pinning,pinned,failed"), "");
  EXPECT_TRUE(server.Stop());
}

}  // namespace
}  // namespace ipfskit::testing
