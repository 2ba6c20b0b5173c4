#pragma once

// Wires the daemon together and runs it: store (with crash recovery), providers, transport,
// dispatcher and API on one io_context; SIGTERM drains in-flight work and exits 0; a store that
// hit an I/O error makes the process exit non-zero so systemd restarts it.

#include "channels/registry.h"
#include "daemon/config/config.h"

namespace omnigate::app {

// Returns the process exit code.
int runDaemon(const config::Config& config, const channels::ProviderRegistry& registry);

}  // namespace omnigate::app
