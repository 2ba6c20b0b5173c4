// Provider settings checks shared by the built-in providers (channels/generic/message_json.h).

#include <gtest/gtest.h>

#include "channels/generic/message_json.h"
#include "channels/registry.h"

namespace omnigate::channels {
namespace {

ProviderConfig webhook(std::map<std::string, Setting> settings) {
  ProviderConfig config;
  config.name = "hook";
  config.kind = "webhook";
  config.settings = std::move(settings);
  return config;
}

Setting scalar(std::string value) { return Setting{std::move(value), {}, false, 1}; }
Setting list(std::vector<std::string> values) { return Setting{"", std::move(values), true, 1}; }

TEST(CheckKnownSettings, RefusesUnknownKeysAndListsWhereOneValueBelongs) {
  struct Case {
    const char* name;
    std::map<std::string, Setting> settings;
    const char* code;  // "" = accepted
    const char* says;
  };
  const Case cases[] = {
      {"scalars", {{"url", scalar("https://x.example/")}, {"token", scalar("t")}}, "", ""},
      {"unknown",
       {{"url", scalar("https://x.example/")}, {"colour", scalar("red")}},
       "setting:colour",
       "unknown setting 'colour'"},
      // A token written as a list must not become "no token" (requests without auth).
      {"token_list",
       {{"url", scalar("https://x.example/")}, {"token", list({"t"})}},
       "setting:token",
       "must be a single value, not a list"},
      {"empty_list", {{"url", list({})}}, "setting:url", "not a list"},
  };
  for (const auto& c : cases) {
    auto status = checkKnownSettings(webhook(c.settings), {"url", "token", "allow_private"});
    if (std::string(c.code).empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status.error().message;
      continue;
    }
    ASSERT_FALSE(status.ok()) << c.name;
    EXPECT_EQ(status.error().code, c.code) << c.name;
    EXPECT_NE(status.error().message.find(c.says), std::string::npos)
        << c.name << ": " << status.error().message;
  }
}

TEST(CheckKnownSettings, AllowsListsForTheKeysThatTakeThem) {
  auto config = webhook({{"url", scalar("u")}, {"token", list({"a", "b"})}});
  EXPECT_TRUE(checkKnownSettings(config, {"url", "token"}, {"token"}).ok());
}

TEST(WebhookProvider, ATokenListIsRefusedAtConfigTime) {
  ProviderRegistry registry;
  registerBuiltinProviders(registry);
  auto provider = registry.create(
      webhook({{"url", scalar("https://hooks.example/x")}, {"token", list({"secret"})}}));
  ASSERT_FALSE(provider.ok());
  EXPECT_EQ(provider.error().code, "setting:token");
}

}  // namespace
}  // namespace omnigate::channels
