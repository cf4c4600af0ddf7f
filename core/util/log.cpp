#include "core/util/log.h"

#include <syslog.h>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>

namespace ipfskit::log {

Status InitLogging(const LogOptions& options) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    switch (options.target) {
      case Target::kStderr:
        logger = std::make_shared<spdlog::logger>("ipfskit", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        // journald (Type=notify runs us with -f) adds its own timestamp.
        logger->set_pattern("ipfskit: %l: %v");
        break;
      case Target::kSyslog:
        logger = std::make_shared<spdlog::logger>(
            "ipfskit", std::make_shared<spdlog::sinks::syslog_sink_mt>("ipfskit", LOG_PID, LOG_DAEMON, true));
        logger->set_pattern("%v");
        break;
      case Target::kFile:
        logger = std::make_shared<spdlog::logger>(
            "ipfskit", std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file, /*truncate=*/false));
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%P] %l: %v");
        break;
    }
  } catch (const spdlog::spdlog_ex& e) {
    return MakeError(Errc::kIo, "log file " + options.file + ": " + e.what());
  }
  logger->set_level(options.level);
  // Every line reaches the file at once: a reader (or a crash right after) sees it.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

Result<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  if (name == "warning") return spdlog::level::warn;
  auto l = spdlog::level::from_str(std::string(name));
  // from_str answers "off" for names it does not know.
  if (l == spdlog::level::off && name != "off")
    return MakeError(Errc::kInvalidArgument, "unknown log level '" + std::string(name) + "'");
  return l;
}

void FlushLog() { spdlog::default_logger_raw()->flush(); }

}  // namespace ipfskit::log
