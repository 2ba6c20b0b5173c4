// omnigate.toml as an admin (or a config-management template gone wrong) writes it: parseConfig
// with the built-in provider registry, exactly as main.cc builds it. Every text must give a
// Config or a config_* error; a Config that loads must hold what the daemon relies on without
// checking again.
//
// Relative paths resolve against a private temporary directory holding one readable secret
// ("secret.txt", mode 0600), so that `*_file` settings can succeed as well as fail.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "channels/registry.h"
#include "daemon/config/config.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

const omnigate::channels::ProviderRegistry& registry() {
  static const omnigate::channels::ProviderRegistry built = [] {
    omnigate::channels::ProviderRegistry r;
    omnigate::channels::registerBuiltinProviders(r);
    return r;
  }();
  return built;
}

void removeBaseDir();

// Made once per process and removed at exit (libFuzzer ends with exit(); a crash leaves it).
const std::string& baseDir() {
  static const std::string dir = [] {
    std::error_code ignored;  // temp_directory_path honours $TMPDIR
    std::string pattern =
        (std::filesystem::temp_directory_path(ignored) / "omnigate-fuzz-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::string secret = pattern + "/secret.txt";
    if (FILE* file = std::fopen(secret.c_str(), "w")) {
      std::fputs("s3cret-value\n", file);
      std::fclose(file);
    }
    ::chmod(secret.c_str(), 0600);
    std::atexit(removeBaseDir);
    return pattern;
  }();
  return dir;
}

// Runs after `dir` itself may be destroyed, so it works from its own copy.
const char* base_dir_to_remove = nullptr;

void removeBaseDir() {
  if (base_dir_to_remove == nullptr) return;
  std::error_code ignored;
  std::filesystem::remove_all(base_dir_to_remove, ignored);
}

bool isBareKey(const std::string& key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool isChannel(const std::string& name) {
  return name == "email" || name == "sms" || name == "push" || name == "messenger";
}

void checkConfig(const omnigate::config::Config& config) {
  FUZZ_CHECK(config.source == "fuzz.toml");
  // Reachable: TCP, a Unix socket or both.
  FUZZ_CHECK(config.server.listen_tcp || !config.server.unix_socket.empty());
  if (config.server.listen_tcp) FUZZ_CHECK(!config.server.listen_host.empty());
  FUZZ_CHECK(config.server.max_body_bytes >= 1024);
  FUZZ_CHECK(config.server.max_header_bytes >= 1024);
  FUZZ_CHECK(config.server.read_timeout.count() >= 1);
  FUZZ_CHECK(config.server.idle_timeout.count() >= 1);
  FUZZ_CHECK(config.server.max_connections >= 1);

  FUZZ_CHECK(!config.tokens.empty());
  for (std::size_t i = 0; i < config.tokens.size(); ++i) {
    FUZZ_CHECK(!config.tokens[i].name.empty());
    for (std::size_t j = i + 1; j < config.tokens.size(); ++j) {
      FUZZ_CHECK(config.tokens[i].name != config.tokens[j].name);
      FUZZ_CHECK(config.tokens[i].sha256 != config.tokens[j].sha256);
    }
  }
  FUZZ_CHECK(!config.store.path.empty());
  FUZZ_CHECK(config.store.max_batch >= 1);
  FUZZ_CHECK(config.retry.base.count() >= 1);
  FUZZ_CHECK(config.retry.max >= config.retry.base);
  FUZZ_CHECK(config.retry.max_attempts >= 1);
  FUZZ_CHECK(config.retry.max_age.count() >= 1);
  FUZZ_CHECK(config.dispatch.window >= 1);

  FUZZ_CHECK(!config.default_channels.empty());
  for (const auto& channel : config.default_channels) FUZZ_CHECK(isChannel(channel));
  if (config.default_quiet_hours) {
    FUZZ_CHECK(config.default_quiet_hours->start_minute >= 0 &&
               config.default_quiet_hours->start_minute < 24 * 60);
    FUZZ_CHECK(config.default_quiet_hours->end_minute >= 0 &&
               config.default_quiet_hours->end_minute < 24 * 60);
  }
  for (const auto& [name, category] : config.categories) {
    FUZZ_CHECK(!name.empty() && category.name == name);
    for (const auto& channel : category.channels) FUZZ_CHECK(isChannel(channel));
    FUZZ_CHECK(category.dedupe_window.count() >= 0);
  }
  // Every cap can block something: a limit in a window, or a minimum interval.
  for (std::size_t i = 0; i < config.caps.size(); ++i) {
    const auto& rule = config.caps[i];
    FUZZ_CHECK(!rule.name.empty());
    FUZZ_CHECK(rule.limit >= 0);
    FUZZ_CHECK(rule.window.count() >= 0 && rule.min_interval.count() >= 0);
    FUZZ_CHECK(rule.limit == 0 || rule.window.count() > 0);
    FUZZ_CHECK(rule.limit > 0 || rule.min_interval.count() > 0);
    if (rule.channel) FUZZ_CHECK(isChannel(*rule.channel));
    for (std::size_t j = i + 1; j < config.caps.size(); ++j) {
      FUZZ_CHECK(config.caps[j].name != rule.name);
    }
  }
  for (const auto& plugin : config.plugins) FUZZ_CHECK(!plugin.empty());

  // Every channel has providers, and every provider named is defined.
  FUZZ_CHECK(!config.channels.empty());
  for (const auto& [channel, settings] : config.channels) {
    FUZZ_CHECK(isChannel(channel));
    FUZZ_CHECK(!settings.providers.empty());
    for (const auto& name : settings.providers) {
      FUZZ_CHECK(config.providers.count(name) == 1);
      FUZZ_CHECK(std::count(settings.providers.begin(), settings.providers.end(), name) == 1);
    }
  }
  // Every provider has a usable name and kind, is used, and builds: the daemon creates them all
  // at start and treats a failure there as impossible.
  for (const auto& [name, provider] : config.providers) {
    FUZZ_CHECK(isBareKey(name));
    FUZZ_CHECK(provider.plugin.name == name);
    FUZZ_CHECK(registry().has(provider.plugin.kind));
    FUZZ_CHECK(provider.max_concurrency >= 1);
    FUZZ_CHECK(provider.rate >= 0);
    FUZZ_CHECK(provider.timeout.count() >= 1);
    bool used = false;
    for (const auto& [channel, settings] : config.channels) {
      used = used || std::count(settings.providers.begin(), settings.providers.end(), name) > 0;
    }
    FUZZ_CHECK(used);
    auto created = registry().create(provider.plugin);
    FUZZ_CHECK(created.ok());
    FUZZ_CHECK(created.value() != nullptr);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  registry();
  base_dir_to_remove = strdup(baseDir().c_str());
  // Relative secrets are looked up in $CREDENTIALS_DIRECTORY first; keep the run independent of
  // whatever environment the fuzzer was started from.
  ::unsetenv("CREDENTIALS_DIRECTORY");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = omnigate::fuzz::asView(data, size);
  // Secrets may name any absolute path; a FIFO or a device would block the run, not the parser.
  if (omnigate::fuzz::contains(text, "/dev/") || omnigate::fuzz::contains(text, "/proc/")) {
    return -1;
  }
  auto config = omnigate::config::parseConfig(text, "fuzz.toml", baseDir(), registry());
  if (!config) {
    const auto& code = config.error().code;
    FUZZ_LOG("rejected: %s: %s", code.c_str(), config.error().message.c_str());
    FUZZ_CHECK(code == "config_parse" || code == "config_invalid");
    FUZZ_CHECK(!config.error().message.empty());
    // Errors point at the file the admin must edit.
    FUZZ_CHECK(config.error().message.rfind("fuzz.toml", 0) == 0);
    return 0;
  }
  FUZZ_LOG("loaded: %zu channels, %zu providers", config->channels.size(),
           config->providers.size());
  checkConfig(config.value());
  // main.cc reads [plugins] on its own first; it must see the same list.
  auto plugins = omnigate::config::readPluginList(text, "fuzz.toml", baseDir());
  FUZZ_CHECK(plugins.ok());
  FUZZ_CHECK(plugins.value() == config->plugins);
  return 0;
}
