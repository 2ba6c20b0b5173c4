#include "channels/push/apns_provider.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <string>

#include "channels/push/jwt.h"
#include "daemon/common/clock.h"
#include "tests/unit/channels/push/test_keys.h"

namespace omnigate::channels {
namespace {

using push::testing::p256Key;
using push::testing::rsaKey;

constexpr std::int64_t kNow = 1700000000789;  // ms
constexpr const char* kToken = "3f4a9c0d1e2b5a6978c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d";

// Case tables name this key by placeholder so that listing the tests generates no keys.
constexpr const char* kRsaPrivateKey = "<RSA private key>";

ProviderConfig apnsConfig(std::map<std::string, std::string> changes = {}) {
  std::map<std::string, std::string> settings = {{"team_id", "TEAM123456"},
                                                 {"key_id", "KEY1234567"},
                                                 {"private_key", p256Key().private_pem},
                                                 {"topic", "com.shop.app"}};
  for (auto& [key, value] : changes) {
    if (value == kRsaPrivateKey) {
      settings[key] = rsaKey().private_pem;
    } else if (value.empty()) {
      settings.erase(key);
    } else {
      settings[key] = value;
    }
  }
  ProviderConfig config;
  config.name = "apns-main";
  config.kind = "apns";
  for (auto& [key, value] : settings) config.settings[key] = Setting{value, {}, false, 1};
  return config;
}

ProviderPtr mustMake(const ProviderConfig& config) {
  auto provider = makeApnsProvider(config);
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
  message.recipient = kToken;
  message.recipient_platform = "apns";
  message.title = "Заказ A-17";
  message.text = "Ваш заказ в пути";
  message.credential = "jwt.value.here";
  return message;
}

const HttpRequest& http(const Result<TransportRequest>& request) {
  return std::get<HttpRequest>(request.value().what);
}

std::optional<std::string> header(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// ---- factory -----------------------------------------------------------------------------------

struct ConfigCase {
  std::string name;
  std::map<std::string, std::string> changes;  // "" removes the key
  std::string error_code;                      // empty: accepted
};

void PrintTo(const ConfigCase& c, std::ostream* os) { *os << c.name; }

class ApnsConfigTest : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(ApnsConfigTest, ValidatesSettings) {
  auto provider = makeApnsProvider(apnsConfig(GetParam().changes));
  if (GetParam().error_code.empty()) {
    EXPECT_TRUE(provider.ok()) << provider.error().message;
  } else {
    ASSERT_FALSE(provider.ok());
    EXPECT_EQ(provider.error().code, GetParam().error_code) << provider.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Settings, ApnsConfigTest,
    ::testing::Values(
        ConfigCase{"defaults", {}, ""},
        ConfigCase{"everything",
                   {{"base_url", "https://api.sandbox.push.apple.com"},
                    {"push_type", "alert"},
                    {"priority", "5"},
                    {"expiration", "1h"}},
                   ""},
        ConfigCase{"expiration_zero", {{"expiration", "0"}}, ""},
        ConfigCase{"background_default_priority", {{"push_type", "background"}}, ""},
        ConfigCase{"no_team", {{"team_id", ""}}, "setting:team_id"},
        ConfigCase{"short_team", {{"team_id", "TEAM"}}, "setting:team_id"},
        ConfigCase{"team_with_symbols", {{"team_id", "TEAM-12345"}}, "setting:team_id"},
        ConfigCase{"no_key_id", {{"key_id", ""}}, "setting:key_id"},
        ConfigCase{"no_private_key", {{"private_key", ""}}, "setting:private_key"},
        ConfigCase{"rsa_private_key", {{"private_key", kRsaPrivateKey}}, "setting:private_key"},
        ConfigCase{"no_topic", {{"topic", ""}}, "setting:topic"},
        ConfigCase{"unknown_push_type", {{"push_type", "banner"}}, "setting:push_type"},
        ConfigCase{"priority_7", {{"priority", "7"}}, "setting:priority"},
        ConfigCase{"background_priority_10",
                   {{"push_type", "background"}, {"priority", "10"}},
                   "setting:priority"},
        ConfigCase{"expiration_not_duration", {{"expiration", "later"}}, "setting:expiration"},
        ConfigCase{"base_url_not_url", {{"base_url", "api.push.apple.com"}}, "setting:base_url"},
        ConfigCase{"unknown_setting", {{"certificate", "x"}}, "setting:certificate"}),
    [](const auto& info) { return info.param.name; });

// ---- credential: the ES256 provider token ----------------------------------------------------

TEST(ApnsCredential, MintsAVerifiableEs256TokenWithKidIssIat) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  const CredentialSource* source = provider->credentialSource();
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(source->mintsLocally());
  EXPECT_FALSE(source->encodeTokenRequest(kNow).ok());

  auto credential = source->mint(kNow);
  ASSERT_TRUE(credential.ok()) << credential.error().message;
  EXPECT_EQ(credential->expires_unix_ms, 1700000000000 + 60 * 60 * 1000);

  auto verifier =
      push::JwtKey::fromPublicKeyPem(p256Key().public_pem, push::JwtAlgorithm::Es256).value();
  auto jwt = push::verifyJwt(verifier, credential->value);
  ASSERT_TRUE(jwt.ok()) << jwt.error().message;
  EXPECT_EQ(boost::json::serialize(jwt->header), R"({"alg":"ES256","kid":"KEY1234567"})");
  EXPECT_EQ(boost::json::serialize(jwt->claims), R"({"iss":"TEAM123456","iat":1700000000})");
  EXPECT_EQ(jwt->signature.size(), 64u);

  auto stranger = push::JwtKey::fromPublicKeyPem(push::testing::otherP256Key().public_pem,
                                                 push::JwtAlgorithm::Es256)
                      .value();
  EXPECT_FALSE(push::verifyJwt(stranger, credential->value).ok());
}

TEST(ApnsCredential, RefreshFallsBetween20And60MinutesAfterIssue) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  const CredentialSource& source = *provider->credentialSource();
  for (std::int64_t now : {kNow, kNow + 999, std::int64_t{0}, std::int64_t{1800000000000}}) {
    auto credential = source.mint(now).value();
    const std::int64_t issued = now / 1000 * 1000;
    const std::int64_t refresh = source.refreshAtUnixMs(credential);
    EXPECT_EQ(refresh, issued + 40 * 60 * 1000) << now;
    EXPECT_GE(refresh - issued, 20 * 60 * 1000);
    EXPECT_LE(refresh - issued, 60 * 60 * 1000);
    EXPECT_LT(refresh, credential.expires_unix_ms);
  }
}

TEST(ApnsCredential, DaemonLoopOnInjectedClockMintsEvery40Minutes) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  const CredentialSource& source = *provider->credentialSource();
  ManualClock clock(fromUnixMillis(kNow));
  std::vector<std::int64_t> minted_at;
  Credential current;
  // Three hours in 10-second steps; a token is replaced only once its refresh time has come.
  for (int step = 0; step <= 3 * 360; ++step) {
    const std::int64_t now = toUnixMillis(clock.now());
    if (minted_at.empty() || now >= source.refreshAtUnixMs(current)) {
      Credential next = source.mint(now).value();
      if (!minted_at.empty()) {
        EXPECT_NE(next.value, current.value);
      }
      current = std::move(next);
      minted_at.push_back(now);
    }
    ASSERT_LT(now, current.expires_unix_ms) << "a token outlived APNs' hour";
    clock.advance(std::chrono::seconds(10));
  }
  ASSERT_EQ(minted_at.size(), 5u);  // 0, 40, 80, 120, 160 minutes
  for (std::size_t i = 1; i < minted_at.size(); ++i) {
    const std::int64_t gap = minted_at[i] - minted_at[i - 1];
    EXPECT_GE(gap, 20 * 60 * 1000);
    EXPECT_LE(gap, 41 * 60 * 1000);
  }
}

// ---- apns-id -----------------------------------------------------------------------------------

TEST(ApnsId, IsAStableVersion5UuidOfTheMessageId) {
  const std::regex canonical(
      "^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (const std::string id :
       {"01J9ZQ4N3V6Y7W8X9A0B1C2D3E", "01J9ZQ4N3V6Y7W8X9A0B1C2D3F", "", "x"}) {
    std::string uuid = push::apnsIdFor(id);
    EXPECT_TRUE(std::regex_match(uuid, canonical)) << uuid;
    EXPECT_EQ(push::apnsIdFor(id), uuid);
    seen.insert(uuid);
  }
  EXPECT_EQ(seen.size(), 4u);
}

// ---- encode ------------------------------------------------------------------------------------

TEST(ApnsEncode, GoldenRequest) {
  auto provider = mustMake(apnsConfig(
      {{"base_url", "https://127.0.0.1:2197/"}, {"priority", "10"}, {"expiration", "1h"}}));
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  message.data_json =
      R"({"order":"A-17","collapse_id":"order-A-17","aps":{"sound":"default","badge":2}})";
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok()) << request.error().message;
  const HttpRequest& send = http(request);
  EXPECT_EQ(send.method, HttpMethod::Post);
  EXPECT_EQ(send.url, std::string("https://127.0.0.1:2197/3/device/") + kToken);
  EXPECT_EQ(send.http_version, HttpVersion::Http2Required);
  EXPECT_EQ(send.pool_key, "TEAM123456:KEY1234567");
  EXPECT_EQ(send.headers, (std::vector<Header>{{"authorization", "bearer jwt.value.here"},
                                               {"apns-topic", "com.shop.app"},
                                               {"apns-push-type", "alert"},
                                               {"apns-id", push::apnsIdFor(message.id)},
                                               {"content-type", "application/json"},
                                               {"apns-priority", "10"},
                                               {"apns-expiration", "1700003600"},
                                               {"apns-collapse-id", "order-A-17"}}));
  EXPECT_EQ(send.body, R"({"order":"A-17","aps":{"sound":"default","badge":2,)"
                       R"("alert":{"title":"Заказ A-17","body":"Ваш заказ в пути"}}})");
}

TEST(ApnsEncode, DefaultsLeaveOptionalHeadersOut) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  message.title.clear();
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(http(request).url, std::string("https://api.push.apple.com/3/device/") + kToken);
  EXPECT_FALSE(header(http(request), "apns-priority"));
  EXPECT_FALSE(header(http(request), "apns-expiration"));
  EXPECT_FALSE(header(http(request), "apns-collapse-id"));
  EXPECT_EQ(http(request).body, R"({"aps":{"alert":{"body":"Ваш заказ в пути"}}})");
}

TEST(ApnsEncode, RetriesCarryTheSameApnsId) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  OutboundMessage first = pushMessage();
  OutboundMessage retry = pushMessage();
  retry.attempt = 3;
  retry.now_unix_ms += 60000;
  retry.credential = "newer.jwt.value";
  EXPECT_EQ(header(http(provider->encode(first)), "apns-id"),
            header(http(provider->encode(retry)), "apns-id"));
  OutboundMessage other = pushMessage();
  other.id = "01J9ZQ4N3V6Y7W8X9A0B1C2D3F";
  EXPECT_NE(header(http(provider->encode(first)), "apns-id"),
            header(http(provider->encode(other)), "apns-id"));
}

TEST(ApnsEncode, MessageTtlBecomesTheExpirationUnlessConfigured) {
  OutboundMessage message = pushMessage();
  message.expires_unix_ms = message.now_unix_ms + 7'200'500;
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(header(http(provider->encode(message)), "apns-expiration"),
            std::to_string(message.expires_unix_ms / 1000));
  auto configured = mustMake(apnsConfig({{"expiration", "0"}}));
  ASSERT_NE(configured, nullptr);
  EXPECT_EQ(header(http(configured->encode(message)), "apns-expiration"), "0");
}

TEST(ApnsEncode, ExpirationZeroMeansAtMostOnce) {
  auto provider = mustMake(apnsConfig({{"expiration", "0"}}));
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(header(http(provider->encode(pushMessage())), "apns-expiration"), "0");
}

TEST(ApnsEncode, BackgroundPushIsSilentWithPriority5) {
  auto provider = mustMake(apnsConfig({{"push_type", "background"}}));
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  message.data_json = R"({"sync":"orders"})";
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(header(http(request), "apns-push-type"), "background");
  EXPECT_EQ(header(http(request), "apns-priority"), "5");
  EXPECT_EQ(http(request).body, R"({"sync":"orders","aps":{"content-available":1}})");
}

struct TopicCase {
  std::string push_type;
  std::string topic;
  std::string expected;
};

void PrintTo(const TopicCase& c, std::ostream* os) { *os << c.push_type << " " << c.topic; }

class ApnsTopicTest : public ::testing::TestWithParam<TopicCase> {};

TEST_P(ApnsTopicTest, AddsThePushTypesSuffixOnce) {
  auto provider =
      mustMake(apnsConfig({{"push_type", GetParam().push_type}, {"topic", GetParam().topic}}));
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(header(http(provider->encode(pushMessage())), "apns-topic"), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    PushTypes, ApnsTopicTest,
    ::testing::Values(
        TopicCase{"alert", "com.shop.app", "com.shop.app"},
        TopicCase{"voip", "com.shop.app", "com.shop.app.voip"},
        TopicCase{"voip", "com.shop.app.voip", "com.shop.app.voip"},
        TopicCase{"liveactivity", "com.shop.app", "com.shop.app.push-type.liveactivity"},
        TopicCase{"complication", "com.shop.app", "com.shop.app.complication"},
        TopicCase{"fileprovider", "com.shop.app", "com.shop.app.pushkit.fileprovider"},
        TopicCase{"location", "com.shop.app", "com.shop.app.location-query"},
        TopicCase{"pushtotalk", "com.shop.app", "com.shop.app.voip-ptt"},
        TopicCase{"widgets", "com.shop.app", "com.shop.app.push-type.widgets"}));

std::string paddedBody(std::size_t payload_size) {
  const std::size_t frame = std::string(R"({"aps":{"alert":{"body":""}}})").size();
  return std::string(payload_size - frame, 'x');
}

TEST(ApnsEncode, PayloadLimitIs4096AndVoip5120) {
  auto alert = mustMake(apnsConfig());
  auto voip = mustMake(apnsConfig({{"push_type", "voip"}}));
  ASSERT_NE(alert, nullptr);
  ASSERT_NE(voip, nullptr);
  OutboundMessage message = pushMessage();
  message.title.clear();
  message.text = paddedBody(4096);
  auto at_limit = alert->encode(message);
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(http(at_limit).body.size(), 4096u);
  message.text = paddedBody(4097);
  auto over = alert->encode(message);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "payload_too_large");
  EXPECT_TRUE(voip->encode(message).ok());
  message.text = paddedBody(5121);
  EXPECT_FALSE(voip->encode(message).ok());
}

struct EncodeErrorCase {
  std::string name;
  std::function<void(OutboundMessage&)> change;
  std::string error_code;
};

void PrintTo(const EncodeErrorCase& c, std::ostream* os) { *os << c.name; }

class ApnsEncodeErrorTest : public ::testing::TestWithParam<EncodeErrorCase> {};

TEST_P(ApnsEncodeErrorTest, RefusesBeforeSending) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  OutboundMessage message = pushMessage();
  GetParam().change(message);
  auto request = provider->encode(message);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.error().code, GetParam().error_code);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ApnsEncodeErrorTest,
    ::testing::Values(
        EncodeErrorCase{"fcm_token", [](auto& m) { m.recipient_platform = "fcm"; },
                        "wrong_platform"},
        EncodeErrorCase{"no_token", [](auto& m) { m.recipient.clear(); }, "invalid_recipient"},
        EncodeErrorCase{"path_injection", [](auto& m) { m.recipient = "abcd/../../x"; },
                        "invalid_recipient"},
        EncodeErrorCase{"token_too_long", [](auto& m) { m.recipient = std::string(201, 'a'); },
                        "invalid_recipient"},
        EncodeErrorCase{"no_credential", [](auto& m) { m.credential.clear(); },
                        "credential_missing"},
        EncodeErrorCase{"data_not_object", [](auto& m) { m.data_json = "\"x\""; }, "bad_data"},
        EncodeErrorCase{
            "collapse_id_too_long",
            [](auto& m) { m.data_json = R"({"collapse_id":")" + std::string(65, 'c') + R"("})"; },
            "bad_data"}),
    [](const auto& info) { return info.param.name; });

// ---- interpret ---------------------------------------------------------------------------------

struct InterpretCase {
  std::string reason;  // empty: no body
  long status;
  Disposition disposition;
  bool pause = false;
  bool refresh = false;
};

void PrintTo(const InterpretCase& c, std::ostream* os) { *os << c.reason << " " << c.status; }

class ApnsInterpretTest : public ::testing::TestWithParam<InterpretCase> {};

TEST_P(ApnsInterpretTest, MapsEveryReason) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  const auto& c = GetParam();
  TransportReply reply;
  reply.status = c.status;
  reply.http_version = "2";
  if (!c.reason.empty()) reply.body = R"({"reason":")" + c.reason + R"("})";
  Verdict verdict = provider->interpret(pushMessage(), reply);
  EXPECT_EQ(verdict.disposition, c.disposition) << toString(verdict.disposition);
  EXPECT_EQ(verdict.pause_provider, c.pause);
  EXPECT_EQ(verdict.refresh_credential, c.refresh);
  EXPECT_EQ(verdict.provider_code, c.reason.empty() ? std::to_string(c.status) : c.reason);
}

INSTANTIATE_TEST_SUITE_P(
    Reasons, ApnsInterpretTest,
    ::testing::Values(
        InterpretCase{"BadDeviceToken", 400, Disposition::RecipientDead},
        InterpretCase{"DeviceTokenNotForTopic", 400, Disposition::RecipientDead},
        InterpretCase{"Unregistered", 410, Disposition::RecipientDead},
        InterpretCase{"ExpiredToken", 410, Disposition::RecipientDead},
        InterpretCase{"ExpiredProviderToken", 403, Disposition::Retry, false, true},
        InterpretCase{"InvalidProviderToken", 403, Disposition::Misconfigured, true},
        InterpretCase{"MissingProviderToken", 403, Disposition::Misconfigured, true},
        InterpretCase{"BadCertificate", 403, Disposition::Misconfigured, true},
        InterpretCase{"BadCertificateEnvironment", 403, Disposition::Misconfigured, true},
        InterpretCase{"Forbidden", 403, Disposition::Misconfigured, true},
        InterpretCase{"UnrelatedKeyIdInToken", 403, Disposition::Misconfigured, true},
        InterpretCase{"BadEnvironmentKeyIdInToken", 403, Disposition::Misconfigured, true},
        InterpretCase{"BadEnvironmentKeyInToken", 403, Disposition::Misconfigured, true},
        InterpretCase{"BadTopic", 400, Disposition::Misconfigured, true},
        InterpretCase{"TopicDisallowed", 400, Disposition::Misconfigured, true},
        InterpretCase{"MissingTopic", 400, Disposition::Misconfigured, true},
        InterpretCase{"BadCollapseId", 400, Disposition::Rejected},
        InterpretCase{"BadExpirationDate", 400, Disposition::Rejected},
        InterpretCase{"BadMessageId", 400, Disposition::Rejected},
        InterpretCase{"BadPriority", 400, Disposition::Rejected},
        InterpretCase{"DuplicateHeaders", 400, Disposition::Rejected},
        InterpretCase{"InvalidPushType", 400, Disposition::Rejected},
        InterpretCase{"MissingDeviceToken", 400, Disposition::Rejected},
        InterpretCase{"PayloadEmpty", 400, Disposition::Rejected},
        InterpretCase{"IdleTimeout", 400, Disposition::Retry},
        InterpretCase{"BadPath", 404, Disposition::Rejected},
        InterpretCase{"MethodNotAllowed", 405, Disposition::Rejected},
        InterpretCase{"PayloadTooLarge", 413, Disposition::Rejected},
        InterpretCase{"TooManyRequests", 429, Disposition::Retry},
        InterpretCase{"TooManyProviderTokenUpdates", 429, Disposition::Retry, true},
        InterpretCase{"InternalServerError", 500, Disposition::Retry},
        InterpretCase{"ServiceUnavailable", 503, Disposition::Retry, true},
        InterpretCase{"Shutdown", 503, Disposition::Retry},
        // Reasons this table does not know fall back on their status.
        InterpretCase{"SomethingNew", 403, Disposition::Misconfigured, true},
        InterpretCase{"SomethingNew", 410, Disposition::RecipientDead},
        InterpretCase{"SomethingNew", 429, Disposition::Retry},
        InterpretCase{"SomethingNew", 502, Disposition::Retry},
        InterpretCase{"SomethingNew", 400, Disposition::Rejected},
        InterpretCase{"", 503, Disposition::Retry, true},
        InterpretCase{"", 500, Disposition::Retry}),
    [](const auto& info) {
      return (info.param.reason.empty() ? std::string("none") : info.param.reason) + "_" +
             std::to_string(info.param.status);
    });

TEST(ApnsInterpret, AcceptedKeepsTheReturnedApnsId) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  TransportReply reply{200, {{"Apns-Id", "6e2b3b5a-1111-4222-8333-444455556666"}}, "", {}, "2"};
  Verdict verdict = provider->interpret(pushMessage(), reply);
  EXPECT_EQ(verdict.disposition, Disposition::Accepted);
  EXPECT_EQ(verdict.provider_message_id, "6e2b3b5a-1111-4222-8333-444455556666");
  reply.headers.clear();
  EXPECT_EQ(provider->interpret(pushMessage(), reply).provider_message_id,
            push::apnsIdFor(pushMessage().id));
}

TEST(ApnsInterpret, GoneTokenDetailCarriesTheTimestamp) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  TransportReply reply{410, {}, R"({"reason":"Unregistered","timestamp":1699990000000})", {}, "2"};
  Verdict verdict = provider->interpret(pushMessage(), reply);
  EXPECT_EQ(verdict.disposition, Disposition::RecipientDead);
  EXPECT_EQ(verdict.detail, "HTTP 410 Unregistered (token invalid since 1699990000000 ms)");
}

TEST(ApnsInterpret, RetryAfterIsPassedOn) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  TransportReply reply{
      503, {}, R"({"reason":"ServiceUnavailable"})", std::chrono::seconds(120), "2"};
  Verdict verdict = provider->interpret(pushMessage(), reply);
  ASSERT_TRUE(verdict.retry_after.has_value());
  EXPECT_EQ(verdict.retry_after->count(), 120);
}

TEST(ApnsInterpret, AnythingButHttp2IsMisconfiguredEvenA200) {
  auto provider = mustMake(apnsConfig());
  ASSERT_NE(provider, nullptr);
  for (const std::string version : {"1.1", "1.0", ""}) {
    for (long status : {200L, 410L, 503L}) {
      TransportReply reply{status, {}, R"({"reason":"Unregistered"})", {}, version};
      Verdict verdict = provider->interpret(pushMessage(), reply);
      EXPECT_EQ(verdict.disposition, Disposition::Misconfigured) << version << " " << status;
      EXPECT_TRUE(verdict.pause_provider);
      EXPECT_EQ(verdict.provider_code, "http_version");
    }
  }
}

}  // namespace
}  // namespace omnigate::channels
