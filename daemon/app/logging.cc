#include "daemon/app/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

namespace omnigate::app {

bool stderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream || !*stream) return false;
  unsigned long long device = 0;
  unsigned long long inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device &&
         static_cast<unsigned long long>(st.st_ino) == inode;
}

std::string setupLogging(const config::LogConfig& log) {
  const bool journald = log.target == "journald" || (log.target == "auto" && stderrIsJournal());
  std::shared_ptr<spdlog::logger> logger;
  if (journald) {
    // The journal stamps time and priority itself; the line is the message alone.
    auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("omnigated", false);
    logger = std::make_shared<spdlog::logger>("omnigated", std::move(sink));
  } else {
    logger = std::make_shared<spdlog::logger>("omnigated",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(log.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return journald ? "journald" : "stderr";
}

}  // namespace omnigate::app
