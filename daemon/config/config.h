#pragma once

// The typed, validated configuration. Every key the admin may write is a field here; the loader
// (config_loader.cc, the only file that includes toml++) rejects unknown keys and bad values with
// file:line and a clear message.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channels/provider.h"
#include "channels/registry.h"
#include "daemon/common/duration.h"
#include "daemon/common/result.h"
#include "policy/policy.h"

namespace omnigate::config {

struct ServerConfig {
  std::string listen_host = "127.0.0.1";  // from listen = "host:port"; empty listen = no TCP
  std::uint16_t listen_port = 7447;
  bool listen_tcp = true;
  std::string unix_socket;                 // empty: no Unix socket
  std::size_t max_body_bytes = 1 << 20;    // larger bodies get 413
  std::size_t max_header_bytes = 8 << 10;  // larger header blocks get 431
  Millis read_timeout{10'000};             // a whole request must arrive within this
  Millis idle_timeout{60'000};             // keep-alive connections idle longer are closed
  // Over this many open connections a new one is answered 503 overloaded and closed.
  std::size_t max_connections = 1024;
  // Requests admitted (headers read, not yet answered) at once; over it 503 overloaded, before
  // the body is read. Request bodies in memory stay under max_pending * max_body_bytes.
  std::size_t max_pending = 512;
  // DNS-rebinding defence: Host names (lower case, no port) accepted besides loopback names and
  // the listen address. /v1/callbacks/* also accepts the host of public_url.
  std::vector<std::string> allowed_hosts;
  // Browser origins ("https://admin.example", lower case) allowed to call the API; a request
  // with any other Origin header gets 403 forbidden_origin. Empty: no browser origin at all.
  std::vector<std::string> allowed_origins;
  // How providers reach this API from outside (scheme, host, optional path prefix, no trailing
  // '/'), for callback signatures that cover the URL (Twilio). Empty: "http://" + Host header.
  std::string public_url;
};

struct ApiToken {
  std::string name;
  std::array<unsigned char, 32> sha256{};
};

struct StoreConfig {
  std::string path = "/var/lib/omnigate/omnigate.db";
  std::size_t max_batch = 1024;  // most operations committed in one transaction
  // Idle customers whose profile and policy state stay in memory; the rest are read from the
  // store when next needed.
  std::size_t customer_cache = 10'000;
};

struct RetryConfig {
  Millis base{30'000};
  Millis max{3'600'000};
  int max_attempts = 10;
  Millis max_age{3LL * 86'400'000};
};

struct DispatchConfig {
  std::size_t window = 10'000;  // due jobs held in memory; the rest stay in the store
};

struct TemplatesConfig {
  std::string dir;   // empty: no templates; requests naming one get unknown_template
  int dir_line = 0;  // where templates.dir was written, for errors found in the templates
};

struct TlsConfig {
  // PEM bundle trusted instead of the system store for every outgoing TLS connection (a private
  // CA); empty uses the system store. Verification is always on either way.
  std::string ca_file;
};

struct ChannelConfig {
  std::vector<std::string> providers;  // failover order
};

// The keys the daemon owns for every provider; everything else goes to the plugin's settings.
struct ProviderSettings {
  channels::ProviderConfig plugin;
  int max_concurrency = 8;
  double rate = 0;  // messages per second, 0 = unlimited
  Millis timeout{30'000};
};

// Whether a reload changes nothing about a provider (line numbers aside), so the running one,
// with its connections, credential and pause, is kept.
inline bool sameProviderSettings(const ProviderSettings& a, const ProviderSettings& b) {
  if (a.plugin.kind != b.plugin.kind || a.max_concurrency != b.max_concurrency ||
      a.rate != b.rate || a.timeout != b.timeout ||
      a.plugin.settings.size() != b.plugin.settings.size()) {
    return false;
  }
  for (const auto& [key, setting] : a.plugin.settings) {
    auto other = b.plugin.settings.find(key);
    if (other == b.plugin.settings.end() || other->second.value != setting.value ||
        other->second.values != setting.values || other->second.is_array != setting.is_array) {
      return false;
    }
  }
  return true;
}

// [log]: how much is logged, and where. `auto` sends to journald when stderr is the journal's
// stream (systemd sets $JOURNAL_STREAM to its device:inode), to stderr otherwise.
struct LogConfig {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string target = "auto";  // auto | journald | stderr
};

struct Config {
  std::string source;  // file path, or "<embedded>"
  LogConfig log;
  ServerConfig server;
  std::vector<ApiToken> tokens;
  StoreConfig store;
  RetryConfig retry;
  DispatchConfig dispatch;
  TemplatesConfig templates;
  TlsConfig tls;
  std::vector<std::string> default_channels{"push", "sms", "email", "messenger"};
  // Region for phone numbers written without a country code ("8 916 123-45-67" with "RU");
  // empty: every number must carry its country code.
  std::string phone_region;
  std::optional<policy::QuietHours> default_quiet_hours;  // for customers who set none
  int min_history_attempts = 3;
  // Categories named in [categories]; others get the policy defaults (no quiet hours, caps apply,
  // 24 h dedupe window). "transactional" is built in and bypasses caps and quiet hours unless
  // configured otherwise.
  std::map<std::string, policy::CategoryPolicy> categories;
  std::vector<policy::CapRule> caps;  // [[caps]], in order
  std::vector<std::string> plugins;   // [plugins] load: shared objects adding provider kinds
  std::map<std::string, ChannelConfig> channels;      // email | sms | push | messenger
  std::map<std::string, ProviderSettings> providers;  // by provider name
};

// `base_dir` resolves relative paths (store.path, *_file secrets, outbox dirs): the directory of
// the config file, or the state directory for the embedded config.
Result<Config> loadConfigFile(const std::string& path, const channels::ProviderRegistry& registry);

// Plugins must be loaded (their kinds registered) before providers can be checked, so [plugins]
// is read first, on its own.
Result<std::string> readConfigText(const std::string& path);
Result<std::vector<std::string>> readPluginList(std::string_view text,
                                                const std::string& source_name,
                                                const std::string& base_dir);
Result<Config> parseConfig(std::string_view text, const std::string& source_name,
                           const std::string& base_dir, const channels::ProviderRegistry& registry);

// The configuration scripts/run starts with: loopback API, SQLite in the state directory and an
// outbox provider for every channel. Its bearer token is "dev-token".
std::string_view embeddedDefaultConfig();

}  // namespace omnigate::config
