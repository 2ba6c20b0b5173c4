#pragma once

// Where the daemon's log lines go and how many: [log] level and target (config.h LogConfig).

#include <string>

#include "daemon/config/config.h"

namespace omnigate::app {

// True when stderr is the stream systemd connected to the journal: $JOURNAL_STREAM holds that
// stream's "device:inode", which is how systemd tells a service its stderr is the journal
// (systemd.exec(5)). A stderr redirected elsewhere by the service does not match.
bool stderrIsJournal();

// Replaces the default logger: journald (each line with its syslog priority) or stderr with a
// UTC timestamp. Returns the target chosen ("journald" or "stderr").
std::string setupLogging(const config::LogConfig& log);

}  // namespace omnigate::app
