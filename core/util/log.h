// One logging path for the daemon, the CLI and core/: spdlog's default logger.
//
// Contract:
// - Log through spdlog's free functions (spdlog::error, warn, info, debug) after including
//   this header. They are thread-safe: every sink InitLogging installs is an _mt sink.
// - Before InitLogging the default logger writes "ipfskit: LEVEL: message" to stderr at level
//   info (spdlog's own default writes to stdout, which would mix log lines into `ipfskit cat`
//   output); every translation unit that includes this header installs it before main.
// - InitLogging replaces the default logger. Call it once, from the thread that starts the
//   mount, before any worker thread exists; it is not safe against concurrent logging.
// - A daemonised mount logs to syslog (journald picks it up), a foreground one to stderr,
//   `-o log=FILE` to FILE (appended). Startup errors that stop the mount are reported to the
//   user by the CLI as one `Error:` line; the logger gets them too when it is not stderr.
// - core/ may use this header: it knows nothing about FUSE.
#pragma once

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

#include "core/util/result.h"

namespace ipfskit::log {

enum class Target { kStderr, kSyslog, kFile };

struct LogOptions {
  Target target = Target::kStderr;
  std::string file;  // for kFile
  spdlog::level::level_enum level = spdlog::level::info;
};

// Fails (kIo) when the log file cannot be opened; the previous logger stays in place.
Status InitLogging(const LogOptions& options);

// "trace", "debug", "info", "warn"/"warning", "error", "critical", "off".
Result<spdlog::level::level_enum> ParseLevel(std::string_view name);

namespace detail {
inline bool InstallStderrDefault() {
  auto logger = std::make_shared<spdlog::logger>("ipfskit", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("ipfskit: %l: %v");
  spdlog::set_default_logger(std::move(logger));
  return true;
}
// One per program (an inline variable), initialised before main by whichever includer runs first.
inline const bool kStderrDefaultInstalled = InstallStderrDefault();
}  // namespace detail

// Flushes every sink; call before _exit or abort so the last lines are not lost.
void FlushLog();

}  // namespace ipfskit::log
