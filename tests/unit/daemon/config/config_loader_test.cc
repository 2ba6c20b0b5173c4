#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "channels/registry.h"
#include "daemon/config/config.h"
#include "tests/unit/scratch_dir.h"

namespace omnigate::config {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---- fake provider kinds ---------------------------------------------------------------------

class NullProvider final : public channels::Provider {
 public:
  Result<channels::TransportRequest> encode(const channels::OutboundMessage&) const override {
    return makeError("unused", "not used in config tests");
  }
  channels::Verdict interpret(const channels::OutboundMessage&,
                              const channels::TransportReply&) const override {
    return {};
  }
};

Status rejectUnknown(const channels::ProviderConfig& config,
                     std::initializer_list<std::string_view> known) {
  for (const auto& [key, setting] : config.settings) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return makeError("setting:" + key, "unknown setting '" + key + "'");
    }
  }
  return Ok{};
}

Result<channels::ProviderPtr> makeFakeOutbox(const channels::ProviderConfig& config) {
  if (auto known = rejectUnknown(config, {"dir"}); !known) return known.error();
  if (!config.settings.count("dir")) return makeError("setting:dir", "an outbox needs `dir`");
  return channels::ProviderPtr(std::make_unique<NullProvider>());
}

Result<channels::ProviderPtr> makeFakeWebhook(const channels::ProviderConfig& config) {
  if (auto known = rejectUnknown(config, {"url", "token", "allow_private"}); !known) {
    return known.error();
  }
  auto url = config.settings.find("url");
  if (url == config.settings.end() || url->second.value.rfind("http", 0) != 0) {
    return makeError("setting:url", "a webhook needs an http(s) `url`");
  }
  if (auto allow = config.settings.find("allow_private"); allow != config.settings.end() &&
                                                          allow->second.value != "true" &&
                                                          allow->second.value != "false") {
    return makeError("setting:allow_private", "allow_private must be true or false");
  }
  return channels::ProviderPtr(std::make_unique<NullProvider>());
}

// Takes any setting, so tests can look at what the loader handed to the plugin.
Result<channels::ProviderPtr> makeAnything(const channels::ProviderConfig&) {
  return channels::ProviderPtr(std::make_unique<NullProvider>());
}

Result<channels::ProviderPtr> makeOwnError(const channels::ProviderConfig&) {
  return makeError("bad_provider", "the fake refuses every configuration");
}

Result<channels::ProviderPtr> makeThrowing(const channels::ProviderConfig&) {
  throw std::runtime_error("factory blew up");
}

channels::ProviderRegistry fakeRegistry() {
  channels::ProviderRegistry registry;
  EXPECT_TRUE(registry.add("outbox", &makeFakeOutbox).ok());
  EXPECT_TRUE(registry.add("webhook", &makeFakeWebhook).ok());
  EXPECT_TRUE(registry.add("anything", &makeAnything).ok());
  EXPECT_TRUE(registry.add("own-error", &makeOwnError).ok());
  EXPECT_TRUE(registry.add("throwing", &makeThrowing).ok());
  return registry;
}

// ---- helpers ---------------------------------------------------------------------------------

// SHA-256 of "dev-token".
constexpr const char* kDevTokenHash =
    "c91cbbedf8c712e8e2b7517ddeca8fe4fde839ebd8339e0b2001363002b37712";

// Eight lines; cases append from line 9.
const std::string kBase = std::string(R"([[api.tokens]]
name = "shop"
sha256 = ")") + kDevTokenHash +
                          R"("
[channels.email]
providers = ["box"]
[providers.box]
kind = "outbox"
dir = "out"
)";

// The same without tokens: five lines; cases append from line 6.
const std::string kBaseWithoutTokens = R"([channels.email]
providers = ["box"]
[providers.box]
kind = "outbox"
dir = "out"
)";

constexpr const char* kBaseDir = "/etc/omnigate";

Result<Config> parse(const std::string& text, const std::string& base_dir = kBaseDir) {
  static const channels::ProviderRegistry registry = fakeRegistry();
  return parseConfig(text, "test.toml", base_dir, registry);
}

Config parseOrDie(const std::string& text, const std::string& base_dir = kBaseDir) {
  auto parsed = parse(text, base_dir);
  if (!parsed) {
    ADD_FAILURE() << parsed.error().message;
    return Config{};
  }
  return std::move(parsed.value());
}

std::array<unsigned char, 32> sha256Of(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// ---- rejections ------------------------------------------------------------------------------

struct RejectCase {
  const char* label;
  bool with_tokens;    // appended to kBase (from line 9) or to kBaseWithoutTokens (from line 6)
  const char* append;  // TOML text appended to the base
  int line;            // 0: the message carries no line
  const char* path;
  const char* what;
};

void PrintTo(const RejectCase& c, std::ostream* out) { *out << c.label; }

class Rejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(Rejects, NamesLineKeyAndProblem) {
  const auto& c = GetParam();
  auto parsed = parse((c.with_tokens ? kBase : kBaseWithoutTokens) + c.append);
  ASSERT_FALSE(parsed.ok()) << "accepted: " << c.append;
  EXPECT_EQ(parsed.error().code, "config_invalid");
  const std::string where =
      c.line > 0 ? "test.toml:" + std::to_string(c.line) + ": " : "test.toml: ";
  EXPECT_THAT(parsed.error().message, StartsWith(where + c.path + ": "));
  EXPECT_THAT(parsed.error().message, HasSubstr(c.what));
}

const RejectCase kRejectCases[] = {
    // top level
    {"unknown_section", true, "[templatez]\ndir = \"t\"\n", 9, "templatez", "unknown key"},
    // [templates], [tls]
    {"templates_dir_empty", true, "[templates]\ndir = \"\"\n", 10, "templates.dir",
     "must name the template directory"},
    {"templates_unknown_key", true, "[templates]\npath = \"t\"\n", 10, "templates.path",
     "unknown key"},
    {"tls_ca_missing", true, "[tls]\nca_file = \"/nonexistent/ca.pem\"\n", 10, "tls.ca_file",
     "cannot read /nonexistent/ca.pem"},
    // [server]
    {"typo_suggests", true, "[server]\nlisen = \"127.0.0.1:1\"\n", 10, "server.lisen",
     "did you mean 'listen'?"},
    {"listen_name", true, "[server]\nlisten = \"localhost:7447\"\n", 10, "server.listen",
     "'localhost' is not an IPv4 address"},
    {"listen_no_port", true, "[server]\nlisten = \"127.0.0.1\"\n", 10, "server.listen",
     "must be \"host:port\""},
    {"listen_port_range", true, "[server]\nlisten = \"127.0.0.1:70000\"\n", 10, "server.listen",
     "'70000' is not a port number"},
    {"listen_port_junk", true, "[server]\nlisten = \"127.0.0.1:80x\"\n", 10, "server.listen",
     "'80x' is not a port number"},
    {"listen_v6_unbracketed", true, "[server]\nlisten = \"::1:7447\"\n", 10, "server.listen",
     "IPv6 address goes in brackets"},
    {"listen_v6_bad", true, "[server]\nlisten = \"[::g]:7447\"\n", 10, "server.listen",
     "not an IPv6 address"},
    {"listen_type", true, "[server]\nlisten = 7447\n", 10, "server.listen",
     "must be a string, not an integer"},
    {"no_listener", true, "[server]\nlisten = \"\"\nunix_socket = \"\"\n", 9, "server",
     "unreachable"},
    {"socket_too_long", true,
     "[server]\nunix_socket = "
     "\"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\"\n",
     10, "server.unix_socket", "too long for a Unix socket"},
    {"max_body_fraction", true, "[server]\nmax_body = \"1.5MiB\"\n", 10, "server.max_body",
     "not a size"},
    {"max_body_small", true, "[server]\nmax_body = 10\n", 10, "server.max_body",
     "10B is out of range; allowed: 1KiB to 1GiB"},
    {"max_body_negative", true, "[server]\nmax_body = -1\n", 10, "server.max_body",
     "cannot be negative"},
    {"max_body_bool", true, "[server]\nmax_body = true\n", 10, "server.max_body", "must be a size"},
    {"max_header_large", true, "[server]\nmax_header = \"2MiB\"\n", 10, "server.max_header",
     "allowed: 1KiB to 1MiB"},
    {"read_timeout_int", true, "[server]\nread_timeout = 10\n", 10, "server.read_timeout",
     "must be a duration string"},
    {"idle_timeout_zero", true, "[server]\nidle_timeout = \"0s\"\n", 10, "server.idle_timeout",
     "must be at least 1ms"},
    {"max_connections_zero", true, "[server]\nmax_connections = 0\n", 10, "server.max_connections",
     "allowed: 1 to 1000000"},
    {"max_connections_float", true, "[server]\nmax_connections = 10.0\n", 10,
     "server.max_connections", "must be an integer"},
    // [[api.tokens]]
    {"no_tokens", false, "", 0, "api.tokens", "at least one [[api.tokens]]"},
    {"empty_api", false, "[api]\n", 6, "api.tokens", "at least one [[api.tokens]]"},
    {"tokens_not_array", false, "[api]\ntokens = \"x\"\n", 7, "api.tokens", "must be an array"},
    {"plain_token", false, "[[api.tokens]]\nname = \"a\"\ntoken = \"secret\"\n", 8,
     "api.tokens[0].token", "store only the SHA-256 hash"},
    {"token_missing_name", false,
     "[[api.tokens]]\nsha256 = "
     "\"c91cbbedf8c712e8e2b7517ddeca8fe4fde839ebd8339e0b2001363002b37712\"\n",
     6, "api.tokens[0].name", "missing"},
    {"token_empty_name", false, "[[api.tokens]]\nname = \"\"\n", 7, "api.tokens[0].name",
     "must not be empty"},
    {"token_missing_hash", false, "[[api.tokens]]\nname = \"a\"\n", 6, "api.tokens[0].sha256",
     "missing"},
    {"token_short_hash", false, "[[api.tokens]]\nname = \"a\"\nsha256 = \"abc123\"\n", 8,
     "api.tokens[0].sha256", "64 hex characters (got 6 characters)"},
    {"token_non_hex", false,
     "[[api.tokens]]\nname = \"a\"\nsha256 = "
     "\"g91cbbedf8c712e8e2b7517ddeca8fe4fde839ebd8339e0b2001363002b37712\"\n",
     8, "api.tokens[0].sha256", "64 hex characters"},
    {"token_unknown_key", false, "[[api.tokens]]\nname = \"a\"\nscope = \"all\"\n", 8,
     "api.tokens[0].scope", "unknown key"},
    {"token_duplicate_name", true,
     "[[api.tokens]]\nname = \"shop\"\nsha256 = "
     "\"0000000000000000000000000000000000000000000000000000000000000000\"\n",
     10, "api.tokens[1].name", "already used by the token at line 2"},
    {"token_duplicate_hash", true,
     "[[api.tokens]]\nname = \"crm\"\nsha256 = "
     "\"C91CBBEDF8C712E8E2B7517DDECA8FE4FDE839EBD8339E0B2001363002B37712\"\n",
     11, "api.tokens[1].sha256", "already configured at line 3"},
    // [store]
    {"store_empty_path", true, "[store]\npath = \"\"\n", 10, "store.path", "must name"},
    {"store_batch_zero", true, "[store]\nmax_batch = 0\n", 10, "store.max_batch",
     "allowed: 1 to 100000"},
    {"store_batch_large", true, "[store]\nmax_batch = 100001\n", 10, "store.max_batch",
     "100001 is out of range"},
    {"store_customer_cache_negative", true, "[store]\ncustomer_cache = -1\n", 10,
     "store.customer_cache", "allowed: 0 to 10000000"},
    // [retry]
    {"retry_base_zero", true, "[retry]\nbase = \"0s\"\n", 10, "retry.base", "at least 1ms"},
    {"retry_base_above_default_max", true, "[retry]\nbase = \"2h\"\n", 10, "retry.base",
     "max (1h) must not be shorter than base (2h)"},
    {"retry_max_below_base", true, "[retry]\nbase = \"1m\"\nmax = \"30s\"\n", 11, "retry.max",
     "must not be shorter than base"},
    {"retry_attempts_zero", true, "[retry]\nmax_attempts = 0\n", 10, "retry.max_attempts",
     "allowed: 1 to 1000"},
    {"retry_attempts_large", true, "[retry]\nmax_attempts = 1001\n", 10, "retry.max_attempts",
     "allowed: 1 to 1000"},
    {"retry_age_word", true, "[retry]\nmax_age = \"forever\"\n", 10, "retry.max_age",
     "'forever' is not a duration"},
    {"retry_unknown", true, "[retry]\njitter = true\n", 10, "retry.jitter", "unknown key"},
    // [dispatch]
    {"window_small", true, "[dispatch]\nwindow = 99\n", 10, "dispatch.window",
     "allowed: 100 to 10000000"},
    {"window_large", true, "[dispatch]\nwindow = 10000001\n", 10, "dispatch.window",
     "out of range"},
    // [defaults]
    {"defaults_unknown_channel", true, "[defaults]\nchannels = [\"email\",\n  \"fax\"]\n", 11,
     "defaults.channels[1]", "unknown channel 'fax'; allowed: email, sms, push, messenger"},
    {"defaults_empty", true, "[defaults]\nchannels = []\n", 10, "defaults.channels",
     "at least one channel"},
    {"defaults_twice", true, "[defaults]\nchannels = [\"sms\", \"sms\"]\n", 10,
     "defaults.channels[1]", "listed twice"},
    {"defaults_not_strings", true, "[defaults]\nchannels = [1]\n", 10, "defaults.channels[0]",
     "must be a string"},
    // [channels.*]
    {"unknown_channel", true, "[channels.fax]\nproviders = [\"box\"]\n", 9, "channels.fax",
     "unknown channel; allowed: email, sms, push, messenger"},
    {"channel_not_table", true, "[channels]\nsms = 1\n", 10, "channels.sms", "must be a table"},
    {"channel_no_providers", true, "[channels.sms]\n", 9, "channels.sms.providers", "missing"},
    {"channel_empty_providers", true, "[channels.sms]\nproviders = []\n", 10,
     "channels.sms.providers", "at least one provider"},
    {"channel_provider_twice", true, "[channels.sms]\nproviders = [\"box\", \"box\"]\n", 10,
     "channels.sms.providers[1]", "listed twice"},
    {"channel_unknown_key", true, "[channels.sms]\nproviders = [\"box\"]\nvia = 1\n", 11,
     "channels.sms.via", "unknown key"},
    {"channel_undefined_provider", true,
     "[channels.sms]\nproviders = [\n  \"box\",\n  \"nope\",\n]\n", 12, "channels.sms.providers[1]",
     "provider 'nope' is not defined in [providers] (defined: box)"},
    // [providers.*]
    {"provider_unused", true, "[providers.hook]\nkind = \"webhook\"\nurl = \"http://x/\"\n", 9,
     "providers.hook", "provider hook is not used by any channel"},
    {"provider_no_kind", true, "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\ndir = \"d\"\n",
     11, "providers.x.kind", "missing; known kinds: anything, outbox"},
    {"provider_unknown_kind", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"pigeon\"\n", 12,
     "providers.x.kind", "unknown provider kind 'pigeon'; known kinds: anything"},
    {"provider_kind_type", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = [\"outbox\"]\n", 12,
     "providers.x.kind", "must be a string, not an array"},
    {"provider_bad_name", true,
     "[channels.sms]\nproviders = [\"a.b\"]\n[providers.\"a.b\"]\nkind = \"anything\"\n", 11,
     "providers.\"a.b\"", "only letters, digits"},
    {"provider_concurrency", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\n"
     "max_concurrency = 0\n",
     13, "providers.x.max_concurrency", "allowed: 1 to 10000"},
    {"provider_rate_negative", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\nrate = -1\n", 13,
     "providers.x.rate", "-1 is out of range; allowed: 0 to 1000000"},
    {"provider_rate_nan", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\nrate = nan\n", 13,
     "providers.x.rate", "out of range"},
    {"provider_rate_text", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\nrate = \"fast\"\n",
     13, "providers.x.rate", "must be a number, not a string"},
    {"provider_timeout", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\ntimeout = "
     "\"soon\"\n",
     13, "providers.x.timeout", "'soon' is not a duration"},
    {"plugin_unknown_setting", true,
     "[channels.sms]\nproviders = [\"hook\"]\n[providers.hook]\nkind = \"webhook\"\n"
     "url = \"http://x/\"\ncolour = \"red\"\n",
     14, "providers.hook.colour", "unknown setting 'colour'"},
    {"plugin_bad_value", true,
     "[channels.sms]\nproviders = [\"hook\"]\n[providers.hook]\nkind = \"webhook\"\n"
     "url = \"http://x/\"\nallow_private = \"yes\"\n",
     14, "providers.hook.allow_private", "must be true or false"},
    {"plugin_missing_setting", true,
     "[channels.sms]\nproviders = [\"hook\"]\n[providers.hook]\nkind = \"webhook\"\n", 11,
     "providers.hook.url", "needs an http(s) `url`"},
    {"plugin_own_error", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"own-error\"\n", 11,
     "providers.x", "the fake refuses every configuration"},
    {"plugin_throws", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"throwing\"\n", 11, "providers.x",
     "factory blew up"},
    {"setting_table", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\n"
     "extra = { a = 1 }\n",
     13, "providers.x.extra", "must be a string, number, boolean or an array of those"},
    {"setting_nested_array", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\n"
     "list = [\"a\",\n  [1]]\n",
     14, "providers.x.list[1]", "only strings, numbers and booleans, not an array"},
    {"setting_date", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\n"
     "since = 2026-01-01\n",
     13, "providers.x.since", "not a date"},
    {"secret_and_plain", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\n"
     "password = \"p\"\npassword_file = \"p.txt\"\n",
     14, "providers.x.password_file", "set either `password` or `password_file`, not both"},
    {"secret_not_string", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\n"
     "password_file = 5\n",
     13, "providers.x.password_file", "must be a string"},
    {"secret_empty_name", true,
     "[channels.sms]\nproviders = [\"x\"]\n[providers.x]\nkind = \"anything\"\n"
     "password_file = \"\"\n",
     13, "providers.x.password_file", "must name a file"},
};

INSTANTIATE_TEST_SUITE_P(ConfigLoader, Rejects, ::testing::ValuesIn(kRejectCases),
                         [](const auto& info) { return std::string(info.param.label); });

TEST(ConfigLoader, TopLevelSectionsMustBeTables) {
  auto parsed = parse("server = 5\n" + kBase);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, "config_invalid");
  EXPECT_THAT(parsed.error().message,
              StartsWith("test.toml:1: server: must be a table, not an integer"));
}

TEST(ConfigLoader, RejectsAConfigWithoutChannels) {
  auto parsed = parse(kBase.substr(0, kBase.find("[channels.email]")));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, "config_invalid");
  EXPECT_THAT(parsed.error().message, StartsWith("test.toml: channels: no channel is configured"));
}

struct ParseErrorCase {
  const char* text;
  const char* where;  // "LINE:COL"
};

TEST(ConfigLoader, ReportsTomlSyntaxErrorsWithLineAndColumn) {
  const ParseErrorCase cases[] = {
      {"[server\nlisten = \"x\"\n", "1:8"},
      {"[server]\nlisten = \n", "2:10"},
      {"[server]\nlisten = \"a\"\nlisten = \"b\"\n", "3:1"},
      {"[store]\npath = \"unterminated\n", "2:"},
  };
  for (const auto& c : cases) {
    auto parsed = parse(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.error().code, "config_parse") << c.text;
    EXPECT_THAT(parsed.error().message, StartsWith(std::string("test.toml:") + c.where))
        << parsed.error().message;
  }
}

// ---- accepted values -------------------------------------------------------------------------

TEST(ConfigLoader, MinimalConfigKeepsEveryDefault) {
  Config config = parseOrDie(kBase);
  const Config defaults;
  EXPECT_EQ(config.source, "test.toml");
  EXPECT_TRUE(config.server.listen_tcp);
  EXPECT_EQ(config.server.listen_host, "127.0.0.1");
  EXPECT_EQ(config.server.listen_port, 7447);
  EXPECT_EQ(config.server.unix_socket, "");
  EXPECT_EQ(config.server.max_body_bytes, std::size_t{1} << 20);
  EXPECT_EQ(config.server.max_header_bytes, std::size_t{8} << 10);
  EXPECT_EQ(config.server.read_timeout, Millis(10'000));
  EXPECT_EQ(config.server.idle_timeout, Millis(60'000));
  EXPECT_EQ(config.server.max_connections, defaults.server.max_connections);
  EXPECT_EQ(config.store.path, "/var/lib/omnigate/omnigate.db");
  EXPECT_EQ(config.store.max_batch, defaults.store.max_batch);
  EXPECT_EQ(config.store.customer_cache, std::size_t{10'000});
  EXPECT_EQ(config.retry.base, Millis(30'000));
  EXPECT_EQ(config.retry.max, Millis(3'600'000));
  EXPECT_EQ(config.retry.max_attempts, 10);
  EXPECT_EQ(config.retry.max_age, Millis(3LL * 86'400'000));
  EXPECT_EQ(config.dispatch.window, defaults.dispatch.window);
  EXPECT_EQ(config.default_channels, defaults.default_channels);
  ASSERT_EQ(config.tokens.size(), 1u);
  EXPECT_EQ(config.tokens[0].name, "shop");
  EXPECT_EQ(config.tokens[0].sha256, sha256Of("dev-token"));
  ASSERT_EQ(config.channels.size(), 1u);
  EXPECT_EQ(config.channels.at("email").providers, std::vector<std::string>{"box"});
  ASSERT_EQ(config.providers.size(), 1u);
  const auto& box = config.providers.at("box");
  EXPECT_EQ(box.plugin.name, "box");
  EXPECT_EQ(box.plugin.kind, "outbox");
  EXPECT_EQ(box.max_concurrency, 8);
  EXPECT_EQ(box.rate, 0);
  EXPECT_EQ(box.timeout, Millis(30'000));
  ASSERT_EQ(box.plugin.settings.count("dir"), 1u);
  EXPECT_EQ(box.plugin.settings.at("dir").value, "/etc/omnigate/out");
  EXPECT_EQ(box.plugin.settings.at("dir").line, 8);
  EXPECT_EQ(box.plugin.settings.count("kind"), 0u) << "daemon-owned keys stay out of settings";
}

TEST(ConfigLoader, ReadsEverySectionKey) {
  Config config = parseOrDie(kBase + R"(
[server]
listen = "0.0.0.0:8080"
unix_socket = "run/api.sock"
max_body = "64KiB"
max_header = 2048
read_timeout = "1s500ms"
idle_timeout = "2m"
max_connections = 17
[[api.tokens]]
name = "crm"
sha256 = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"
[store]
path = "/data/og.db"
max_batch = 7
[retry]
base = "1s"
max = "1s"
max_attempts = 1000
max_age = "12h"
[dispatch]
window = 100
[defaults]
channels = ["email", "sms"]
[channels.sms]
providers = ["hook", "box"]
[providers.hook]
kind = "webhook"
url = "http://127.0.0.1:9/x"
max_concurrency = 10000
rate = 0.5
timeout = "250ms"
)");
  EXPECT_EQ(config.server.listen_host, "0.0.0.0");
  EXPECT_EQ(config.server.listen_port, 8080);
  EXPECT_EQ(config.server.unix_socket, "/etc/omnigate/run/api.sock");
  EXPECT_EQ(config.server.max_body_bytes, 65'536u);
  EXPECT_EQ(config.server.max_header_bytes, 2048u);
  EXPECT_EQ(config.server.read_timeout, Millis(1500));
  EXPECT_EQ(config.server.idle_timeout, Millis(120'000));
  EXPECT_EQ(config.server.max_connections, 17u);
  ASSERT_EQ(config.tokens.size(), 2u);
  EXPECT_EQ(config.tokens[1].name, "crm");
  EXPECT_EQ(config.tokens[1].sha256[0], 0x00);
  EXPECT_EQ(config.tokens[1].sha256[10], 0xaa);
  EXPECT_EQ(config.tokens[1].sha256[15], 0xff);
  EXPECT_EQ(config.tokens[1].sha256[31], 0xff);
  EXPECT_EQ(config.store.path, "/data/og.db");
  EXPECT_EQ(config.store.max_batch, 7u);
  EXPECT_EQ(config.retry.base, Millis(1000));
  EXPECT_EQ(config.retry.max, Millis(1000));
  EXPECT_EQ(config.retry.max_attempts, 1000);
  EXPECT_EQ(config.retry.max_age, Millis(43'200'000));
  EXPECT_EQ(config.dispatch.window, 100u);
  EXPECT_EQ(config.default_channels, (std::vector<std::string>{"email", "sms"}));
  EXPECT_EQ(config.channels.at("sms").providers, (std::vector<std::string>{"hook", "box"}));
  const auto& hook = config.providers.at("hook");
  EXPECT_EQ(hook.max_concurrency, 10000);
  EXPECT_DOUBLE_EQ(hook.rate, 0.5);
  EXPECT_EQ(hook.timeout, Millis(250));
  EXPECT_EQ(hook.plugin.settings.size(), 1u) << "only url is a plugin setting";
}

TEST(ConfigLoader, ParsesListenForms) {
  struct Case {
    const char* listen;
    bool tcp;
    const char* host;
    int port;
  } cases[] = {
      {"127.0.0.1:0", true, "127.0.0.1", 0},
      {"0.0.0.0:65535", true, "0.0.0.0", 65535},
      {"[::1]:7447", true, "::1", 7447},
      {"[::]:80", true, "::", 80},
      {"", false, "", 0},
  };
  for (const auto& c : cases) {
    Config config = parseOrDie(kBase + "[server]\nlisten = \"" + c.listen +
                               "\"\nunix_socket = \"/run/og.sock\"\n");
    EXPECT_EQ(config.server.listen_tcp, c.tcp) << c.listen;
    if (c.tcp) {
      EXPECT_EQ(config.server.listen_host, c.host) << c.listen;
      EXPECT_EQ(config.server.listen_port, c.port) << c.listen;
    }
    EXPECT_EQ(config.server.unix_socket, "/run/og.sock");
  }
}

TEST(ConfigLoader, AcceptsSizesAsBytesOrUnits) {
  struct Case {
    const char* value;
    std::size_t bytes;
  } cases[] = {{"1024", 1024},           {"\"1024\"", 1024},      {"\"2KiB\"", 2048},
               {"\"1MiB\"", 1u << 20},   {"\"1 MiB\"", 1u << 20}, {"\"64KB\"", 64'000},
               {"\"10MB\"", 10'000'000}, {"\"1GiB\"", 1u << 30},  {"\"4096B\"", 4096}};
  for (const auto& c : cases) {
    Config config = parseOrDie(kBase + "[server]\nmax_body = " + c.value + "\n");
    EXPECT_EQ(config.server.max_body_bytes, c.bytes) << c.value;
  }
}

TEST(ConfigLoader, ResolvesRelativePathsAgainstBaseDir) {
  Config config = parseOrDie(kBase + R"(
[store]
path = "state/../db/og.db"
[channels.sms]
providers = ["any"]
[providers.any]
kind = "anything"
spool_dir = "spool"
key_path = "/abs/key.pem"
cache_dir = ""
url = "relative/not/a/path"
paths = ["a", "b"]
success_json_path = "result.status"
)",
                             "/srv/og");
  EXPECT_EQ(config.store.path, "/srv/og/db/og.db");
  EXPECT_EQ(config.providers.at("box").plugin.settings.at("dir").value, "/srv/og/out");
  const auto& settings = config.providers.at("any").plugin.settings;
  EXPECT_EQ(settings.at("spool_dir").value, "/srv/og/spool");
  EXPECT_EQ(settings.at("key_path").value, "/abs/key.pem");
  EXPECT_EQ(settings.at("cache_dir").value, "") << "empty means unset, not the base dir";
  EXPECT_EQ(settings.at("url").value, "relative/not/a/path");
  EXPECT_EQ(settings.at("paths").values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(settings.at("success_json_path").value, "result.status") << "a JSON path, not a file";
}

TEST(ConfigLoader, ResolvesTemplatesDirAndCaFile) {
  Config none = parseOrDie(kBase);
  EXPECT_EQ(none.templates.dir, "") << "no templates unless configured";
  EXPECT_EQ(none.tls.ca_file, "") << "the system store unless configured";
  Config config =
      parseOrDie(kBase + "[templates]\ndir = \"tpl\"\n[tls]\nca_file = \"/dev/null\"\n", "/srv/og");
  EXPECT_EQ(config.templates.dir, "/srv/og/tpl");
  EXPECT_EQ(config.templates.dir_line, 10);
  EXPECT_EQ(config.tls.ca_file, "/dev/null");
}

TEST(ConfigLoader, RendersPluginSettingsAsTextWithLines) {
  Config config = parseOrDie(kBase + R"([channels.sms]
providers = ["any"]
[providers.any]
kind = "anything"
name = "Shop"
retries = 3
big = -9007199254740993
ratio = 0.25
whole = 2.0
verbose = true
quiet = false
mixed = ["x", 1, 1.5, false]
empty = []
)");
  const auto& settings = config.providers.at("any").plugin.settings;
  struct Case {
    const char* key;
    const char* value;
    int line;
  } cases[] = {{"name", "Shop", 13},  {"retries", "3", 14}, {"big", "-9007199254740993", 15},
               {"ratio", "0.25", 16}, {"whole", "2", 17},   {"verbose", "true", 18},
               {"quiet", "false", 19}};
  for (const auto& c : cases) {
    ASSERT_EQ(settings.count(c.key), 1u) << c.key;
    EXPECT_EQ(settings.at(c.key).value, c.value) << c.key;
    EXPECT_FALSE(settings.at(c.key).is_array) << c.key;
    EXPECT_EQ(settings.at(c.key).line, c.line) << c.key;
  }
  const auto& mixed = settings.at("mixed");
  EXPECT_TRUE(mixed.is_array);
  EXPECT_EQ(mixed.values, (std::vector<std::string>{"x", "1", "1.5", "false"}));
  EXPECT_EQ(mixed.line, 20);
  EXPECT_TRUE(settings.at("empty").is_array);
  EXPECT_TRUE(settings.at("empty").values.empty());
}

TEST(ConfigLoader, AProviderMayServeSeveralChannels) {
  Config config = parseOrDie(kBase + "[channels.push]\nproviders = [\"box\"]\n");
  EXPECT_EQ(config.channels.size(), 2u);
  EXPECT_EQ(config.providers.size(), 1u);
}

TEST(ConfigLoader, EmbeddedDefaultParsesWithAnOutboxRegistry) {
  channels::ProviderRegistry registry;
  ASSERT_TRUE(registry.add("outbox", &makeFakeOutbox).ok());
  auto parsed = parseConfig(embeddedDefaultConfig(), "<embedded>", "/var/lib/omnigate", registry);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Config& config = *parsed;
  EXPECT_EQ(config.source, "<embedded>");
  EXPECT_TRUE(config.server.listen_tcp);
  EXPECT_EQ(config.server.listen_host, "127.0.0.1");
  EXPECT_EQ(config.server.listen_port, 7447);
  EXPECT_EQ(config.server.unix_socket, "");
  ASSERT_EQ(config.tokens.size(), 1u);
  EXPECT_EQ(config.tokens[0].name, "dev");
  EXPECT_EQ(config.tokens[0].sha256, sha256Of("dev-token"));
  EXPECT_EQ(config.store.path, "/var/lib/omnigate/omnigate.db");
  EXPECT_EQ(config.retry.base, RetryConfig{}.base);
  EXPECT_EQ(config.retry.max, RetryConfig{}.max);
  EXPECT_EQ(config.retry.max_attempts, RetryConfig{}.max_attempts);
  EXPECT_EQ(config.retry.max_age, RetryConfig{}.max_age);
  for (const char* channel : {"email", "sms", "push", "messenger"}) {
    const std::string name = std::string("outbox-") + channel;
    ASSERT_EQ(config.channels.count(channel), 1u) << channel;
    EXPECT_EQ(config.channels.at(channel).providers, std::vector<std::string>{name});
    ASSERT_EQ(config.providers.count(name), 1u) << name;
    EXPECT_EQ(config.providers.at(name).plugin.kind, "outbox");
    EXPECT_EQ(config.providers.at(name).plugin.settings.at("dir").value,
              "/var/lib/omnigate/outbox");
  }
  EXPECT_EQ(config.providers.size(), 4u);
}

TEST(ConfigLoader, EmbeddedDefaultNeedsTheOutboxKind) {
  channels::ProviderRegistry empty;
  auto parsed = parseConfig(embeddedDefaultConfig(), "<embedded>", "/var/lib/omnigate", empty);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.error().message, HasSubstr("unknown provider kind 'outbox'"));
}

// ---- files: the config itself and secrets ----------------------------------------------------

class ConfigFiles : public ::testing::Test {
 protected:
  fs::path write(const fs::path& path, const std::string& content, fs::perms mode) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    fs::permissions(path, mode);
    return path;
  }

  std::string secretConfig(const std::string& file_value) const {
    return kBase + "[channels.sms]\nproviders = [\"any\"]\n[providers.any]\nkind = \"anything\"\n" +
           "password_file = \"" + file_value + "\"\n";  // line 13
  }

  Result<Config> parseSecret(const std::string& file_value) {
    return parse(secretConfig(file_value), dir_.string());
  }

  omnigate::testing::ScratchDir scratch_{"omnigate-config-test"};
  const fs::path& dir_ = scratch_.path();
  static constexpr fs::perms kOwnerOnly = fs::perms::owner_read | fs::perms::owner_write;
};

TEST_F(ConfigFiles, LoadsAFileAndResolvesAgainstItsDirectory) {
  auto path = write(dir_ / "etc" / "omnigate.toml", kBase + "[store]\npath = \"og.db\"\n",
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  auto registry = fakeRegistry();
  auto loaded = loadConfigFile(path.string(), registry);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->source, path.string());
  EXPECT_EQ(loaded->store.path, (dir_ / "etc" / "og.db").string());
  EXPECT_EQ(loaded->providers.at("box").plugin.settings.at("dir").value,
            (dir_ / "etc" / "out").string());
}

TEST_F(ConfigFiles, ErrorsNameTheFileTheyCameFrom) {
  auto path = write(dir_ / "bad.toml", kBase + "[server]\nbogus = 1\n", kOwnerOnly);
  auto registry = fakeRegistry();
  auto loaded = loadConfigFile(path.string(), registry);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, StartsWith(path.string() + ":10: server.bogus: "));
}

TEST_F(ConfigFiles, MissingOrUnreadableConfigIsConfigMissing) {
  auto registry = fakeRegistry();
  const std::string missing = (dir_ / "nope.toml").string();
  auto loaded = loadConfigFile(missing, registry);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, "config_missing");
  EXPECT_THAT(loaded.error().message, HasSubstr(missing));
  EXPECT_THAT(loaded.error().message, HasSubstr("No such file or directory"));

  auto directory = loadConfigFile(dir_.string(), registry);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().code, "config_missing");
  EXPECT_THAT(directory.error().message, HasSubstr("Is a directory"));
}

TEST_F(ConfigFiles, ReadsSecretBesideTheConfigAndStripsOneNewline) {
  ScopedEnv no_credentials("CREDENTIALS_DIRECTORY", std::nullopt);
  struct Case {
    const char* content;
    const char* secret;
  } cases[] = {{"s3cret\n", "s3cret"},
               {"s3cret", "s3cret"},
               {"s3cret\r\n", "s3cret"},
               {"two\n\n", "two\n"},
               {"-----BEGIN KEY-----\nAAA\n-----END KEY-----\n",
                "-----BEGIN KEY-----\nAAA\n-----END KEY-----"}};
  for (const auto& c : cases) {
    write(dir_ / "secrets" / "smtp.pass", c.content, kOwnerOnly);
    auto parsed = parseSecret("secrets/smtp.pass");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const auto& settings = parsed->providers.at("any").plugin.settings;
    EXPECT_EQ(settings.count("password_file"), 0u);
    ASSERT_EQ(settings.count("password"), 1u);
    EXPECT_EQ(settings.at("password").value, c.secret);
    EXPECT_EQ(settings.at("password").line, 13);
  }
}

TEST_F(ConfigFiles, CredentialsDirectoryWinsWhenItHasTheFile) {
  write(dir_ / "smtp.pass", "beside-config\n", kOwnerOnly);
  write(dir_ / "creds" / "smtp.pass", "from-systemd\n", kOwnerOnly);
  {
    ScopedEnv credentials("CREDENTIALS_DIRECTORY", (dir_ / "creds").string());
    auto parsed = parseSecret("smtp.pass");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->providers.at("any").plugin.settings.at("password").value, "from-systemd");
  }
  {
    ScopedEnv credentials("CREDENTIALS_DIRECTORY", (dir_ / "empty-creds").string());
    auto parsed = parseSecret("smtp.pass");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->providers.at("any").plugin.settings.at("password").value, "beside-config");
  }
  {
    ScopedEnv credentials("CREDENTIALS_DIRECTORY", (dir_ / "creds").string());
    auto parsed = parseSecret((dir_ / "smtp.pass").string());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->providers.at("any").plugin.settings.at("password").value, "beside-config")
        << "an absolute path is used as written";
  }
}

TEST_F(ConfigFiles, RefusesSecretsOthersCanRead) {
  ScopedEnv no_credentials("CREDENTIALS_DIRECTORY", std::nullopt);
  const fs::perms too_open[] = {
      kOwnerOnly | fs::perms::group_read | fs::perms::others_read,  // 0644
      kOwnerOnly | fs::perms::group_read,                           // 0640
      kOwnerOnly | fs::perms::others_write,                         // 0602
  };
  const auto file = dir_ / "smtp.pass";
  for (auto mode : too_open) {
    write(file, "s3cret\n", mode);
    auto parsed = parseSecret("smtp.pass");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().code, "config_invalid");
    EXPECT_THAT(
        parsed.error().message,
        StartsWith("test.toml:13: providers.any.password_file: secret file " + file.string()));
    EXPECT_THAT(parsed.error().message, HasSubstr("chmod 600 " + file.string()));
    EXPECT_THAT(parsed.error().message, ::testing::Not(HasSubstr("s3cret")));
  }
  write(file, "s3cret\n", fs::perms::owner_read);  // 0400, as systemd credentials are
  EXPECT_TRUE(parseSecret("smtp.pass").ok());
}

TEST_F(ConfigFiles, ReportsMissingEmptyAndOddSecretFiles) {
  ScopedEnv no_credentials("CREDENTIALS_DIRECTORY", std::nullopt);
  auto missing = parseSecret("absent.pass");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message,
              StartsWith("test.toml:13: providers.any.password_file: cannot read secret file " +
                         (dir_ / "absent.pass").string() + ": No such file or directory"));

  write(dir_ / "empty.pass", "\n", kOwnerOnly);
  auto empty = parseSecret("empty.pass");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message, HasSubstr("is empty"));

  fs::create_directories(dir_ / "adir");
  fs::permissions(dir_ / "adir", fs::perms::owner_all);
  auto directory = parseSecret("adir");
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.error().message, HasSubstr("is not a regular file"));

  // A FIFO would block the start (or a reload) until someone writes to it.
  ASSERT_EQ(::mkfifo((dir_ / "fifo.pass").c_str(), 0600), 0);
  auto fifo = parseSecret("fifo.pass");
  ASSERT_FALSE(fifo.ok());
  EXPECT_THAT(fifo.error().message, HasSubstr("is not a regular file"));

  write(dir_ / "huge.pass", std::string((1 << 20) + 1, 'x'), kOwnerOnly);
  auto huge = parseSecret("huge.pass");
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.error().message, HasSubstr("larger than"));
}

TEST_F(ConfigFiles, PluginComplaintAboutASecretPointsAtTheFileKey) {
  ScopedEnv no_credentials("CREDENTIALS_DIRECTORY", std::nullopt);
  write(dir_ / "hook.token", "t0ken\n", kOwnerOnly);
  auto parsed = parse(kBase + R"([channels.sms]
providers = ["hook"]
[providers.hook]
kind = "outbox"
dir = "x"
token_file = "hook.token"
)",
                      dir_.string());
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.error().message,
              StartsWith("test.toml:14: providers.hook.token_file: unknown setting 'token'"));
}

// ---- the shipped sample ----------------------------------------------------------------------

fs::path sampleConfigPath() {
  // tests/unit/daemon/config/<this file> -> repository root -> etc/omnigate.toml
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path().parent_path() /
         "etc" / "omnigate.toml";
}

TEST(SampleConfig, LoadsWithFakeKinds) {
  channels::ProviderRegistry registry;
  ASSERT_TRUE(registry.add("outbox", &makeFakeOutbox).ok());
  ASSERT_TRUE(registry.add("webhook", &makeFakeWebhook).ok());
  auto loaded = loadConfigFile(sampleConfigPath().string(), registry);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_FALSE(loaded->tokens.empty());
  EXPECT_FALSE(loaded->channels.empty());
  EXPECT_TRUE(loaded->providers.count("mail-hook"));
}

TEST(SampleConfig, LoadsWithTheBuiltinKinds) {
  channels::ProviderRegistry registry;
  channels::registerBuiltinProviders(registry);
  auto loaded = loadConfigFile(sampleConfigPath().string(), registry);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
}

// Every key the sample shows commented out in the daemon-owned sections is a real key: turning
// them all on must still load.
TEST(SampleConfig, CommentedDefaultsAreValidKeys) {
  std::ifstream in(sampleConfigPath());
  ASSERT_TRUE(in) << sampleConfigPath();
  std::string text;
  std::string line;
  bool in_daemon_section = false;
  int uncommented = 0;
  while (std::getline(in, line)) {
    if (line.rfind("[", 0) == 0) {
      in_daemon_section = line == "[server]" || line == "[store]" || line == "[retry]" ||
                          line == "[dispatch]" || line == "[defaults]";
    }
    // "# key = value" with a single space is a commented default; prose comments differ.
    if (in_daemon_section && line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos &&
        line.find(' ', 2) == line.find(" = ")) {
      line = line.substr(2);
      ++uncommented;
    }
    text += line + "\n";
  }
  EXPECT_GE(uncommented, 8);
  channels::ProviderRegistry registry;
  channels::registerBuiltinProviders(registry);
  auto parsed = parseConfig(text, "sample", "/etc/omnigate", registry);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->server.max_body_bytes, std::size_t{1} << 20);
  EXPECT_EQ(parsed->dispatch.window, DispatchConfig{}.window);
}

}  // namespace
}  // namespace omnigate::config
