// A plugin built for a plugin ABI this daemon does not speak: loading it must be refused before
// any of its kinds is registered.

#include "channels/plugin_abi.h"

namespace {
constexpr OmnigatePlugin kPlugin = {kOmnigatePluginAbiVersion + 1, "from the future", nullptr, 0};
}  // namespace

extern "C" __attribute__((visibility("default"))) const OmnigatePlugin* omnigate_plugin_entry() {
  return &kPlugin;
}
