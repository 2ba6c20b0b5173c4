#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "channels/messenger/messenger_providers.h"
#include "tests/unit/channels/sms/provider_test_support.h"

namespace omnigate::channels {
namespace {

using testing::header;
using testing::http;
using testing::makeConfig;
using testing::reply;

constexpr char kHook[] = "https://hooks.slack.com/services/T000/B000/XXXXXXXX";

ProviderConfig webhookConfig(const testing::SettingMap& changes = {}) {
  return makeConfig("chat_webhook", {{"url", kHook}}, changes);
}

ProviderPtr chatWebhook(const testing::SettingMap& changes = {}) {
  return testing::mustMake(&makeChatWebhookProvider, webhookConfig(changes));
}

OutboundMessage message(const std::string& text) {
  return testing::textMessage("messenger", "", text);
}

TEST(ChatWebhookEncode, PostsSlackTextWithEntitiesEscaped) {
  auto provider = chatWebhook();
  ASSERT_TRUE(provider);
  HttpRequest req = http(provider->encode(message("Deploy <prod> & done *bold*")));
  EXPECT_EQ(req.method, HttpMethod::Post);
  EXPECT_EQ(req.url, kHook);
  EXPECT_EQ(header(req, "Content-Type"), "application/json");
  EXPECT_EQ(header(req, "Authorization"), "");  // the URL is the secret
  EXPECT_TRUE(req.refuse_private_destinations);
  EXPECT_EQ(boost::json::parse(req.body),
            boost::json::parse(R"({"text":"Deploy &lt;prod&gt; &amp; done *bold*"})"));
}

TEST(ChatWebhookEncode, MattermostKeepsTheTextAndOverridesApply) {
  auto provider = chatWebhook({{"flavor", "mattermost"},
                               {"url", "http://10.1.2.3:8065/hooks/abc"},
                               {"allow_private", "true"},
                               {"username", "omnigate"},
                               {"channel", "town-square"},
                               {"icon_emoji", ":bell:"}});
  ASSERT_TRUE(provider);
  HttpRequest req = http(provider->encode(message("a <b> & c")));
  EXPECT_FALSE(req.refuse_private_destinations);
  EXPECT_EQ(boost::json::parse(req.body),
            boost::json::parse(R"({"text":"a <b> & c","username":"omnigate",
                                   "channel":"town-square","icon_emoji":":bell:"})"));
  EXPECT_FALSE(provider->encode(message("")).ok());
}

struct InterpretCase {
  long status;
  std::string body;
  Disposition disposition;
  bool pause;
  std::string code;
};

class ChatWebhookInterpret : public ::testing::TestWithParam<InterpretCase> {};

TEST_P(ChatWebhookInterpret, MapsSlackReplies) {
  const InterpretCase& c = GetParam();
  auto provider = chatWebhook();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(message("x"), reply(c.status, c.body));
  EXPECT_EQ(verdict.disposition, c.disposition) << c.body << ": " << toString(verdict.disposition);
  EXPECT_EQ(verdict.pause_provider, c.pause) << c.body;
  EXPECT_EQ(verdict.provider_code, c.code);
}

INSTANTIATE_TEST_SUITE_P(
    Replies, ChatWebhookInterpret,
    ::testing::Values(
        InterpretCase{200, "ok", Disposition::Accepted, false, "200"},
        InterpretCase{400, "invalid_payload", Disposition::Rejected, false, "400 invalid_payload"},
        InterpretCase{400, "user_not_found", Disposition::Rejected, false, "400 user_not_found"},
        InterpretCase{403, "action_prohibited", Disposition::Misconfigured, true,
                      "403 action_prohibited"},
        InterpretCase{404, "channel_not_found", Disposition::Misconfigured, true,
                      "404 channel_not_found"},
        InterpretCase{404, "no_service", Disposition::Misconfigured, true, "404 no_service"},
        InterpretCase{410, "channel_is_archived", Disposition::Misconfigured, true,
                      "410 channel_is_archived"},
        InterpretCase{429, "rate_limited", Disposition::Retry, true, "429 rate_limited"},
        InterpretCase{500, "rollup_error", Disposition::Retry, false, "500 rollup_error"},
        InterpretCase{502, "<html>Bad Gateway</html>", Disposition::Retry, false, "502"}));

TEST(ChatWebhookInterpret, HonoursRetryAfter) {
  auto provider = chatWebhook();
  ASSERT_TRUE(provider);
  Verdict verdict =
      provider->interpret(message("x"), reply(429, "rate_limited", std::chrono::seconds(30)));
  ASSERT_TRUE(verdict.retry_after);
  EXPECT_EQ(verdict.retry_after->count(), 30);
}

TEST(ChatWebhookConfig, RejectsBadSettingsNamingTheKey) {
  const std::pair<testing::SettingMap, const char*> cases[] = {
      {{{"token", "x"}}, "setting:token"},
      {{{"url", ""}}, "setting:url"},
      {{{"url", "hooks.slack.com/x"}}, "setting:url"},
      {{{"flavor", "teams"}}, "setting:flavor"},
      {{{"allow_private", "yes"}}, "setting:allow_private"},
  };
  for (const auto& [changes, code] : cases) {
    auto provider = makeChatWebhookProvider(webhookConfig(changes));
    ASSERT_FALSE(provider.ok()) << code;
    EXPECT_EQ(provider.error().code, code);
  }
}

TEST(SlackEscape, EscapesOnlyTheThreeControlCharacters) {
  EXPECT_EQ(escapeSlackText("<@U123> & *hi* \"q\""), "&lt;@U123&gt; &amp; *hi* \"q\"");
}

}  // namespace
}  // namespace omnigate::channels
