#include "channels/push/fcm_provider.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "channels/push/jwt.h"
#include "daemon/common/clock.h"
#include "tests/unit/channels/push/test_keys.h"

namespace omnigate::channels {
namespace {

using push::testing::p256Key;
using push::testing::rsaKey;

constexpr std::int64_t kNow = 1700000000123;  // ms; iat is its whole seconds

std::string serviceAccountJson(const std::string& private_pem = rsaKey().private_pem,
                               const std::string& project = "shop-app") {
  boost::json::object account{{"type", "service_account"},
                              {"project_id", project},
                              {"private_key_id", "a1b2c3d4"},
                              {"private_key", private_pem},
                              {"client_email", "gw@shop-app.iam.gserviceaccount.com"},
                              {"token_uri", "https://oauth2.googleapis.com/token"}};
  return boost::json::serialize(account);
}

// Case tables name keys by placeholder so that listing the tests generates no keys.
constexpr const char* kEcServiceAccount = "<service account with an EC key>";
constexpr const char* kServiceAccountWithoutProject = "<service account without project>";

ProviderConfig fcmConfig(std::map<std::string, std::string> changes = {}) {
  std::map<std::string, std::string> settings = {{"service_account", serviceAccountJson()}};
  for (auto& [key, value] : changes) {
    if (value == kEcServiceAccount) {
      settings[key] = serviceAccountJson(p256Key().private_pem);
    } else if (value == kServiceAccountWithoutProject) {
      settings[key] = serviceAccountJson(rsaKey().private_pem, "");
    } else if (value.empty()) {
      settings.erase(key);
    } else {
      settings[key] = value;
    }
  }
  ProviderConfig config;
  config.name = "fcm-main";
  config.kind = "fcm";
  for (auto& [key, value] : settings) config.settings[key] = Setting{value, {}, false, 1};
  return config;
}

ProviderPtr mustMake(const ProviderConfig& config) {
  auto provider = makeFcmProvider(config);
  if (!provider.ok()) {
    ADD_FAILURE() << provider.error().code << ": " << provider.error().message;
    return nullptr;
  }
  return std::move(provider.value());
}

OutboundMessage pushMessage() {
  OutboundMessage message;
  message.id = "01J9ZQ4N3V6Y7W8X9A0B1C2D3E";
  message.channel = "push";
  message.category = "transactional";
  message.now_unix_ms = kNow;
  message.recipient = "fcm-token-1";
  message.recipient_platform = "fcm";
  message.title = "Заказ A-17";
  message.text = "Ваш заказ в пути";
  message.credential = "ya29.access";
  return message;
}

const HttpRequest& http(const Result<TransportRequest>& request) {
  return std::get<HttpRequest>(request.value().what);
}

std::map<std::string, std::string> formFields(const std::string& body) {
  std::map<std::string, std::string> fields;
  std::size_t start = 0;
  while (start <= body.size()) {
    auto end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    auto pair = body.substr(start, end - start);
    auto eq = pair.find('=');
    fields[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
    start = end + 1;
  }
  return fields;
}

// ---- factory -----------------------------------------------------------------------------------

struct ConfigCase {
  std::string name;
  std::map<std::string, std::string> changes;  // "" removes the key
  std::string error_code;                      // empty: accepted
};

void PrintTo(const ConfigCase& c, std::ostream* os) { *os << c.name; }

class FcmConfigTest : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(FcmConfigTest, ValidatesSettings) {
  auto provider = makeFcmProvider(fcmConfig(GetParam().changes));
  if (GetParam().error_code.empty()) {
    EXPECT_TRUE(provider.ok()) << provider.error().message;
  } else {
    ASSERT_FALSE(provider.ok());
    EXPECT_EQ(provider.error().code, GetParam().error_code) << provider.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Settings, FcmConfigTest,
    ::testing::Values(
        ConfigCase{"defaults", {}, ""},
        ConfigCase{"everything",
                   {{"project_id", "other"},
                    {"base_url", "https://127.0.0.1:8443/"},
                    {"token_url", "https://127.0.0.1:8443/token"},
                    {"android_priority", "normal"},
                    {"ttl", "2h"},
                    {"collapse_key", "news"},
                    {"validate_only", "true"}},
                   ""},
        ConfigCase{"no_service_account", {{"service_account", ""}}, "setting:service_account"},
        ConfigCase{
            "service_account_not_json", {{"service_account", "{"}}, "setting:service_account"},
        ConfigCase{"no_client_email",
                   {{"service_account", R"({"private_key":"x","project_id":"p"})"}},
                   "setting:service_account"},
        ConfigCase{"no_private_key",
                   {{"service_account", R"({"client_email":"a@b","project_id":"p"})"}},
                   "setting:service_account"},
        ConfigCase{
            "ec_private_key", {{"service_account", kEcServiceAccount}}, "setting:service_account"},
        ConfigCase{"no_project",
                   {{"service_account", kServiceAccountWithoutProject}},
                   "setting:project_id"},
        ConfigCase{"project_with_slash", {{"project_id", "a/b"}}, "setting:project_id"},
        ConfigCase{"base_url_not_http", {{"base_url", "ftp://fcm.example"}}, "setting:base_url"},
        ConfigCase{
            "base_url_with_query", {{"base_url", "https://fcm.example/?x=1"}}, "setting:base_url"},
        ConfigCase{"token_url_relative", {{"token_url", "/token"}}, "setting:token_url"},
        ConfigCase{
            "priority_unknown", {{"android_priority", "urgent"}}, "setting:android_priority"},
        ConfigCase{"ttl_too_long", {{"ttl", "29d"}}, "setting:ttl"},
        ConfigCase{"ttl_not_duration", {{"ttl", "soon"}}, "setting:ttl"},
        ConfigCase{"validate_only_not_bool", {{"validate_only", "yes"}}, "setting:validate_only"},
        ConfigCase{"unknown_setting", {{"api_key", "x"}}, "setting:api_key"}),
    [](const auto& info) { return info.param.name; });

// ---- credential: the OAuth2 JWT-bearer token request ------------------------------------------

TEST(FcmCredential, TokenRequestCarriesAVerifiableRs256Assertion) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  const CredentialSource* source = provider->credentialSource();
  ASSERT_NE(source, nullptr);
  EXPECT_FALSE(source->mintsLocally());
  EXPECT_FALSE(source->mint(kNow).ok());

  auto request = source->encodeTokenRequest(kNow);
  ASSERT_TRUE(request.ok()) << request.error().message;
  const HttpRequest& token_request = http(request);
  EXPECT_EQ(token_request.method, HttpMethod::Post);
  EXPECT_EQ(token_request.url, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(token_request.headers.front(),
            (Header{"Content-Type", "application/x-www-form-urlencoded"}));

  auto form = formFields(token_request.body);
  ASSERT_EQ(form.size(), 2u) << token_request.body;
  EXPECT_EQ(form["grant_type"], "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");

  auto verifier =
      push::JwtKey::fromPublicKeyPem(rsaKey().public_pem, push::JwtAlgorithm::Rs256).value();
  auto jwt = push::verifyJwt(verifier, form["assertion"]);
  ASSERT_TRUE(jwt.ok()) << jwt.error().message;
  EXPECT_EQ(boost::json::serialize(jwt->header), R"({"alg":"RS256","typ":"JWT","kid":"a1b2c3d4"})");
  EXPECT_EQ(boost::json::serialize(jwt->claims),
            R"({"iss":"gw@shop-app.iam.gserviceaccount.com",)"
            R"("scope":"https://www.googleapis.com/auth/firebase.messaging",)"
            R"("aud":"https://oauth2.googleapis.com/token","iat":1700000000,"exp":1700003600})");
}

TEST(FcmCredential, TokenUrlSettingIsAlsoTheAudience) {
  auto provider = mustMake(fcmConfig({{"token_url", "https://127.0.0.1:4443/token/"}}));
  ASSERT_NE(provider, nullptr);
  auto request = provider->credentialSource()->encodeTokenRequest(kNow);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(http(request).url, "https://127.0.0.1:4443/token");
  auto jwt = push::decodeJwt(formFields(http(request).body)["assertion"]);
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->claims.at("aud").as_string(), "https://127.0.0.1:4443/token");
}

struct TokenReplyCase {
  std::string name;
  long status;
  std::string body;
  std::string error_code;  // empty: a credential
  std::string value;
  std::int64_t expires_unix_ms;
};

void PrintTo(const TokenReplyCase& c, std::ostream* os) { *os << c.name; }

class FcmTokenReplyTest : public ::testing::TestWithParam<TokenReplyCase> {};

TEST_P(FcmTokenReplyTest, InterpretsTheTokenEndpoint) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  TransportReply reply;
  reply.status = GetParam().status;
  reply.body = GetParam().body;
  auto credential = provider->credentialSource()->interpretTokenReply(reply, kNow);
  if (GetParam().error_code.empty()) {
    ASSERT_TRUE(credential.ok()) << credential.error().message;
    EXPECT_EQ(credential->value, GetParam().value);
    EXPECT_EQ(credential->expires_unix_ms, GetParam().expires_unix_ms);
  } else {
    ASSERT_FALSE(credential.ok());
    EXPECT_EQ(credential.error().code, GetParam().error_code);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Replies, FcmTokenReplyTest,
    ::testing::Values(
        TokenReplyCase{"granted", 200,
                       R"({"access_token":"ya29.c","expires_in":3599,"token_type":"Bearer"})", "",
                       "ya29.c", kNow + 3599000},
        TokenReplyCase{"expires_in_as_text", 200, R"({"access_token":"t","expires_in":"120"})", "",
                       "t", kNow + 120000},
        TokenReplyCase{"no_access_token", 200, R"({"expires_in":3599})", "bad_token_reply", "", 0},
        TokenReplyCase{"no_expiry", 200, R"({"access_token":"t"})", "bad_token_reply", "", 0},
        TokenReplyCase{"zero_expiry", 200, R"({"access_token":"t","expires_in":0})",
                       "bad_token_reply", "", 0},
        TokenReplyCase{"not_json", 200, "<html>", "bad_token_reply", "", 0},
        TokenReplyCase{"invalid_grant", 400,
                       R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})",
                       "credential_rejected", "", 0},
        TokenReplyCase{"unauthorized_client", 401, R"({"error":"unauthorized_client"})",
                       "credential_rejected", "", 0},
        TokenReplyCase{"throttled", 429, "", "credential_unavailable", "", 0},
        TokenReplyCase{"server_error", 503, "busy", "credential_unavailable", "", 0}),
    [](const auto& info) { return info.param.name; });

TEST(FcmCredential, RejectionNamesGooglesReason) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  TransportReply reply{400, {}, R"({"error":"invalid_grant","error_description":"Bad iat."})"};
  auto credential = provider->credentialSource()->interpretTokenReply(reply, kNow);
  ASSERT_FALSE(credential.ok());
  EXPECT_EQ(credential.error().message,
            "token endpoint answered HTTP 400: invalid_grant (Bad iat.)");
}

TEST(FcmCredential, RefreshesFiveMinutesBeforeExpiryOnTheInjectedClock) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  const CredentialSource& source = *provider->credentialSource();
  ManualClock clock(fromUnixMillis(kNow));

  // The daemon's loop in miniature: fetch, then fetch again once the refresh time has come.
  int fetches = 0;
  Credential current;
  auto fetchIfDue = [&] {
    const std::int64_t now = toUnixMillis(clock.now());
    if (fetches > 0 && now < source.refreshAtUnixMs(current)) return;
    TransportReply reply{
        200, {}, R"({"access_token":"t)" + std::to_string(fetches) + R"(","expires_in":3600})"};
    current = source.interpretTokenReply(reply, now).value();
    ++fetches;
  };
  fetchIfDue();
  EXPECT_EQ(source.refreshAtUnixMs(current), kNow + 55 * 60 * 1000);
  for (int minute = 1; minute < 55; ++minute) {
    clock.advance(std::chrono::minutes(1));
    fetchIfDue();
  }
  EXPECT_EQ(fetches, 1) << "refreshed before 55 minutes had passed";
  clock.advance(std::chrono::minutes(1));
  fetchIfDue();
  EXPECT_EQ(fetches, 2);
  EXPECT_EQ(current.value, "t1");
  EXPECT_LT(source.refreshAtUnixMs(current), current.expires_unix_ms);
}

// ---- encode ------------------------------------------------------------------------------------

TEST(FcmEncode, GoldenRequest) {
  auto provider = mustMake(fcmConfig(
      {{"base_url", "https://127.0.0.1:8443"}, {"android_priority", "high"}, {"ttl", "1h"}}));
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  message.data_json = R"({"order":"A-17","count":3,"paid":true,"items":["a",1],"gift":null,)"
                      R"("collapse_key":"orders"})";
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok()) << request.error().message;
  const HttpRequest& send = http(request);
  EXPECT_EQ(send.method, HttpMethod::Post);
  EXPECT_EQ(send.url, "https://127.0.0.1:8443/v1/projects/shop-app/messages:send");
  EXPECT_EQ(send.headers,
            (std::vector<Header>{{"Authorization", "Bearer ya29.access"},
                                 {"Content-Type", "application/json; charset=utf-8"}}));
  EXPECT_EQ(
      send.body,
      R"({"message":{"token":"fcm-token-1",)"
      R"("notification":{"title":"Заказ A-17","body":"Ваш заказ в пути"},)"
      R"("data":{"order":"A-17","count":"3","paid":"true","items":"[\"a\",1]","gift":"null"},)"
      R"("android":{"priority":"HIGH","ttl":"3600s","collapse_key":"orders"}}})");
  EXPECT_FALSE(send.refuse_private_destinations);
}

TEST(FcmEncode, MinimalMessageAndConfiguredOptions) {
  auto provider = mustMake(fcmConfig({{"collapse_key", "news"},
                                      {"ttl", "1500ms"},
                                      {"validate_only", "true"},
                                      {"project_id", "override"}}));
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  message.title.clear();
  message.text = "hi";
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(http(request).url, "https://fcm.googleapis.com/v1/projects/override/messages:send");
  EXPECT_EQ(http(request).body,
            R"({"validate_only":true,"message":{"token":"fcm-token-1",)"
            R"("notification":{"body":"hi"},"android":{"ttl":"1.500s","collapse_key":"news"}}})");
}

TEST(FcmEncode, MessageTtlBecomesTheAndroidTtlUnlessConfigured) {
  OutboundMessage message = pushMessage();
  message.title.clear();
  message.text = "hi";
  message.expires_unix_ms = message.now_unix_ms + 7'200'900;
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_NE(http(request).body.find(R"("android":{"ttl":"7200s"})"), std::string::npos)
      << http(request).body;
  message.expires_unix_ms = message.now_unix_ms - 5;  // already past: keep nothing
  EXPECT_NE(http(provider->encode(message)).body.find(R"("ttl":"0s")"), std::string::npos);
}

struct EncodeErrorCase {
  std::string name;
  std::function<void(OutboundMessage&)> change;
  std::string error_code;
};

void PrintTo(const EncodeErrorCase& c, std::ostream* os) { *os << c.name; }

class FcmEncodeErrorTest : public ::testing::TestWithParam<EncodeErrorCase> {};

TEST_P(FcmEncodeErrorTest, RefusesBeforeSending) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  GetParam().change(message);
  auto request = provider->encode(message);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.error().code, GetParam().error_code);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, FcmEncodeErrorTest,
    ::testing::Values(
        EncodeErrorCase{"apns_token", [](auto& m) { m.recipient_platform = "apns"; },
                        "wrong_platform"},
        EncodeErrorCase{"no_token", [](auto& m) { m.recipient.clear(); }, "invalid_recipient"},
        EncodeErrorCase{"no_credential", [](auto& m) { m.credential.clear(); },
                        "credential_missing"},
        EncodeErrorCase{"data_not_object", [](auto& m) { m.data_json = "[1]"; }, "bad_data"},
        EncodeErrorCase{"data_not_json", [](auto& m) { m.data_json = "{"; }, "bad_data"},
        EncodeErrorCase{"reserved_from", [](auto& m) { m.data_json = R"({"from":"x"})"; },
                        "bad_data"},
        EncodeErrorCase{"reserved_google", [](auto& m) { m.data_json = R"({"google.x":"1"})"; },
                        "bad_data"},
        EncodeErrorCase{"reserved_gcm", [](auto& m) { m.data_json = R"({"gcm_x":"1"})"; },
                        "bad_data"},
        EncodeErrorCase{"too_large",
                        [](auto& m) {
                          m.title.clear();
                          m.text = std::string(4000, 'x');
                          m.data_json = R"({"k":")" + std::string(100, 'y') + R"("})";
                        },
                        "payload_too_large"}),
    [](const auto& info) { return info.param.name; });

TEST(FcmEncode, PayloadAtTheLimitIsSent) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  message.title.clear();
  message.text = std::string(4090, 'x');
  message.data_json = R"({"k":"12345"})";  // 4090 + 1 + 5 = 4096
  EXPECT_TRUE(provider->encode(message).ok());
  message.data_json = R"({"k":"123456"})";
  EXPECT_FALSE(provider->encode(message).ok());
}

// ---- interpret ---------------------------------------------------------------------------------

std::string fcmError(int code, const std::string& status, const std::string& message,
                     const std::string& fcm_code, const std::string& extra_detail = "") {
  std::string details;
  if (!fcm_code.empty()) {
    details = R"({"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":")" +
              fcm_code + R"("})";
  }
  if (!extra_detail.empty()) details += (details.empty() ? "" : ",") + extra_detail;
  return R"({"error":{"code":)" + std::to_string(code) + R"(,"message":")" + message +
         R"(","status":")" + status + R"(","details":[)" + details + "]}}";
}

struct InterpretCase {
  std::string name;
  long status;
  std::string body;
  std::optional<int> retry_after;
  Disposition disposition;
  bool pause = false;
  std::optional<int> expected_retry_after = std::nullopt;
  bool refresh = false;
  std::string code = "";
};

void PrintTo(const InterpretCase& c, std::ostream* os) { *os << c.name; }

class FcmInterpretTest : public ::testing::TestWithParam<InterpretCase> {};

TEST_P(FcmInterpretTest, MapsByErrorDetailFirst) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  const auto& c = GetParam();
  TransportReply reply;
  reply.status = c.status;
  reply.body = c.body;
  reply.http_version = "2";
  if (c.retry_after) reply.retry_after = std::chrono::seconds(*c.retry_after);
  Verdict verdict = provider->interpret(pushMessage(), reply);
  EXPECT_EQ(verdict.disposition, c.disposition)
      << toString(verdict.disposition) << " " << verdict.detail;
  EXPECT_EQ(verdict.pause_provider, c.pause);
  EXPECT_EQ(verdict.refresh_credential, c.refresh);
  if (c.expected_retry_after) {
    ASSERT_TRUE(verdict.retry_after.has_value());
    EXPECT_EQ(verdict.retry_after->count(), *c.expected_retry_after);
  } else {
    EXPECT_FALSE(verdict.retry_after.has_value());
  }
  if (!c.code.empty()) {
    EXPECT_EQ(verdict.provider_code, c.code);
  }
}

const std::string kApnsGone = R"({"@type":"type.googleapis.com/google.firebase.fcm.v1.ApnsError",)"
                              R"("reason":"Unregistered","statusCode":410})";

INSTANTIATE_TEST_SUITE_P(
    Replies, FcmInterpretTest,
    ::testing::Values(
        InterpretCase{"accepted", 200, R"({"name":"projects/shop-app/messages/0:123"})",
                      std::nullopt, Disposition::Accepted, false, std::nullopt, false, "200"},
        InterpretCase{"unregistered", 404,
                      fcmError(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
                      std::nullopt, Disposition::RecipientDead, false, std::nullopt, false,
                      "UNREGISTERED"},
        InterpretCase{"invalid_token", 400,
                      fcmError(400, "INVALID_ARGUMENT",
                               "The registration token is not a valid FCM registration token",
                               "INVALID_ARGUMENT"),
                      std::nullopt, Disposition::RecipientDead},
        InterpretCase{"invalid_token_without_detail", 400,
                      fcmError(400, "INVALID_ARGUMENT",
                               "The registration token is not a valid FCM registration token", ""),
                      std::nullopt, Disposition::RecipientDead, false, std::nullopt, false,
                      "INVALID_ARGUMENT"},
        InterpretCase{"apns_token_disabled", 400,
                      fcmError(400, "INVALID_ARGUMENT", "APNs device token is disabled.",
                               "INVALID_ARGUMENT", kApnsGone),
                      std::nullopt, Disposition::RecipientDead},
        InterpretCase{"invalid_payload", 400,
                      fcmError(400, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'",
                               "INVALID_ARGUMENT"),
                      std::nullopt, Disposition::Rejected},
        InterpretCase{"sender_id_mismatch", 403,
                      fcmError(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
                      std::nullopt, Disposition::Misconfigured, true, std::nullopt, false,
                      "SENDER_ID_MISMATCH"},
        InterpretCase{"quota_without_retry_after", 429,
                      fcmError(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"),
                      std::nullopt, Disposition::Retry, true, 60},
        InterpretCase{"quota_short_retry_after", 429,
                      fcmError(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"), 5,
                      Disposition::Retry, true, 60},
        InterpretCase{"quota_long_retry_after", 429,
                      fcmError(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"), 300,
                      Disposition::Retry, true, 300},
        InterpretCase{"quota_status_only", 429, "", std::nullopt, Disposition::Retry, true, 60},
        InterpretCase{"unavailable_retry_after", 503,
                      fcmError(503, "UNAVAILABLE", "The service is unavailable.", "UNAVAILABLE"),
                      30, Disposition::Retry, true, 30, false, "UNAVAILABLE"},
        InterpretCase{"unavailable", 503,
                      fcmError(503, "UNAVAILABLE", "The service is unavailable.", "UNAVAILABLE"),
                      std::nullopt, Disposition::Retry, true},
        InterpretCase{"internal", 500, fcmError(500, "INTERNAL", "Internal error.", "INTERNAL"),
                      std::nullopt, Disposition::Retry, false},
        InterpretCase{"internal_retry_after", 500,
                      fcmError(500, "INTERNAL", "Internal error.", "INTERNAL"), 10,
                      Disposition::Retry, true, 10},
        InterpretCase{"gateway_html", 502, "<html>bad gateway</html>", std::nullopt,
                      Disposition::Retry, false, std::nullopt, false, "502"},
        InterpretCase{"unspecified", 500, fcmError(500, "INTERNAL", "x", "UNSPECIFIED_ERROR"),
                      std::nullopt, Disposition::Retry},
        InterpretCase{"third_party_auth", 401,
                      fcmError(401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service",
                               "THIRD_PARTY_AUTH_ERROR"),
                      std::nullopt, Disposition::Misconfigured, true},
        InterpretCase{"apns_auth_alias", 401,
                      fcmError(401, "UNAUTHENTICATED", "x", "APNS_AUTH_ERROR"), std::nullopt,
                      Disposition::Misconfigured, true},
        InterpretCase{
            "access_token_refused", 401,
            fcmError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", ""),
            std::nullopt, Disposition::Retry, false, std::nullopt, true, "UNAUTHENTICATED"},
        InterpretCase{"bare_401", 401, "", std::nullopt, Disposition::Retry, false, std::nullopt,
                      true},
        InterpretCase{"iam_permission", 403,
                      fcmError(403, "PERMISSION_DENIED",
                               "Permission 'cloudmessaging.messages.create' denied", ""),
                      std::nullopt, Disposition::Misconfigured, true},
        InterpretCase{"project_not_found", 404,
                      fcmError(404, "NOT_FOUND", "Requested entity was not found.", ""),
                      std::nullopt, Disposition::Misconfigured, true},
        InterpretCase{"bad_request_garbage", 400, "nonsense", std::nullopt, Disposition::Rejected}),
    [](const auto& info) { return info.param.name; });

TEST(FcmInterpret, DetailKeepsGooglesMessage) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  TransportReply reply{
      404, {}, fcmError(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")};
  Verdict verdict = provider->interpret(pushMessage(), reply);
  EXPECT_EQ(verdict.detail, "HTTP 404 UNREGISTERED: Requested entity was not found.");
  EXPECT_TRUE(verdict.provider_message_id.empty());
}

TEST(FcmInterpret, AcceptedKeepsTheMessageName) {
  auto provider = mustMake(fcmConfig());
  ASSERT_NE(provider, nullptr);
  TransportReply reply{200, {}, R"({"name":"projects/shop-app/messages/0:1700000000%abc"})"};
  Verdict verdict = provider->interpret(pushMessage(), reply);
  EXPECT_EQ(verdict.provider_message_id, "projects/shop-app/messages/0:1700000000%abc");
}

}  // namespace
}  // namespace omnigate::channels
