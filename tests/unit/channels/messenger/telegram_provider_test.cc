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

constexpr char kBotToken[] = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

ProviderConfig telegramConfig(const testing::SettingMap& changes = {}) {
  return makeConfig("telegram", {{"bot_token", kBotToken}, {"base_url", "http://127.0.0.1:9000"}},
                    changes);
}

ProviderPtr telegram(const testing::SettingMap& changes = {}) {
  return testing::mustMake(&makeTelegramProvider, telegramConfig(changes));
}

OutboundMessage chat(const std::string& text = "Order A-17 shipped!",
                     const std::string& chat_id = "123456789") {
  return testing::textMessage("messenger", chat_id, text);
}

boost::json::value bodyOf(const HttpRequest& request) { return boost::json::parse(request.body); }

TEST(TelegramEncode, BuildsSendMessage) {
  auto provider = telegram();
  ASSERT_TRUE(provider);
  HttpRequest req = http(provider->encode(chat()));
  EXPECT_EQ(req.method, HttpMethod::Post);
  EXPECT_EQ(req.url, std::string("http://127.0.0.1:9000/bot") + kBotToken + "/sendMessage");
  EXPECT_EQ(header(req, "Content-Type"), "application/json");
  EXPECT_EQ(bodyOf(req),
            boost::json::parse(R"({"chat_id":123456789,"text":"Order A-17 shipped!"})"));
}

TEST(TelegramEncode, KeepsUsernamesAndNegativeIds) {
  auto provider = telegram({{"disable_notification", "true"}});
  ASSERT_TRUE(provider);
  auto channel = bodyOf(http(provider->encode(chat("x", "@shop_news"))));
  EXPECT_EQ(channel.at("chat_id"), "@shop_news");
  EXPECT_EQ(channel.at("disable_notification"), true);
  auto group = bodyOf(http(provider->encode(chat("x", "-1001234567890"))));
  EXPECT_EQ(group.at("chat_id"), -1001234567890);
}

struct EscapeCase {
  const char* mode;
  std::string text;
  std::string sent;
};

class TelegramEscaping : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(TelegramEscaping, SendsTheTextLiterally) {
  const EscapeCase& c = GetParam();
  auto provider = telegram({{"parse_mode", c.mode}});
  ASSERT_TRUE(provider);
  auto body = bodyOf(http(provider->encode(chat(c.text))));
  EXPECT_EQ(body.at("text").as_string(), c.sent);
  EXPECT_EQ(body.at("parse_mode").as_string(), c.mode);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, TelegramEscaping,
    ::testing::Values(
        EscapeCase{"MarkdownV2", "Order #A-17 (total: 1.500,00 €)! Use code *SAVE_10*.",
                   R"(Order \#A\-17 \(total: 1\.500,00 €\)\! Use code \*SAVE\_10\*\.)"},
        EscapeCase{"MarkdownV2", R"([link](x) `code` ~s~ >q |p| {b} a=b+c \)",
                   R"(\[link\]\(x\) \`code\` \~s\~ \>q \|p\| \{b\} a\=b\+c \\)"},
        EscapeCase{"MarkdownV2", "Привет, мир", "Привет, мир"},
        EscapeCase{"HTML", R"(<b>5 > 3 & "x"</b>)",
                   "&lt;b&gt;5 &gt; 3 &amp; &quot;x&quot;&lt;/b&gt;"},
        EscapeCase{"HTML", "A-17 *plain* #tag", "A-17 *plain* #tag"}));

TEST(TelegramEncode, RefusesEmptyAndOverlongTexts) {
  auto provider = telegram();
  ASSERT_TRUE(provider);
  EXPECT_FALSE(provider->encode(chat("")).ok());
  EXPECT_TRUE(provider->encode(chat(std::string(4096, 'a'))).ok());
  auto over = provider->encode(chat(std::string(4097, 'a')));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "too_long");
  // 2048 emoji are 4096 UTF-16 units; one more is over.
  std::string emoji;
  for (int i = 0; i < 2048; ++i) emoji += "😀";
  EXPECT_TRUE(provider->encode(chat(emoji)).ok());
  EXPECT_FALSE(provider->encode(chat(emoji + "a")).ok());
}

std::string errorBody(int code, const std::string& description,
                      const std::string& parameters = "") {
  std::string body = R"({"ok":false,"error_code":)" + std::to_string(code) + R"(,"description":")" +
                     description + "\"";
  if (!parameters.empty()) body += ",\"parameters\":" + parameters;
  return body + "}";
}

struct InterpretCase {
  const char* name;
  long status;
  std::string body;
  Disposition disposition;
  bool pause;
  std::string code;
};

class TelegramInterpret : public ::testing::TestWithParam<InterpretCase> {};

TEST_P(TelegramInterpret, MapsBotApiErrors) {
  const InterpretCase& c = GetParam();
  auto provider = telegram();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(chat(), reply(c.status, c.body));
  EXPECT_EQ(verdict.disposition, c.disposition) << c.name << ": " << toString(verdict.disposition);
  EXPECT_EQ(verdict.pause_provider, c.pause) << c.name;
  EXPECT_EQ(verdict.provider_code, c.code) << c.name;
}

// Descriptions exactly as the Bot API server produces them.
INSTANTIATE_TEST_SUITE_P(
    Replies, TelegramInterpret,
    ::testing::Values(
        InterpretCase{"blocked", 403, errorBody(403, "Forbidden: bot was blocked by the user"),
                      Disposition::RecipientDead, false, "403"},
        InterpretCase{"deactivated", 403, errorBody(403, "Forbidden: user is deactivated"),
                      Disposition::RecipientDead, false, "403"},
        InterpretCase{"kicked", 403,
                      errorBody(403, "Forbidden: bot was kicked from the supergroup chat"),
                      Disposition::RecipientDead, false, "403"},
        InterpretCase{"cant_initiate", 403,
                      errorBody(403, "Forbidden: bot can't initiate conversation with a user"),
                      Disposition::RecipientDead, false, "403"},
        InterpretCase{"chat_not_found", 400, errorBody(400, "Bad Request: chat not found"),
                      Disposition::RecipientDead, false, "400"},
        InterpretCase{"migrated", 400,
                      errorBody(400, "Bad Request: group chat was upgraded to a supergroup chat",
                                R"({"migrate_to_chat_id":-1001234567890})"),
                      Disposition::RecipientDead, false, "migrate_to_chat_id:-1001234567890"},
        InterpretCase{"too_long", 400, errorBody(400, "Bad Request: message is too long"),
                      Disposition::Rejected, false, "400"},
        InterpretCase{
            "cant_parse", 400,
            errorBody(400, "Bad Request: can't parse entities: Character '.' is reserved"),
            Disposition::Rejected, false, "400"},
        InterpretCase{"unauthorized", 401, errorBody(401, "Unauthorized"),
                      Disposition::Misconfigured, true, "401"},
        InterpretCase{"not_found", 404, errorBody(404, "Not Found"), Disposition::Misconfigured,
                      true, "404"},
        InterpretCase{"internal", 500, errorBody(500, "Internal Server Error"), Disposition::Retry,
                      false, "500"},
        InterpretCase{"bad_gateway_html", 502, "<html>502 Bad Gateway</html>", Disposition::Retry,
                      false, "502"},
        InterpretCase{"ok_false_in_200", 200, errorBody(403, "Forbidden: user is deactivated"),
                      Disposition::RecipientDead, false, "403"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TelegramInterpret, AcceptsWithTheMessageId) {
  auto provider = telegram();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(
      chat(), reply(200, R"({"ok":true,"result":{"message_id":4711,"date":1700000000,)"
                         R"("chat":{"id":123456789,"type":"private"},"text":"Order"}})"));
  EXPECT_EQ(verdict.disposition, Disposition::Accepted);
  EXPECT_EQ(verdict.provider_message_id, "4711");
}

TEST(TelegramInterpret, HonoursRetryAfterFromBodyAndHeader) {
  auto provider = telegram();
  ASSERT_TRUE(provider);
  std::string body = errorBody(429, "Too Many Requests: retry after 35", R"({"retry_after":35})");
  Verdict from_body = provider->interpret(chat(), reply(429, body));
  EXPECT_EQ(from_body.disposition, Disposition::Retry);
  EXPECT_TRUE(from_body.pause_provider);
  ASSERT_TRUE(from_body.retry_after);
  EXPECT_EQ(from_body.retry_after->count(), 35);
  // Both present: the later one wins, since retrying early extends the ban.
  Verdict both = provider->interpret(chat(), reply(429, body, std::chrono::seconds(40)));
  EXPECT_EQ(both.retry_after->count(), 40);
  Verdict header_only =
      provider->interpret(chat(), reply(429, "Too Many Requests", std::chrono::seconds(5)));
  ASSERT_TRUE(header_only.retry_after);
  EXPECT_EQ(header_only.retry_after->count(), 5);
  EXPECT_TRUE(header_only.pause_provider);
}

TEST(TelegramEscape, FunctionsEscapeEverySpecialCharacter) {
  EXPECT_EQ(escapeTelegramMarkdownV2("_*[]()~`>#+-=|{}.!\\"),
            R"(\_\*\[\]\(\)\~\`\>\#\+\-\=\|\{\}\.\!\\)");
  EXPECT_EQ(escapeTelegramHtml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c'");
}

struct ConfigCase {
  const char* name;
  testing::SettingMap changes;
  const char* code;
};

class TelegramConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(TelegramConfig, RejectsBadSettingsNamingTheKey) {
  auto provider = makeTelegramProvider(telegramConfig(GetParam().changes));
  ASSERT_FALSE(provider.ok()) << GetParam().name;
  EXPECT_EQ(provider.error().code, GetParam().code) << provider.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, TelegramConfig,
    ::testing::Values(
        ConfigCase{"unknown", {{"token", "x"}}, "setting:token"},
        ConfigCase{"no_token", {{"bot_token", ""}}, "setting:bot_token"},
        ConfigCase{"token_with_path", {{"bot_token", "1:a/../b"}}, "setting:bot_token"},
        ConfigCase{"bad_mode", {{"parse_mode", "markdown"}}, "setting:parse_mode"},
        ConfigCase{"bad_base_url", {{"base_url", "api.telegram.org"}}, "setting:base_url"},
        ConfigCase{"bad_bool", {{"disable_notification", "1"}}, "setting:disable_notification"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace omnigate::channels
