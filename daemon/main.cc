// omnigated: argv -> config -> run. Exit codes: 0 normal stop, 1 configuration or startup
// error, 2 store cannot be opened, 3 store I/O failure at runtime.

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "channels/registry.h"
#include "daemon/app/app.h"
#include "daemon/app/logging.h"
#include "daemon/app/plugins.h"
#include "daemon/config/config.h"

int main(int argc, char** argv) {
  CLI::App cli{"omnigated - omnichannel messaging gateway daemon"};
  std::string config_path = "/etc/omnigate/omnigate.toml";
  bool check_only = false;
  bool embedded = false;
  std::string state_dir;
  cli.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  cli.add_flag("--check-config", check_only, "validate the configuration and exit");
  cli.add_flag("--embedded-config", embedded,
               "use the built-in development configuration (loopback API, outbox providers)");
  cli.add_option("--state-dir", state_dir,
                 "where the embedded configuration keeps its database and outbox "
                 "(default: $STATE_DIRECTORY, else /var/lib/omnigate)");
  CLI11_PARSE(cli, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_logger_mt("omnigated"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);

  omnigate::channels::ProviderRegistry registry;
  omnigate::channels::registerBuiltinProviders(registry);

  if (!embedded) {
    // Plugins first: the kinds they add must be known before providers are checked.
    auto text = omnigate::config::readConfigText(config_path);
    if (!text) {
      std::cerr << "omnigated: " << text.error().message << "\n";
      return 1;
    }
    std::string directory = std::filesystem::path(config_path).parent_path().string();
    auto plugins =
        omnigate::config::readPluginList(*text, config_path, directory.empty() ? "." : directory);
    if (!plugins) {
      std::cerr << "omnigated: " << plugins.error().message << "\n";
      return 1;
    }
    if (auto loaded = omnigate::app::loadPlugins(*plugins, registry); !loaded) {
      std::cerr << "omnigated: " << loaded.error().message << "\n";
      return 1;
    }
  }

  omnigate::Result<omnigate::config::Config> config = omnigate::makeError("", "");
  if (embedded) {
    if (state_dir.empty()) {
      const char* env = std::getenv("STATE_DIRECTORY");
      state_dir = env && *env ? env : "/var/lib/omnigate";
    }
    config = omnigate::config::parseConfig(omnigate::config::embeddedDefaultConfig(), "<embedded>",
                                           state_dir, registry);
  } else {
    config = omnigate::config::loadConfigFile(config_path, registry);
  }
  if (!config) {
    std::cerr << "omnigated: " << config.error().message << "\n";
    return 1;
  }
  if (check_only) {
    auto templates = omnigate::app::loadTemplates(*config);
    if (!templates) {
      std::cerr << "omnigated: templates: " << templates.error().message << "\n";
      return 1;
    }
    std::cout << "omnigated: configuration " << config->source << " is valid\n";
    return 0;
  }
  omnigate::app::setupLogging(config->log);
  // SIGHUP reads the same source again; plugins stay as loaded (a changed list waits for a
  // restart, and a provider of a kind no loaded plugin adds is refused like at start).
  auto reread = [embedded, config_path, state_dir, &registry]() {
    if (embedded) {
      return omnigate::config::parseConfig(omnigate::config::embeddedDefaultConfig(), "<embedded>",
                                           state_dir, registry);
    }
    return omnigate::config::loadConfigFile(config_path, registry);
  };
  return omnigate::app::runDaemon(std::move(config.value()), registry, reread);
}
