#pragma once

// Loads out-of-tree provider plugins (channels/plugin_abi.h) and registers their kinds. A plugin
// stays loaded for the life of the process: its code backs providers that may live that long.

#include <string>
#include <vector>

#include "channels/registry.h"
#include "daemon/common/result.h"

namespace omnigate::app {

// Errors (code "plugin"): the file cannot be loaded, has no entry point, was built for another
// ABI version, or registers a kind that exists already. The message names the file.
Status loadPlugins(const std::vector<std::string>& paths, channels::ProviderRegistry& registry);

}  // namespace omnigate::app
