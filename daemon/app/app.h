#pragma once

// Wires the daemon together and runs it: store (with crash recovery), providers, transport,
// dispatcher and API on one io_context; SIGTERM drains in-flight work and exits 0; SIGHUP reloads
// the templates (keeping the old set if the new one is broken); a store that hit an I/O error
// makes the process exit non-zero so systemd restarts it.

#include "channels/registry.h"
#include "daemon/config/config.h"
#include "templates/template_set.h"

namespace omnigate::app {

// Reads and test-renders every template under config.templates.dir (an empty set when none is
// configured). Errors name the file and line.
Result<templates::TemplateSet> loadTemplates(const config::Config& config);

// Returns the process exit code.
int runDaemon(const config::Config& config, const channels::ProviderRegistry& registry);

}  // namespace omnigate::app
