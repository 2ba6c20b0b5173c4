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

constexpr char kAppSecret[] = "wa-app-secret";

ProviderConfig whatsappConfig(const testing::SettingMap& changes = {}) {
  return makeConfig("whatsapp",
                    {{"access_token", "EAAG-test-token"},
                     {"phone_number_id", "106540352242922"},
                     {"app_secret", kAppSecret}},
                    changes);
}

ProviderPtr whatsapp(const testing::SettingMap& changes = {}) {
  return testing::mustMake(&makeWhatsappProvider, whatsappConfig(changes));
}

OutboundMessage message(const std::string& text = "Your order A-17 has shipped") {
  return testing::textMessage("messenger", "+15551234567", text);
}

boost::json::value bodyOf(const HttpRequest& request) { return boost::json::parse(request.body); }

TEST(WhatsappEncode, SendsFreeTextByDefault) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  HttpRequest req = http(provider->encode(message()));
  EXPECT_EQ(req.method, HttpMethod::Post);
  EXPECT_EQ(req.url, "https://graph.facebook.com/v19.0/106540352242922/messages");
  EXPECT_EQ(header(req, "Authorization"), "Bearer EAAG-test-token");
  EXPECT_EQ(header(req, "Content-Type"), "application/json");
  EXPECT_EQ(bodyOf(req), boost::json::parse(R"({"messaging_product":"whatsapp",
      "recipient_type":"individual","to":"15551234567","type":"text",
      "text":{"preview_url":false,"body":"Your order A-17 has shipped"}})"));
}

TEST(WhatsappEncode, SendsTheConfiguredTemplateWithTheTextAsParameter) {
  auto provider =
      whatsapp({{"template_name", "order_update"}, {"base_url", "http://127.0.0.1:1/v1/"}});
  ASSERT_TRUE(provider);
  OutboundMessage localized = message("A-17");
  localized.locale = "ru-RU";
  HttpRequest req = http(provider->encode(localized));
  EXPECT_EQ(req.url, "http://127.0.0.1:1/v1/106540352242922/messages");
  EXPECT_EQ(bodyOf(req), boost::json::parse(R"({"messaging_product":"whatsapp",
      "recipient_type":"individual","to":"15551234567","type":"template",
      "template":{"name":"order_update","language":{"code":"ru_RU","policy":"deterministic"},
      "components":[{"type":"body","parameters":[{"type":"text","text":"A-17"}]}]}})"));

  auto fixed = whatsapp({{"template_name", "hello_world"}, {"template_language", "en_US"}});
  ASSERT_TRUE(fixed);
  auto body = bodyOf(http(fixed->encode(message(""))));
  EXPECT_EQ(body.at("template").at("language").at("code"), "en_US");
  EXPECT_FALSE(body.at("template").as_object().contains("components"));
}

TEST(WhatsappEncode, MessageDataCanNameTheTemplate) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  OutboundMessage templated = message();
  templated.data_json = R"({"whatsapp_template":{"name":"cart_reminder","language":"de",
      "components":[{"type":"body","parameters":[{"type":"text","text":"3"}]}]}})";
  auto body = bodyOf(http(provider->encode(templated)));
  EXPECT_EQ(body.at("type"), "template");
  EXPECT_EQ(body.at("template"), boost::json::parse(R"({"name":"cart_reminder",
      "language":{"code":"de","policy":"deterministic"},
      "components":[{"type":"body","parameters":[{"type":"text","text":"3"}]}]})"));
  templated.data_json = R"({"whatsapp_template":{"language":"de"}})";
  auto nameless = provider->encode(templated);
  ASSERT_FALSE(nameless.ok());
  EXPECT_EQ(nameless.error().code, "bad_template");
}

TEST(WhatsappEncode, RefusesEmptyAndOverlongTexts) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  EXPECT_FALSE(provider->encode(message("")).ok());
  EXPECT_TRUE(provider->encode(message(std::string(4096, 'a'))).ok());
  EXPECT_FALSE(provider->encode(message(std::string(4097, 'a'))).ok());
}

std::string graphError(int code, const std::string& text) {
  return R"({"error":{"message":"(#)" + std::to_string(code) + ") " + text +
         R"(","type":"OAuthException","code":)" + std::to_string(code) +
         R"(,"error_data":{"messaging_product":"whatsapp","details":"details of )" +
         std::to_string(code) + R"("},"fbtrace_id":"A4O5a8RAgePwbcGSu"}})";
}

struct InterpretCase {
  int code;
  long status;
  Disposition disposition;
  bool pause;
};

class WhatsappInterpret : public ::testing::TestWithParam<InterpretCase> {};

TEST_P(WhatsappInterpret, ClassifiesByGraphCode) {
  const InterpretCase& c = GetParam();
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(message(), reply(c.status, graphError(c.code, "text")));
  EXPECT_EQ(verdict.disposition, c.disposition) << c.code << ": " << toString(verdict.disposition);
  EXPECT_EQ(verdict.pause_provider, c.pause) << c.code;
  EXPECT_EQ(verdict.provider_code, std::to_string(c.code));
  EXPECT_NE(verdict.detail.find("details of " + std::to_string(c.code)), std::string::npos);
}

// Statuses vary on purpose: Meta says the code decides, whatever the HTTP status.
INSTANTIATE_TEST_SUITE_P(
    Codes, WhatsappInterpret,
    ::testing::Values(InterpretCase{190, 401, Disposition::Misconfigured, true},
                      InterpretCase{0, 401, Disposition::Misconfigured, true},
                      InterpretCase{10, 403, Disposition::Misconfigured, true},
                      InterpretCase{200, 403, Disposition::Misconfigured, true},
                      InterpretCase{4, 400, Disposition::Retry, true},
                      InterpretCase{80007, 400, Disposition::Retry, true},
                      InterpretCase{130429, 429, Disposition::Retry, true},
                      InterpretCase{131048, 400, Disposition::Retry, true},
                      InterpretCase{131056, 400, Disposition::Retry, false},
                      InterpretCase{131000, 500, Disposition::Retry, false},
                      InterpretCase{131016, 503, Disposition::Retry, false},
                      InterpretCase{100, 400, Disposition::Rejected, false},
                      InterpretCase{131026, 400, Disposition::RecipientDead, false},
                      InterpretCase{131030, 400, Disposition::Misconfigured, true},
                      InterpretCase{131047, 400, Disposition::Rejected, false},
                      InterpretCase{131049, 400, Disposition::Rejected, false},
                      InterpretCase{131050, 400, Disposition::OptedOut, false},
                      InterpretCase{132000, 400, Disposition::Rejected, false},
                      InterpretCase{132001, 404, Disposition::Misconfigured, true},
                      InterpretCase{133010, 400, Disposition::Misconfigured, true},
                      InterpretCase{368, 403, Disposition::Misconfigured, true}));

TEST(WhatsappInterpret, AcceptsWithTheWamid) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(
      message(), reply(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"15551234567",
          "wa_id":"15551234567"}],"messages":[{"id":"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI3",
          "message_status":"accepted"}]})"));
  EXPECT_EQ(verdict.disposition, Disposition::Accepted);
  EXPECT_EQ(verdict.provider_message_id, "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI3");
}

TEST(WhatsappInterpret, FallsBackToTheHttpStatus) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  EXPECT_EQ(provider->interpret(message(), reply(502, "Bad Gateway")).disposition,
            Disposition::Retry);
  Verdict throttled = provider->interpret(message(), reply(429, "", std::chrono::seconds(60)));
  EXPECT_EQ(throttled.disposition, Disposition::Retry);
  EXPECT_TRUE(throttled.pause_provider);
  EXPECT_EQ(throttled.retry_after->count(), 60);
  EXPECT_EQ(provider->interpret(message(), reply(401, "")).disposition, Disposition::Misconfigured);
  EXPECT_EQ(provider->interpret(message(), reply(400, graphError(999999, "new"))).disposition,
            Disposition::Rejected);
  // A 200 without a message id cannot be matched to receipts.
  EXPECT_EQ(provider->interpret(message(), reply(200, "{}")).disposition, Disposition::Retry);
}

// The body and its signature: hmac.new(b"wa-app-secret", body, hashlib.sha256).hexdigest(),
// computed independently with Python.
constexpr char kWebhookBody[] =
    R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":)"
    R"("messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":)"
    R"("15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTU1NTE)"
    R"(yMzQ1NjcVAgARGBI3","status":"delivered","timestamp":"1700000000","recipient_id":"1555123)"
    R"(4567"},{"id":"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI4","status":"failed","timestamp":"1700000)"
    R"(001","recipient_id":"15551234567","errors":[{"code":131047,"title":"Re-engagement message)"
    R"(","error_data":{"details":"Message failed to send because more than 24 hours have passed)"
    R"("}}]},{"id":"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI5","status":"sent","timestamp":"1700000002)"
    R"(","recipient_id":"15551234567"}]}}]}]})";
constexpr char kWebhookSignature[] =
    "sha256=eab04153e2a4038cf6fdbcbe59920a5e09d46e68e41ed792402d67c1d8fed981";

InboundRequest webhook(const std::string& body, const std::string& signature) {
  InboundRequest request;
  request.method = "POST";
  request.url = "https://gw.example.com/v1/callbacks/whatsapp-main";
  request.headers = {{"Content-Type", "application/json"}};
  if (!signature.empty()) request.headers.emplace_back("X-Hub-Signature-256", signature);
  request.body = body;
  return request;
}

TEST(WhatsappCallback, ParsesSignedStatuses) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  auto updates = provider->parseCallback(webhook(kWebhookBody, kWebhookSignature));
  ASSERT_TRUE(updates.ok()) << updates.error().message;
  ASSERT_EQ(updates->size(), 2u);  // "sent" is not a receipt
  EXPECT_EQ(updates->at(0).provider_message_id, "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI3");
  EXPECT_EQ(updates->at(0).status, ReceiptStatus::Delivered);
  EXPECT_EQ(updates->at(1).provider_message_id, "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI4");
  EXPECT_EQ(updates->at(1).status, ReceiptStatus::Failed);
  EXPECT_EQ(updates->at(1).code, "131047");
  EXPECT_EQ(updates->at(1).detail,
            "Re-engagement message: Message failed to send because more than 24 hours have passed");
}

TEST(WhatsappCallback, AcceptsUpperCaseHex) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  std::string upper = kWebhookSignature;
  for (std::size_t i = 7; i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(provider->parseCallback(webhook(kWebhookBody, upper)).ok());
}

TEST(WhatsappCallback, RejectsForgedAndUnsignedWebhooks) {
  auto provider = whatsapp();
  ASSERT_TRUE(provider);
  std::string tampered = kWebhookBody;
  tampered.replace(tampered.find("delivered"), 9, "read\",\"x\":\"");
  std::string wrong = kWebhookSignature;
  wrong.back() = '0';
  const InboundRequest forged[] = {
      webhook(kWebhookBody, ""),
      webhook(kWebhookBody, wrong),
      webhook(tampered, kWebhookSignature),
      webhook(kWebhookBody, std::string(kWebhookSignature).substr(7)),  // no "sha256="
      webhook(kWebhookBody, "sha1=eab04153e2a4038cf6fdbcbe59920a5e09d46e68"),
  };
  for (const auto& request : forged) {
    auto result = provider->parseCallback(request);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, "unauthorized");
  }
  auto other = whatsapp({{"app_secret", "another-secret"}});
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->parseCallback(webhook(kWebhookBody, kWebhookSignature)).ok());
  auto unconfigured = whatsapp({{"app_secret", ""}});
  ASSERT_TRUE(unconfigured);
  auto refused = unconfigured->parseCallback(webhook(kWebhookBody, kWebhookSignature));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "unauthorized");
}

struct ConfigCase {
  const char* name;
  testing::SettingMap changes;
  const char* code;
};

class WhatsappConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(WhatsappConfig, RejectsBadSettingsNamingTheKey) {
  auto provider = makeWhatsappProvider(whatsappConfig(GetParam().changes));
  ASSERT_FALSE(provider.ok()) << GetParam().name;
  EXPECT_EQ(provider.error().code, GetParam().code) << provider.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, WhatsappConfig,
    ::testing::Values(
        ConfigCase{"unknown", {{"token", "x"}}, "setting:token"},
        ConfigCase{"no_token", {{"access_token", ""}}, "setting:access_token"},
        ConfigCase{"spaced_token", {{"access_token", "a b"}}, "setting:access_token"},
        ConfigCase{"no_phone_id", {{"phone_number_id", ""}}, "setting:phone_number_id"},
        ConfigCase{"bad_phone_id", {{"phone_number_id", "+1555"}}, "setting:phone_number_id"},
        ConfigCase{"bad_base", {{"base_url", "graph.facebook.com"}}, "setting:base_url"},
        ConfigCase{"language_alone", {{"template_language", "en_US"}}, "setting:template_language"},
        ConfigCase{"bad_preview", {{"preview_url", "maybe"}}, "setting:preview_url"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace omnigate::channels
