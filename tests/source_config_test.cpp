// Config layering: defaults < /etc < repo config < environment < flags. Every test gives its
// own /etc path and environment, so the machine's real ones never leak in.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/config/config.h"
#include "core/source/make_source_chain.h"
#include "tests/support/paths.h"

namespace ipfskit {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("ipfskit-config");
    std::filesystem::create_directories(dir_ + "/etc");
    std::filesystem::create_directories(dir_ + "/repo");
    opts_.etc_path = dir_ + "/etc/config.json";
    opts_.repo_path = dir_ + "/repo";
    opts_.env = std::map<std::string, std::string>{};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  std::string dir_;
  ConfigLoadOptions opts_;
};

TEST_F(ConfigTest, DefaultsWhenNothingIsSet) {
  auto c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gateways, (std::vector<std::string>{"https://trustless-gateway.link", "https://ipfs.io"}));
  EXPECT_EQ(c->kubo_api, "http://127.0.0.1:5001");
  EXPECT_TRUE(c->kubo_api_is_default);
  EXPECT_FALSE(c->offline);
  EXPECT_EQ(c->cache_max_bytes, uint64_t{2} << 30);
  EXPECT_EQ(c->origin["gateways"], "default");
}

TEST_F(ConfigTest, EachLayerOverridesOnlyWhatItSets) {
  Write(opts_.etc_path, R"({"gateways": ["http://127.0.0.1:1"], "cache": {"max_bytes": 1000},
                            "net": {"max_inflight": 7}, "mount": {"entry_timeout_s": 60}})");
  Write(opts_.repo_path + "/config.json", R"({"cache": {"max_bytes": 2000}, "kubo_api": null,
                                              "infer": {"aliases": {"bert": "bafy"}}})");
  auto c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gateways, std::vector<std::string>{"http://127.0.0.1:1"});  // from /etc
  EXPECT_EQ(c->cache_max_bytes, 2000u);                                     // repo beats /etc
  EXPECT_EQ(c->net.max_inflight, 7);
  EXPECT_EQ(c->net.request_timeout_ms, 15000);  // default kept
  EXPECT_TRUE(c->kubo_api.empty());
  EXPECT_FALSE(c->kubo_api_is_default);
  // Other components' sections survive the merge untouched.
  EXPECT_EQ(c->raw["mount"]["entry_timeout_s"], 60);
  EXPECT_EQ(c->raw["infer"]["aliases"]["bert"], "bafy");
  EXPECT_EQ(c->origin["cache.max_bytes"], opts_.repo_path + "/config.json");
  EXPECT_EQ(c->origin["gateways"], opts_.etc_path);

  // Environment beats the files.
  (*opts_.env)["IPFSKIT_GATEWAYS"] = "http://127.0.0.1:2, http://[::1]:3";
  (*opts_.env)["IPFSKIT_CACHE_MAX_BYTES"] = "512M";
  (*opts_.env)["IPFSKIT_KUBO_API"] = "http://127.0.0.1:4";
  c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gateways, (std::vector<std::string>{"http://127.0.0.1:2", "http://[::1]:3"}));
  EXPECT_EQ(c->cache_max_bytes, 512u << 20);
  EXPECT_EQ(c->kubo_api, "http://127.0.0.1:4");
  EXPECT_FALSE(c->kubo_api_is_default);
  EXPECT_EQ(c->origin["gateways"], "environment");

  // Flags beat the environment.
  opts_.overrides.gateways = std::vector<std::string>{"http://127.0.0.1:5"};
  opts_.overrides.cache_max_bytes = 4096;
  opts_.overrides.kubo_api = "none";
  c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gateways, std::vector<std::string>{"http://127.0.0.1:5"});
  EXPECT_EQ(c->cache_max_bytes, 4096u);
  EXPECT_TRUE(c->kubo_api.empty());
  EXPECT_EQ(c->origin["gateways"], "flags");
}

TEST_F(ConfigTest, OfflineTurnsEveryNetworkSourceOff) {
  Write(opts_.repo_path + "/config.json", R"({"gateways": ["http://127.0.0.1:1"]})");
  (*opts_.env)["IPFSKIT_OFFLINE"] = "1";
  auto c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->offline);
  EXPECT_TRUE(c->gateways.empty());
  EXPECT_TRUE(c->kubo_api.empty());
  // A flag can turn it back on.
  opts_.overrides.offline = false;
  c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->offline);
  EXPECT_EQ(c->gateways.size(), 1u);
}

TEST_F(ConfigTest, EmptyGatewayListFromEnvironmentMeansNone) {
  (*opts_.env)["IPFSKIT_GATEWAYS"] = "";
  auto c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->gateways.empty());
}

TEST_F(ConfigTest, BadInputIsAnErrorNamingItsPlace) {
  Write(opts_.repo_path + "/config.json", "{\"gateways\": [\"http://127.0.0.1:1\"],");
  auto c = LoadConfig(opts_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kInvalidArgument);
  EXPECT_NE(c.error().message.find("config.json"), std::string::npos) << c.error().message;

  Write(opts_.repo_path + "/config.json", R"({"gateways": ["ftp://example"]})");
  c = LoadConfig(opts_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("ftp://example"), std::string::npos);

  Write(opts_.repo_path + "/config.json", R"({"cache": {"max_bytes": "big"}})");
  c = LoadConfig(opts_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("cache.max_bytes"), std::string::npos);

  Write(opts_.repo_path + "/config.json", R"({"net": {"request_timeout_ms": 0}})");
  c = LoadConfig(opts_);
  ASSERT_FALSE(c.ok());

  std::filesystem::remove(opts_.repo_path + "/config.json");
  (*opts_.env)["IPFSKIT_OFFLINE"] = "maybe";
  c = LoadConfig(opts_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("IPFSKIT_OFFLINE"), std::string::npos);
  opts_.env->erase("IPFSKIT_OFFLINE");
  (*opts_.env)["IPFSKIT_CACHE_MAX_BYTES"] = "12 parsecs";
  c = LoadConfig(opts_);
  ASSERT_FALSE(c.ok());
}

TEST_F(ConfigTest, HedgeDelayIsReadCheckedAndReachesTheChain) {
  auto c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->net.hedge_after_ms, 250);
  EXPECT_EQ(ChainOptionsFrom(c->net).hedge_after, std::chrono::milliseconds(250));
  Write(opts_.repo_path + "/config.json", R"({"net": {"hedge_after_ms": 0}})");
  c = LoadConfig(opts_);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(ChainOptionsFrom(c->net).hedge_after, std::chrono::milliseconds(0));  // hedging off
  Write(opts_.repo_path + "/config.json", R"({"net": {"hedge_after_ms": -5}})");
  c = LoadConfig(opts_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("net.hedge_after_ms"), std::string::npos) << c.error().message;
}

}  // namespace
}  // namespace ipfskit
