#include <gtest/gtest.h>

#include "channels/sms/sms_providers.h"
#include "tests/unit/channels/sms/provider_test_support.h"

namespace omnigate::channels {
namespace {

using testing::header;
using testing::http;
using testing::makeConfig;
using testing::reply;

ProviderConfig httpSmsConfig(const testing::SettingMap& changes = {}) {
  return makeConfig("http_sms", {{"url", "https://sms.example.net/api/send"}, {"from", "Shop"}},
                    changes);
}

ProviderPtr httpSms(const testing::SettingMap& changes = {}) {
  return testing::mustMake(&makeHttpSmsProvider, httpSmsConfig(changes));
}

OutboundMessage sms(const std::string& text = "Код: 1234 & \"ok\" <b>") {
  return testing::textMessage("sms", "+79161234567", text);
}

TEST(HttpSmsEncode, DefaultsToAFormPost) {
  auto provider = httpSms({{"auth_token", "s3cret"}});
  ASSERT_TRUE(provider);
  auto request = provider->encode(sms("Hi {to} & bye"));
  ASSERT_TRUE(request.ok()) << request.error().message;
  const HttpRequest& req = http(request);
  EXPECT_EQ(req.method, HttpMethod::Post);
  EXPECT_EQ(req.url, "https://sms.example.net/api/send");
  EXPECT_EQ(header(req, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(header(req, "Authorization"), "Bearer s3cret");
  // The text's own "{to}" is data, not a placeholder.
  EXPECT_EQ(req.body, "to=%2B79161234567&text=Hi+%7Bto%7D+%26+bye&from=Shop");
  EXPECT_TRUE(req.refuse_private_destinations);
}

struct BodyCase {
  const char* name;
  std::string content_type;
  std::string body;
  std::string expected;
};

class HttpSmsBody : public ::testing::TestWithParam<BodyCase> {};

TEST_P(HttpSmsBody, EscapesPlaceholdersForTheContentType) {
  const BodyCase& c = GetParam();
  auto provider = httpSms({{"content_type", c.content_type}, {"body", c.body}});
  ASSERT_TRUE(provider);
  OutboundMessage message = sms();
  message.category = "marketing";
  const HttpRequest& req = http(provider->encode(message));
  EXPECT_EQ(req.body, c.expected) << c.name;
  EXPECT_EQ(header(req, "Content-Type"), c.content_type);
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, HttpSmsBody,
    ::testing::Values(
        BodyCase{"json", "application/json",
                 R"({"to":"{to}","msg":"{text}","ref":"{id}","meta":{"cat":"{category}"}})",
                 R"({"to":"+79161234567","msg":"Код: 1234 & \"ok\" <b>",)"
                 R"("ref":"01J9ZQ4N3V6Y7W8X9A0B1C2D3E","meta":{"cat":"marketing"}})"},
        BodyCase{"json_with_charset", "application/json; charset=utf-8", R"({"t":"{text}"})",
                 R"({"t":"Код: 1234 & \"ok\" <b>"})"},
        BodyCase{"xml", "text/xml", "<sms><to>{to}</to><body>{text}</body></sms>",
                 "<sms><to>+79161234567</to><body>Код: 1234 &amp; &quot;ok&quot; &lt;b&gt;"
                 "</body></sms>"},
        BodyCase{"form", "application/x-www-form-urlencoded", "phone={to}&message={text}",
                 "phone=%2B79161234567&message=%D0%9A%D0%BE%D0%B4%3A+1234+%26+%22ok%22+%3Cb%3E"},
        BodyCase{"plain", "text/plain", "{to}|{text}", "+79161234567|Код: 1234 & \"ok\" <b>"},
        BodyCase{"unknown_placeholder_kept", "text/plain", "{phone} {to}", "{phone} +79161234567"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HttpSmsEncode, GetPutsPlaceholdersInTheUrl) {
  auto provider = httpSms({{"method", "get"},
                           {"url", "https://sms.example.net/send?dst={to}&msg={text}&src={from}"},
                           {"auth_header", "X-Api-Key"},
                           {"auth_scheme", "Token"},
                           {"auth_token", "k1"}});
  ASSERT_TRUE(provider);
  const HttpRequest& req = http(provider->encode(sms("a b&c")));
  EXPECT_EQ(req.method, HttpMethod::Get);
  EXPECT_EQ(req.url, "https://sms.example.net/send?dst=%2B79161234567&msg=a+b%26c&src=Shop");
  EXPECT_EQ(req.body, "");
  EXPECT_EQ(header(req, "Content-Type"), "");
  EXPECT_EQ(header(req, "X-Api-Key"), "Token k1");
}

TEST(HttpSmsEncode, AnEmptyAuthSchemeSendsTheBareToken) {
  ProviderConfig config = httpSmsConfig({{"auth_token", "k1"}});
  config.settings["auth_scheme"] = Setting{"", {}, false, 9};  // as TOML's auth_scheme = ""
  auto provider = testing::mustMake(&makeHttpSmsProvider, config);
  ASSERT_TRUE(provider);
  EXPECT_EQ(header(http(provider->encode(sms())), "Authorization"), "k1");
}

TEST(HttpSmsEncode, RefusesOverlongTexts) {
  auto provider = httpSms({{"max_segments", "1"}});
  ASSERT_TRUE(provider);
  std::string text;
  for (int i = 0; i < 71; ++i) text += "ж";
  auto result = provider->encode(sms(text));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, "too_many_segments");
}

struct InterpretCase {
  const char* name;
  testing::SettingMap settings;
  long status;
  std::string body;
  Disposition disposition;
  bool pause;
  std::string message_id;
};

class HttpSmsInterpret : public ::testing::TestWithParam<InterpretCase> {};

TEST_P(HttpSmsInterpret, AppliesSuccessRules) {
  const InterpretCase& c = GetParam();
  auto provider = httpSms(c.settings);
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(sms(), reply(c.status, c.body));
  EXPECT_EQ(verdict.disposition, c.disposition) << c.name << ": " << verdict.detail;
  EXPECT_EQ(verdict.pause_provider, c.pause) << c.name;
  EXPECT_EQ(verdict.provider_message_id, c.message_id) << c.name;
  EXPECT_EQ(verdict.segments, 1);
}

const testing::SettingMap kJsonRules{{"success_json_path", "result.status"},
                                     {"success_json_value", "OK"},
                                     {"message_id_json_path", "result.ids.0"}};

INSTANTIATE_TEST_SUITE_P(
    Replies, HttpSmsInterpret,
    ::testing::Values(
        InterpretCase{"plain_2xx", {}, 200, "whatever", Disposition::Accepted, false, ""},
        InterpretCase{"regex_match",
                      {{"success_regex", "^OK [0-9]+"}},
                      200,
                      "OK 12345",
                      Disposition::Accepted,
                      false,
                      ""},
        InterpretCase{"regex_miss",
                      {{"success_regex", "^OK [0-9]+"}},
                      200,
                      "ERR no balance",
                      Disposition::Rejected,
                      false,
                      ""},
        InterpretCase{"json_value", kJsonRules, 200, R"({"result":{"status":"OK","ids":["m-77"]}})",
                      Disposition::Accepted, false, "m-77"},
        InterpretCase{"json_value_wrong", kJsonRules, 200, R"({"result":{"status":"FAIL"}})",
                      Disposition::Rejected, false, ""},
        InterpretCase{"json_not_json", kJsonRules, 200, "OK", Disposition::Rejected, false, ""},
        InterpretCase{"json_truthy",
                      {{"success_json_path", "ok"}},
                      200,
                      R"({"ok":true})",
                      Disposition::Accepted,
                      false,
                      ""},
        InterpretCase{"json_falsy",
                      {{"success_json_path", "ok"}},
                      200,
                      R"({"ok":false})",
                      Disposition::Rejected,
                      false,
                      ""},
        InterpretCase{"json_numeric_id",
                      {{"message_id_json_path", "id"}},
                      201,
                      R"({"id":42})",
                      Disposition::Accepted,
                      false,
                      "42"},
        InterpretCase{"throttled", {}, 429, "slow down", Disposition::Retry, true, ""},
        InterpretCase{"unauthorized", {}, 401, "bad key", Disposition::Misconfigured, true, ""},
        InterpretCase{"forbidden", {}, 403, "", Disposition::Misconfigured, true, ""},
        InterpretCase{"server_error", {}, 502, "", Disposition::Retry, false, ""},
        InterpretCase{"bad_request", {}, 400, "invalid number", Disposition::Rejected, false, ""}),
    [](const auto& info) { return std::string(info.param.name); });

struct ConfigCase {
  const char* name;
  testing::SettingMap changes;
  const char* code;
};

class HttpSmsConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(HttpSmsConfig, RejectsBadSettingsNamingTheKey) {
  auto provider = makeHttpSmsProvider(httpSmsConfig(GetParam().changes));
  ASSERT_FALSE(provider.ok()) << GetParam().name;
  EXPECT_EQ(provider.error().code, GetParam().code) << provider.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, HttpSmsConfig,
    ::testing::Values(
        ConfigCase{"unknown", {{"token", "x"}}, "setting:token"},
        ConfigCase{"no_url", {{"url", ""}}, "setting:url"},
        ConfigCase{"relative_url", {{"url", "/send"}}, "setting:url"},
        ConfigCase{"bad_method", {{"method", "DELETE"}}, "setting:method"},
        ConfigCase{"json_without_body", {{"content_type", "application/json"}}, "setting:body"},
        ConfigCase{"get_with_body", {{"method", "GET"}, {"body", "x"}}, "setting:body"},
        ConfigCase{"bad_regex", {{"success_regex", "(unclosed"}}, "setting:success_regex"},
        ConfigCase{
            "value_without_path", {{"success_json_value", "OK"}}, "setting:success_json_value"},
        ConfigCase{"header_injection", {{"auth_token", "a\r\nX-Evil: 1"}}, "setting:auth_token"},
        ConfigCase{"bad_private", {{"allow_private", "yes"}}, "setting:allow_private"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HttpSmsConfig, AcceptsPlaceholdersInTheUrlAndPrivateDestinations) {
  auto provider = httpSms({{"url", "http://10.0.0.5/send/{to}"}, {"allow_private", "true"}});
  ASSERT_TRUE(provider);
  const HttpRequest& req = http(provider->encode(sms("x")));
  EXPECT_EQ(req.url, "http://10.0.0.5/send/%2B79161234567");
  EXPECT_FALSE(req.refuse_private_destinations);
}

}  // namespace
}  // namespace omnigate::channels
