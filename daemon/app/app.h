#pragma once

// Wires the daemon together and runs it: store (with crash recovery), providers, transport,
// dispatcher and API on one io_context; SIGTERM drains in-flight work and exits 0; a store that
// hit an I/O error makes the process exit non-zero so systemd restarts it. systemd hears READY,
// RELOADING, STOPPING and STATUS, and WATCHDOG while both the loop and the store thread move.
//
// SIGHUP re-reads the whole configuration and the templates and swaps them in between two events
// of the loop, so a request or attempt sees either the old or the new one, never a mix; if
// anything in the new set is invalid, nothing changes. A few settings are fixed at start (listen
// addresses and server limits, store, dispatch window, TLS CA, plugins): changes to them are
// logged and wait for a restart.

#include <functional>

#include "channels/registry.h"
#include "daemon/config/config.h"
#include "templates/template_set.h"

namespace omnigate::app {

// Reads and test-renders every template under config.templates.dir (an empty set when none is
// configured). Errors name the file and line.
Result<templates::TemplateSet> loadTemplates(const config::Config& config);

// Reads the configuration again (SIGHUP); errors name the file and line.
using ConfigReader = std::function<Result<config::Config>()>;

// Returns the process exit code.
int runDaemon(config::Config config, const channels::ProviderRegistry& registry,
              ConfigReader reread);

}  // namespace omnigate::app
