// ipfskit's config.json through LoadConfig: the input is "IPFSKIT_CACHE_MAX_BYTES value\n--\n
// file"; without a separator it is the file alone.
#include <unistd.h>

#include <fstream>

#include "core/config/config.h"
#include "tests/fuzz/fuzz_input.h"

using namespace ipfskit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kPath = "/tmp/ipfskit_config_fuzz." + std::to_string(getpid()) + ".json";
  auto parts = fuzz::SplitParts(fuzz::Text(data, size), 2);
  ConfigLoadOptions o;
  o.env = std::map<std::string, std::string>{};
  if (parts.size() == 2) (*o.env)["IPFSKIT_CACHE_MAX_BYTES"] = std::string(parts[0]);
  {
    std::ofstream f(kPath, std::ios::binary | std::ios::trunc);
    f << parts.back();
  }
  o.etc_path = kPath;
  (void)LoadConfig(o);
  return 0;
}
