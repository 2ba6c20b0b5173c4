#include <gtest/gtest.h>

#include "channels/sms/sms_providers.h"
#include "tests/unit/channels/sms/provider_test_support.h"

namespace omnigate::channels {
namespace {

using testing::formMap;
using testing::header;
using testing::http;
using testing::makeConfig;
using testing::reply;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kToken[] = "tw-secret-token";
constexpr char kCallbackUrl[] = "https://gw.example.com/v1/callbacks/twilio-main";

ProviderConfig twilioConfig(const testing::SettingMap& changes = {}) {
  return makeConfig("twilio",
                    {{"account_sid", kAccount},
                     {"auth_token", kToken},
                     {"from", "+15557654321"},
                     {"base_url", "http://127.0.0.1:8081/"},
                     {"status_callback_url", kCallbackUrl}},
                    changes);
}

ProviderPtr twilio(const testing::SettingMap& changes = {}) {
  return testing::mustMake(&makeTwilioProvider, twilioConfig(changes));
}

OutboundMessage sms(const std::string& text = "Hello & welcome") {
  return testing::textMessage("sms", "+15551234567", text);
}

TEST(TwilioEncode, BuildsTheMessagesApiRequest) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  auto request = provider->encode(sms());
  ASSERT_TRUE(request.ok()) << request.error().message;
  const HttpRequest& req = http(request);
  EXPECT_EQ(req.method, HttpMethod::Post);
  EXPECT_EQ(req.url, std::string("http://127.0.0.1:8081/2010-04-01/Accounts/") + kAccount +
                         "/Messages.json");
  // base64("AC0123456789abcdef0123456789abcdef:tw-secret-token"), computed with base64(1).
  EXPECT_EQ(header(req, "Authorization"),
            "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy1zZWNyZXQtdG9rZW4=");
  EXPECT_EQ(header(req, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(req.body,
            "To=%2B15551234567&From=%2B15557654321&Body=Hello+%26+welcome&StatusCallback="
            "https%3A%2F%2Fgw.example.com%2Fv1%2Fcallbacks%2Ftwilio-main");
}

TEST(TwilioEncode, PicksTheSenderByCategory) {
  auto provider = twilio({{"from_marketing", "ShopPromo"},
                          {"from", ""},
                          {"messaging_service_sid", "MG0123456789abcdef0123456789abcdef"},
                          {"validity_period", "600"}});
  ASSERT_TRUE(provider);
  OutboundMessage marketing = sms();
  marketing.category = "marketing";
  auto fields = formMap(http(provider->encode(marketing)).body);
  EXPECT_EQ(fields["From"], "ShopPromo");
  EXPECT_EQ(fields.count("MessagingServiceSid"), 0u);
  EXPECT_EQ(fields["ValidityPeriod"], "600");
  auto other = formMap(http(provider->encode(sms())).body);
  EXPECT_EQ(other.count("From"), 0u);
  EXPECT_EQ(other["MessagingServiceSid"], "MG0123456789abcdef0123456789abcdef");
}

TEST(TwilioEncode, UsesApiKeyCredentialsWhenGiven) {
  auto provider = twilio({{"api_key_sid", "SKkey"}, {"api_key_secret", "keysecret"}});
  ASSERT_TRUE(provider);
  // base64("SKkey:keysecret")
  EXPECT_EQ(header(http(provider->encode(sms())), "Authorization"), "Basic U0trZXk6a2V5c2VjcmV0");
}

TEST(TwilioEncode, RefusesTextsOverTheSegmentCap) {
  auto provider = twilio({{"max_segments", "2"}});
  ASSERT_TRUE(provider);
  EXPECT_TRUE(provider->encode(sms(std::string(306, 'a'))).ok());
  auto three = provider->encode(sms(std::string(307, 'a')));
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.error().code, "too_many_segments");
  std::string cyrillic;
  for (int i = 0; i < 135; ++i) cyrillic += "ж";
  EXPECT_FALSE(provider->encode(sms(cyrillic)).ok());
  EXPECT_FALSE(provider->encode(sms("")).ok());
}

TEST(TwilioEncode, RefusesBodiesOverTwilios1600Characters) {
  auto provider = twilio({{"max_segments", "255"}});
  ASSERT_TRUE(provider);
  EXPECT_TRUE(provider->encode(sms(std::string(1600, 'a'))).ok());
  auto over = provider->encode(sms(std::string(1601, 'a')));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "too_long");
}

struct InterpretCase {
  const char* name;
  long status;
  std::string body;
  Disposition disposition;
  bool pause;
  std::string code;
};

class TwilioInterpret : public ::testing::TestWithParam<InterpretCase> {};

std::string errorBody(int code, long status) {
  return "{\"code\":" + std::to_string(code) + ",\"message\":\"msg " + std::to_string(code) +
         "\",\"more_info\":\"https://www.twilio.com/docs/errors/" + std::to_string(code) +
         "\",\"status\":" + std::to_string(status) + "}";
}

TEST_P(TwilioInterpret, MapsDocumentedReplies) {
  const InterpretCase& c = GetParam();
  auto provider = twilio();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(sms(), reply(c.status, c.body));
  EXPECT_EQ(verdict.disposition, c.disposition) << c.name << ": " << toString(verdict.disposition);
  EXPECT_EQ(verdict.pause_provider, c.pause) << c.name;
  EXPECT_EQ(verdict.provider_code, c.code) << c.name;
  EXPECT_EQ(verdict.segments, 1) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Replies, TwilioInterpret,
    ::testing::Values(InterpretCase{"auth_failed", 401, errorBody(20003, 401),
                                    Disposition::Misconfigured, true, "20003"},
                      InterpretCase{"wrong_account", 404, errorBody(20404, 404),
                                    Disposition::Misconfigured, true, "20404"},
                      InterpretCase{"too_many_requests", 429, errorBody(20429, 429),
                                    Disposition::Retry, true, "20429"},
                      InterpretCase{"invalid_to", 400, errorBody(21211, 400),
                                    Disposition::RecipientDead, false, "21211"},
                      InterpretCase{"region_not_enabled", 400, errorBody(21408, 400),
                                    Disposition::Misconfigured, false, "21408"},
                      InterpretCase{"body_missing", 400, errorBody(21602, 400),
                                    Disposition::Rejected, false, "21602"},
                      InterpretCase{"from_not_sms_capable", 400, errorBody(21606, 400),
                                    Disposition::Misconfigured, true, "21606"},
                      InterpretCase{"trial_unverified", 400, errorBody(21608, 400),
                                    Disposition::Misconfigured, false, "21608"},
                      InterpretCase{"unsubscribed", 400, errorBody(21610, 400),
                                    Disposition::OptedOut, false, "21610"},
                      InterpretCase{"unreachable", 400, errorBody(21612, 400),
                                    Disposition::RecipientDead, false, "21612"},
                      InterpretCase{"not_mobile", 400, errorBody(21614, 400),
                                    Disposition::RecipientDead, false, "21614"},
                      InterpretCase{"body_too_long", 400, errorBody(21617, 400),
                                    Disposition::Rejected, false, "21617"},
                      InterpretCase{"landline", 400, errorBody(21635, 400),
                                    Disposition::RecipientDead, false, "21635"},
                      InterpretCase{"unknown_400", 400, errorBody(21999, 400),
                                    Disposition::Rejected, false, "21999"},
                      InterpretCase{"server_error", 500, "<html>oops</html>", Disposition::Retry,
                                    false, "500"},
                      InterpretCase{"bad_gateway", 503, "", Disposition::Retry, false, "503"},
                      InterpretCase{"bare_429", 429, "", Disposition::Retry, true, "429"},
                      InterpretCase{"bare_401", 401, "", Disposition::Misconfigured, true, "401"},
                      InterpretCase{"wrong_base_url", 404, "<html>Not Found</html>",
                                    Disposition::Misconfigured, true, "404"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TwilioInterpret, AcceptsWithTheSidAndHonoursRetryAfter) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  Verdict accepted = provider->interpret(
      sms(), reply(201, R"({"sid":"SMabc","status":"queued","num_segments":"0"})"));
  EXPECT_EQ(accepted.disposition, Disposition::Accepted);
  EXPECT_EQ(accepted.provider_message_id, "SMabc");
  EXPECT_EQ(accepted.segments, 1);  // Twilio has not counted yet: ours
  Verdict counted = provider->interpret(sms(std::string(200, 'a')),
                                        reply(201, R"({"sid":"SMdef","num_segments":"3"})"));
  EXPECT_EQ(counted.segments, 3);  // Twilio's count is what it bills
  Verdict throttled =
      provider->interpret(sms(), reply(429, errorBody(20429, 429), std::chrono::seconds(7)));
  ASSERT_TRUE(throttled.retry_after);
  EXPECT_EQ(throttled.retry_after->count(), 7);
  EXPECT_NE(throttled.detail.find("msg 20429"), std::string::npos);
}

TEST(TwilioInterpret, A2xxWithoutASidIsNotTwilioAndIsRetried) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  for (const char* body :
       {"<html><body>Welcome to the hotel Wi-Fi</body></html>", "{}", R"({"sid":""})", ""}) {
    Verdict verdict = provider->interpret(sms(), reply(200, body));
    EXPECT_EQ(verdict.disposition, Disposition::Retry) << body;
    EXPECT_TRUE(verdict.provider_message_id.empty()) << body;
    EXPECT_NE(verdict.detail.find("without a message sid"), std::string::npos) << verdict.detail;
  }
}

TEST(TwilioSettings, RefusesAListWhereOneValueBelongs) {
  auto config = twilioConfig({});
  config.settings["auth_token"].is_array = true;
  config.settings["auth_token"].values = {"a", "b"};
  auto provider = makeTwilioProvider(config);
  ASSERT_FALSE(provider.ok());
  EXPECT_EQ(provider.error().code, "setting:auth_token");
  EXPECT_NE(provider.error().message.find("not a list"), std::string::npos);
}

TEST(TwilioInterpret, CountsSegmentsOfFailedAttempts) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(sms(std::string(161, 'a')), reply(500, ""));
  EXPECT_EQ(verdict.segments, 2);
}

InboundRequest callback(const std::string& url, const std::string& body,
                        const std::string& signature) {
  InboundRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  if (!signature.empty()) request.headers.emplace_back("X-Twilio-Signature", signature);
  request.body = body;
  return request;
}

// Signatures below were computed independently with Python's hmac/hashlib/base64:
// base64(hmac.new(token, url + "".join(k + v for k, v in sorted(params)), sha1).digest()).
constexpr char kDeliveredBody[] =
    "MessageSid=SM0123456789abcdef0123456789abcdef&SmsSid=SM0123456789abcdef0123456789abcdef&"
    "MessageStatus=delivered&SmsStatus=delivered&AccountSid=AC0123456789abcdef0123456789abcdef&"
    "To=%2B15551234567&From=%2B15557654321&ApiVersion=2010-04-01";
constexpr char kDeliveredSignature[] = "d7kuzrr4Ybf4n0e0h6NLqjNc2pg=";
constexpr char kFailedBody[] =
    "MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=undelivered&ErrorCode=30005&"
    "ErrorMessage=Unknown+destination+handset&AccountSid=AC0123456789abcdef0123456789abcdef";
constexpr char kFailedSignature[] = "CbW5zt8Sved+6atbnAoKSJcL6aE=";

TEST(TwilioCallback, AcceptsAValidDeliveredReceipt) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  auto updates =
      provider->parseCallback(callback(kCallbackUrl, kDeliveredBody, kDeliveredSignature));
  ASSERT_TRUE(updates.ok()) << updates.error().message;
  ASSERT_EQ(updates->size(), 1u);
  EXPECT_EQ(updates->at(0).provider_message_id, "SM0123456789abcdef0123456789abcdef");
  EXPECT_EQ(updates->at(0).status, ReceiptStatus::Delivered);
}

TEST(TwilioCallback, SignsTheQueryStringAndReportsFailures) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  auto updates = provider->parseCallback(
      callback(std::string(kCallbackUrl) + "?tenant=acme", kFailedBody, kFailedSignature));
  ASSERT_TRUE(updates.ok()) << updates.error().message;
  ASSERT_EQ(updates->size(), 1u);
  EXPECT_EQ(updates->at(0).status, ReceiptStatus::Failed);
  EXPECT_EQ(updates->at(0).code, "30005");
  EXPECT_EQ(updates->at(0).detail, "Unknown destination handset");
}

TEST(TwilioCallback, AcceptsTheUrlWithAnExplicitDefaultPort) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  // Signed over https://gw.example.com/... while the API rebuilt the URL with :443.
  EXPECT_TRUE(provider
                  ->parseCallback(callback("https://gw.example.com:443/v1/callbacks/twilio-main",
                                           kDeliveredBody, kDeliveredSignature))
                  .ok());
}

// Twilio's published example (docs "Webhooks security"), token 12345.
TEST(TwilioCallback, MatchesTwiliosPublishedExample) {
  auto provider = twilio({{"auth_token", "12345"}});
  ASSERT_TRUE(provider);
  auto updates = provider->parseCallback(
      callback("https://mycompany.com/myapp.php?foo=1&bar=2",
               "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&"
               "To=%2B18005551212",
               "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
  // The signature verifies; a voice callback has no MessageSid, so it is not a receipt.
  ASSERT_FALSE(updates.ok());
  EXPECT_EQ(updates.error().code, "bad_callback");
}

TEST(TwilioCallback, RejectsForgedAndUnsignedCallbacks) {
  auto provider = twilio();
  ASSERT_TRUE(provider);
  std::string tampered(kDeliveredBody);
  tampered.replace(tampered.find("delivered"), 9, "undelivered");
  const InboundRequest forged[] = {
      callback(kCallbackUrl, kDeliveredBody, ""),
      callback(kCallbackUrl, kDeliveredBody, "d7kuzrr4Ybf4n0e0h6NLqjNc2pG="),
      callback(kCallbackUrl, tampered, kDeliveredSignature),
      callback(std::string(kCallbackUrl) + "x", kDeliveredBody, kDeliveredSignature),
      callback(kCallbackUrl, std::string(kDeliveredBody) + "&Extra=1", kDeliveredSignature),
      callback(kCallbackUrl, "a=%zz", kDeliveredSignature),
  };
  for (const auto& request : forged) {
    auto result = provider->parseCallback(request);
    ASSERT_FALSE(result.ok()) << request.body;
    EXPECT_EQ(result.error().code, "unauthorized");
  }
  auto wrong_key = twilio({{"auth_token", "other-token"}});
  ASSERT_TRUE(wrong_key);
  EXPECT_FALSE(
      wrong_key->parseCallback(callback(kCallbackUrl, kDeliveredBody, kDeliveredSignature)).ok());
}

TEST(TwilioCallback, IntermediateStatusesYieldNoReceipt) {
  // Signed here with the provider's own algorithm: what matters is the status mapping.
  auto provider = twilio();
  ASSERT_TRUE(provider);
  std::string body = "MessageSid=SM1&MessageStatus=sent";
  std::string signature = wire::base64Encode(
      wire::hmacSha1(kToken, std::string(kCallbackUrl) + "MessageSidSM1MessageStatussent"));
  auto updates = provider->parseCallback(callback(kCallbackUrl, body, signature));
  ASSERT_TRUE(updates.ok());
  EXPECT_TRUE(updates->empty());
}

struct ConfigCase {
  const char* name;
  testing::SettingMap changes;
  const char* code;
};

class TwilioConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(TwilioConfig, RejectsBadSettingsNamingTheKey) {
  auto provider = makeTwilioProvider(twilioConfig(GetParam().changes));
  ASSERT_FALSE(provider.ok()) << GetParam().name;
  EXPECT_EQ(provider.error().code, GetParam().code) << provider.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, TwilioConfig,
    ::testing::Values(
        ConfigCase{"unknown", {{"colour", "red"}}, "setting:colour"},
        ConfigCase{"no_sid", {{"account_sid", ""}}, "setting:account_sid"},
        ConfigCase{"bad_sid", {{"account_sid", "XX123"}}, "setting:account_sid"},
        ConfigCase{"no_token", {{"auth_token", ""}}, "setting:auth_token"},
        ConfigCase{"no_sender", {{"from", ""}}, "setting:from"},
        ConfigCase{"half_api_key", {{"api_key_sid", "SK1"}}, "setting:api_key_secret"},
        ConfigCase{"bad_base_url", {{"base_url", "ftp://x"}}, "setting:base_url"},
        ConfigCase{
            "bad_callback", {{"status_callback_url", "/relative"}}, "setting:status_callback_url"},
        ConfigCase{"zero_segments", {{"max_segments", "0"}}, "setting:max_segments"},
        ConfigCase{"huge_segments", {{"max_segments", "256"}}, "setting:max_segments"},
        ConfigCase{"text_segments", {{"max_segments", "ten"}}, "setting:max_segments"},
        ConfigCase{"bad_validity", {{"validity_period", "-1"}}, "setting:validity_period"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace omnigate::channels
