// Paths the tests need: the source tree, the shared fixtures beside it, the CLI binary.
#pragma once

#include <string>

namespace ipfskit::testing {

inline std::string SourceDir() { return IPFSKIT_SOURCE_DIR; }
inline std::string CliBinary() { return IPFSKIT_BINARY; }
// ../shared/fixtures/gateway-conformance beside the project root.
std::string FixturesDir();
// A fresh temporary directory, removed by the caller (or left for debugging).
std::string MakeTempDir(const std::string& prefix);
// The whole file as bytes; empty when it cannot be read.
std::string ReadFile(const std::string& path);
// Runs a shell command and returns its exit status; stdout goes to *out when given.
int RunCommand(const std::string& cmd, std::string* out = nullptr);

}  // namespace ipfskit::testing
