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

constexpr char kMessageId[] = "01J9ZQ4N3V6Y7W8X9A0B1C2D3E";
// hmac.new(b"kannel-pass", b"kannel-dlr:" + id, sha256).hexdigest()[:32], computed with Python.
constexpr char kToken[] = "8dafd4b05b9034de84710247fdd0b49f";
constexpr char kDlrBase[] = "https://gw.example.com/v1/callbacks/kannel-main";

ProviderConfig kannelConfig(const testing::SettingMap& changes = {}) {
  return makeConfig("kannel",
                    {{"url", "http://127.0.0.1:13013/cgi-bin/sendsms"},
                     {"username", "gw"},
                     {"password", "kannel-pass"},
                     {"from", "Shop"},
                     {"dlr_url", kDlrBase}},
                    changes);
}

ProviderPtr kannel(const testing::SettingMap& changes = {}) {
  return testing::mustMake(&makeKannelProvider, kannelConfig(changes));
}

OutboundMessage sms(const std::string& text = "Hello world") {
  return testing::textMessage("sms", "+4912345678", text);
}

std::string expectedDlrUrl() {
  return std::string(kDlrBase) + "?id=" + kMessageId + "&type=%d&token=" + kToken + "&reply=%A";
}

TEST(KannelEncode, BuildsTheSendsmsGet) {
  auto provider = kannel();
  ASSERT_TRUE(provider);
  auto request = provider->encode(sms());
  ASSERT_TRUE(request.ok()) << request.error().message;
  const HttpRequest& req = http(request);
  EXPECT_EQ(req.method, HttpMethod::Get);
  EXPECT_EQ(req.body, "");
  EXPECT_EQ(req.url,
            "http://127.0.0.1:13013/cgi-bin/sendsms?username=gw&password=kannel-pass&"
            "to=%2B4912345678&from=Shop&text=Hello+world&coding=0&charset=UTF-8&dlr-mask=31&"
            "dlr-url=https%3A%2F%2Fgw.example.com%2Fv1%2Fcallbacks%2Fkannel-main%3Fid%3D"
            "01J9ZQ4N3V6Y7W8X9A0B1C2D3E%26type%3D%25d%26token%3D8dafd4b05b9034de84710247fdd0b49f"
            "%26reply%3D%25A");
  auto fields = formMap(wire::queryOf(req.url));
  EXPECT_EQ(fields["dlr-url"], expectedDlrUrl());
}

TEST(KannelEncode, SendsUcs2WithCoding2) {
  auto utf8 = kannel();
  ASSERT_TRUE(utf8);
  auto fields = formMap(wire::queryOf(http(utf8->encode(sms("Привет €"))).url));
  EXPECT_EQ(fields["coding"], "2");
  EXPECT_EQ(fields["charset"], "UTF-8");
  EXPECT_EQ(fields["text"], "Привет €");

  auto utf16 = kannel({{"charset", "utf-16be"}});
  ASSERT_TRUE(utf16);
  auto converted = formMap(wire::queryOf(http(utf16->encode(sms("Ж😀"))).url));
  EXPECT_EQ(converted["coding"], "2");
  EXPECT_EQ(converted["charset"], "UTF-16BE");
  EXPECT_EQ(converted["text"], std::string("\x04\x16\xD8\x3D\xDE\x00", 6));
  // GSM texts stay UTF-8 whatever the charset setting.
  auto gsm = formMap(wire::queryOf(http(utf16->encode(sms("plain"))).url));
  EXPECT_EQ(gsm["coding"], "0");
  EXPECT_EQ(gsm["text"], "plain");
}

TEST(KannelEncode, PostPutsParametersInHeaders) {
  auto provider = kannel({{"method", "post"}, {"smsc", "smsc-a"}, {"dlr_mask", "3"}});
  ASSERT_TRUE(provider);
  OutboundMessage message = sms("Заказ A-17");
  message.category = "marketing";
  const HttpRequest& req = http(provider->encode(message));
  EXPECT_EQ(req.method, HttpMethod::Post);
  EXPECT_EQ(req.url, "http://127.0.0.1:13013/cgi-bin/sendsms");
  EXPECT_EQ(req.body, "Заказ A-17");
  EXPECT_EQ(header(req, "Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(header(req, "X-Kannel-Username"), "gw");
  EXPECT_EQ(header(req, "X-Kannel-Password"), "kannel-pass");
  EXPECT_EQ(header(req, "X-Kannel-To"), "+4912345678");
  EXPECT_EQ(header(req, "X-Kannel-From"), "Shop");
  EXPECT_EQ(header(req, "X-Kannel-Coding"), "2");
  EXPECT_EQ(header(req, "X-Kannel-SMSC"), "smsc-a");
  EXPECT_EQ(header(req, "X-Kannel-DLR-Mask"), "3");
  EXPECT_EQ(header(req, "X-Kannel-DLR-URL"), expectedDlrUrl());
}

TEST(KannelEncode, SenderPerCategoryAndNoDlrWithoutUrl) {
  auto provider = kannel({{"dlr_url", ""}, {"from_marketing", "Promo"}});
  ASSERT_TRUE(provider);
  OutboundMessage message = sms();
  message.category = "marketing";
  auto fields = formMap(wire::queryOf(http(provider->encode(message)).url));
  EXPECT_EQ(fields["from"], "Promo");
  EXPECT_EQ(fields.count("dlr-url"), 0u);
  EXPECT_EQ(fields.count("dlr-mask"), 0u);
}

TEST(KannelEncode, RefusesTooManySegments) {
  auto provider = kannel({{"max_segments", "1"}});
  ASSERT_TRUE(provider);
  EXPECT_TRUE(provider->encode(sms(std::string(160, 'x'))).ok());
  auto two = provider->encode(sms(std::string(161, 'x')));
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, "too_many_segments");
}

struct InterpretCase {
  const char* name;
  long status;
  std::string body;
  Disposition disposition;
  bool pause;
};

class KannelInterpret : public ::testing::TestWithParam<InterpretCase> {};

TEST_P(KannelInterpret, MapsSmsboxReplies) {
  const InterpretCase& c = GetParam();
  auto provider = kannel();
  ASSERT_TRUE(provider);
  Verdict verdict = provider->interpret(sms(), reply(c.status, c.body));
  EXPECT_EQ(verdict.disposition, c.disposition) << c.name << ": " << toString(verdict.disposition);
  EXPECT_EQ(verdict.pause_provider, c.pause) << c.name;
  EXPECT_EQ(verdict.provider_code, std::to_string(c.status));
  EXPECT_EQ(verdict.provider_message_id, c.disposition == Disposition::Accepted ? kMessageId : "")
      << c.name;
}

// Bodies exactly as gw/smsbox.c writes them.
INSTANTIATE_TEST_SUITE_P(
    Replies, KannelInterpret,
    ::testing::Values(
        InterpretCase{"accepted", 202, "0: Accepted for delivery", Disposition::Accepted, false},
        InterpretCase{"queued", 202, "3: Queued for later delivery", Disposition::Accepted, false},
        InterpretCase{"sent", 202, "Sent.", Disposition::Accepted, false},
        InterpretCase{"auth", 403, "Authorization failed for sendsms", Disposition::Misconfigured,
                      true},
        InterpretCase{"not_routable", 403, "Not routable. Do not try again.", Disposition::Rejected,
                      false},
        InterpretCase{"missing_receiver", 400, "Missing receiver number, rejected",
                      Disposition::Rejected, false},
        InterpretCase{"no_sender", 400, "Sender missing and no global set, rejected",
                      Disposition::Misconfigured, true},
        InterpretCase{"bad_coding", 400, "Coding field misformed, rejected", Disposition::Rejected,
                      false},
        InterpretCase{"denied", 400, "Number(s) has/have been denied by white- and/or black-lists.",
                      Disposition::RecipientDead, false},
        InterpretCase{"temporal", 503, "Temporal failure, try again later.", Disposition::Retry,
                      true},
        InterpretCase{"sending_failed", 500, "Sending failed.", Disposition::Retry, false},
        InterpretCase{"unknown_request", 404, "Unknown request.", Disposition::Misconfigured,
                      true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(KannelInterpret, ReadsMessageSplitsAndRetryAfter) {
  auto provider = kannel();
  ASSERT_TRUE(provider);
  Verdict split =
      provider->interpret(sms(std::string(200, 'a')), reply(202, "Sent. Message splits: 2"));
  EXPECT_EQ(split.segments, 2);
  Verdict counted = provider->interpret(sms(std::string(400, 'a')), reply(202, "0: Accepted"));
  EXPECT_EQ(counted.segments, 3);
  Verdict later = provider->interpret(
      sms(), reply(503, "Temporal failure, try again later.", std::chrono::seconds(30)));
  ASSERT_TRUE(later.retry_after);
  EXPECT_EQ(later.retry_after->count(), 30);
}

InboundRequest dlr(const std::string& query, const std::string& method = "GET",
                   const std::string& body = "") {
  InboundRequest request;
  request.method = method;
  request.url = std::string(kDlrBase) + "?" + query;
  request.headers = {{"User-Agent", "Kannel/1.4.5"}};
  request.body = body;
  return request;
}

struct DlrCase {
  const char* type;
  std::optional<ReceiptStatus> status;
};

class KannelDlr : public ::testing::TestWithParam<DlrCase> {};

TEST_P(KannelDlr, MapsDlrTypes) {
  auto provider = kannel();
  ASSERT_TRUE(provider);
  auto updates =
      provider->parseCallback(dlr(std::string("id=") + kMessageId + "&type=" + GetParam().type +
                                  "&token=" + kToken + "&reply=id%3A1+stat%3ADELIVRD"));
  ASSERT_TRUE(updates.ok()) << updates.error().message;
  if (!GetParam().status) {
    EXPECT_TRUE(updates->empty());
    return;
  }
  ASSERT_EQ(updates->size(), 1u);
  EXPECT_EQ(updates->at(0).status, *GetParam().status);
  EXPECT_EQ(updates->at(0).provider_message_id, kMessageId);
  EXPECT_EQ(updates->at(0).message_id, kMessageId);
  EXPECT_EQ(updates->at(0).code, std::string("dlr:") + GetParam().type);
  EXPECT_EQ(updates->at(0).detail, "id:1 stat:DELIVRD");
}

INSTANTIATE_TEST_SUITE_P(Types, KannelDlr,
                         ::testing::Values(DlrCase{"1", ReceiptStatus::Delivered},
                                           DlrCase{"2", ReceiptStatus::Failed},
                                           DlrCase{"16", ReceiptStatus::Failed},
                                           DlrCase{"4", std::nullopt}, DlrCase{"8", std::nullopt},
                                           DlrCase{"32", std::nullopt}));

TEST(KannelDlr, AcceptsFormPosts) {
  auto provider = kannel();
  ASSERT_TRUE(provider);
  auto updates = provider->parseCallback(
      dlr("id=" + std::string(kMessageId), "POST", "type=1&token=" + std::string(kToken)));
  ASSERT_TRUE(updates.ok()) << updates.error().message;
  ASSERT_EQ(updates->size(), 1u);
  EXPECT_EQ(updates->at(0).status, ReceiptStatus::Delivered);
}

TEST(KannelDlr, RejectsForgedReports) {
  auto provider = kannel();
  ASSERT_TRUE(provider);
  const std::string forged[] = {
      "id=" + std::string(kMessageId) + "&type=1",
      "id=" + std::string(kMessageId) + "&type=1&token=8dafd4b05b9034de84710247fdd0b49e",
      "id=01J9ZQ4N3V6Y7W8X9A0B1C2D3F&type=1&token=" + std::string(kToken),
      "type=1&token=" + std::string(kToken),
      "id=%zz&type=1",
  };
  for (const auto& query : forged) {
    auto result = provider->parseCallback(dlr(query));
    ASSERT_FALSE(result.ok()) << query;
    EXPECT_EQ(result.error().code, "unauthorized") << query;
  }
  auto other_secret = kannel({{"dlr_secret", "something-else"}});
  ASSERT_TRUE(other_secret);
  EXPECT_FALSE(
      other_secret->parseCallback(dlr("id=" + std::string(kMessageId) + "&type=1&token=" + kToken))
          .ok());
  auto no_dlr = kannel({{"dlr_url", ""}});
  ASSERT_TRUE(no_dlr);
  EXPECT_FALSE(
      no_dlr->parseCallback(dlr("id=" + std::string(kMessageId) + "&type=1&token=" + kToken)).ok());
}

TEST(KannelDlr, RejectsNonNumericTypes) {
  auto provider = kannel();
  ASSERT_TRUE(provider);
  auto result =
      provider->parseCallback(dlr("id=" + std::string(kMessageId) + "&type=%25d&token=" + kToken));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, "bad_callback");
}

struct ConfigCase {
  const char* name;
  testing::SettingMap changes;
  const char* code;
};

class KannelConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(KannelConfig, RejectsBadSettingsNamingTheKey) {
  auto provider = makeKannelProvider(kannelConfig(GetParam().changes));
  ASSERT_FALSE(provider.ok()) << GetParam().name;
  EXPECT_EQ(provider.error().code, GetParam().code) << provider.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, KannelConfig,
    ::testing::Values(ConfigCase{"unknown", {{"dlrurl", "x"}}, "setting:dlrurl"},
                      ConfigCase{"no_url", {{"url", ""}}, "setting:url"},
                      ConfigCase{"no_username", {{"username", ""}}, "setting:username"},
                      ConfigCase{"no_password", {{"password", ""}}, "setting:password"},
                      ConfigCase{"bad_method", {{"method", "put"}}, "setting:method"},
                      ConfigCase{"bad_dlr_url", {{"dlr_url", "gw/dlr"}}, "setting:dlr_url"},
                      ConfigCase{"bad_mask", {{"dlr_mask", "64"}}, "setting:dlr_mask"},
                      ConfigCase{"bad_charset", {{"charset", "latin1"}}, "setting:charset"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace omnigate::channels
