#include "daemon/app/plugins.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include "channels/plugin_abi.h"

namespace omnigate::app {

namespace {

Status loadPlugin(const std::string& path, channels::ProviderRegistry& registry) {
  auto fail = [&path](const std::string& why) {
    return makeError("plugin", "plugin " + path + ": " + why);
  };
  // RTLD_NOW: a plugin with an unresolved symbol fails here, not in the middle of a delivery.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return fail(why != nullptr ? why : "cannot be loaded");
  }
  auto entry = reinterpret_cast<OmnigatePluginEntry>(::dlsym(handle, "omnigate_plugin_entry"));
  if (entry == nullptr) {
    ::dlclose(handle);
    return fail("has no omnigate_plugin_entry function; is it an omnigate plugin?");
  }
  const OmnigatePlugin* plugin = entry();
  if (plugin == nullptr || plugin->abi_version != kOmnigatePluginAbiVersion) {
    int version = plugin == nullptr ? 0 : plugin->abi_version;
    ::dlclose(handle);
    return fail("was built for plugin ABI version " + std::to_string(version) +
                ", this omnigated speaks version " + std::to_string(kOmnigatePluginAbiVersion) +
                "; rebuild it against this release's headers");
  }
  if (plugin->kind_count < 0 || (plugin->kind_count > 0 && plugin->kinds == nullptr)) {
    ::dlclose(handle);
    return fail("declares a malformed list of provider kinds");
  }
  for (int i = 0; i < plugin->kind_count; ++i) {
    const auto& kind = plugin->kinds[i];
    std::string name = kind.kind != nullptr ? kind.kind : "";
    if (auto added = registry.add(name, kind.factory); !added) {
      // Kinds added before this one keep pointing into the plugin, so it stays loaded.
      return fail(added.error().message);
    }
    spdlog::info("plugin {} ({}): provider kind '{}'", path,
                 plugin->name != nullptr ? plugin->name : "unnamed", name);
  }
  return Ok{};
}

}  // namespace

Status loadPlugins(const std::vector<std::string>& paths, channels::ProviderRegistry& registry) {
  for (const auto& path : paths) {
    if (auto loaded = loadPlugin(path, registry); !loaded) return loaded;
  }
  return Ok{};
}

}  // namespace omnigate::app
