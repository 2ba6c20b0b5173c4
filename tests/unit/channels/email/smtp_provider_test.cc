#include "channels/email/smtp_provider.h"

#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <string>

#include "tests/unit/channels/email/mime_reader.h"

namespace omnigate::channels {
namespace {

using email::testing::decodeEncodedWords;
using email::testing::Entity;
using email::testing::readEntity;

ProviderConfig smtpConfig(std::map<std::string, std::string> settings) {
  ProviderConfig config;
  config.name = "smtp-main";
  config.kind = "smtp";
  for (auto& [key, value] : settings) config.settings[key] = Setting{value, {}, false, 1};
  return config;
}

std::map<std::string, std::string> baseSettings() {
  return {{"url", "smtp://mail.shop.example:587"},
          {"from", "Магазин <noreply@shop.example>"},
          {"username", "gateway"},
          {"password", "s3cret"}};
}

ProviderPtr mustMake(const ProviderConfig& config) {
  auto provider = makeSmtpProvider(config);
  if (!provider.ok()) {
    ADD_FAILURE() << provider.error().code << ": " << provider.error().message;
    return nullptr;
  }
  return std::move(provider.value());
}

OutboundMessage shippedMessage() {
  OutboundMessage message;
  message.id = "01J9ZQ4N3V6Y7W8X9A0B1C2D3E";
  message.channel = "email";
  message.category = "transactional";
  message.now_unix_ms = 1503411323999;
  message.recipient = "petya@example.net";
  message.subject = "Заказ A-17 отправлен";
  message.text = "Ваш заказ в пути.";
  message.html = "<p>Ваш заказ в пути.</p>";
  return message;
}

// ---- factory -----------------------------------------------------------------------------------

struct ConfigCase {
  std::string name;
  std::map<std::string, std::string> changes;  // "" removes the key
  std::string error_code;                      // empty: accepted
};

class SmtpConfigTest : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(SmtpConfigTest, ValidatesSettingsNamingTheKey) {
  auto settings = baseSettings();
  for (const auto& [key, value] : GetParam().changes) {
    if (value.empty()) {
      settings.erase(key);
    } else {
      settings[key] = value;
    }
  }
  auto provider = makeSmtpProvider(smtpConfig(settings));
  if (GetParam().error_code.empty()) {
    EXPECT_TRUE(provider.ok()) << provider.error().message;
  } else {
    ASSERT_FALSE(provider.ok());
    EXPECT_EQ(provider.error().code, GetParam().error_code) << provider.error().message;
    EXPECT_EQ(provider.error().message.find("s3cret"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Settings, SmtpConfigTest,
    ::testing::Values(
        ConfigCase{"Base", {}, ""},
        ConfigCase{"Smtps", {{"url", "smtps://mail.shop.example:465"}}, ""},
        ConfigCase{"EhloName", {{"url", "smtp://mail.shop.example:587/gw.shop.example"}}, ""},
        ConfigCase{"NoAuth", {{"username", ""}, {"password", ""}}, ""},
        ConfigCase{"UnknownKey", {{"tls", "yes"}}, "setting:tls"},
        ConfigCase{"MissingUrl", {{"url", ""}}, "setting:url"},
        ConfigCase{"HttpUrl", {{"url", "https://mail.shop.example"}}, "setting:url"},
        ConfigCase{"NoHost", {{"url", "smtp://"}}, "setting:url"},
        ConfigCase{"CredentialsInUrl", {{"url", "smtp://u:p@mail.shop.example"}}, "setting:url"},
        ConfigCase{"MissingFrom", {{"from", ""}}, "setting:from"},
        ConfigCase{"BadFrom", {{"from", "Shop <shop>"}}, "setting:from"},
        ConfigCase{"UserWithoutPassword", {{"password", ""}}, "setting:password"},
        ConfigCase{"PasswordWithoutUser", {{"username", ""}}, "setting:username"},
        ConfigCase{"BadBool", {{"require_starttls", "yes"}}, "setting:require_starttls"},
        ConfigCase{
            "ClearTextPassword", {{"require_starttls", "false"}}, "setting:require_starttls"},
        ConfigCase{"ClearTextToLoopbackIsFine",
                   {{"require_starttls", "false"}, {"url", "smtp://127.0.0.1:2525"}},
                   ""},
        ConfigCase{"BadReplyTo", {{"reply_to", "nobody"}}, "setting:reply_to"},
        ConfigCase{"VerpEnvelope", {{"envelope_from", "bounces+{id}@shop.example"}}, ""},
        ConfigCase{"BadEnvelope", {{"envelope_from", "bounces {id}"}}, "setting:envelope_from"},
        ConfigCase{"BadUnsubscribe",
                   {{"list_unsubscribe", "ftp://shop.example/{id}"}},
                   "setting:list_unsubscribe"}),
    [](const ::testing::TestParamInfo<ConfigCase>& info) { return info.param.name; });

// ---- encode ------------------------------------------------------------------------------------

TEST(SmtpEncodeTest, BuildsTheEnvelopeAndAStableMessage) {
  ProviderPtr provider = mustMake(smtpConfig(baseSettings()));
  ASSERT_TRUE(provider);
  auto request = provider->encode(shippedMessage());
  ASSERT_TRUE(request.ok()) << request.error().message;
  ASSERT_TRUE(std::holds_alternative<SmtpRequest>(request->what));
  const auto& smtp = std::get<SmtpRequest>(request->what);
  EXPECT_EQ(smtp.url, "smtp://mail.shop.example:587");
  EXPECT_EQ(smtp.mail_from, "noreply@shop.example");
  EXPECT_EQ(smtp.rcpt_to, "petya@example.net");
  EXPECT_EQ(smtp.username, "gateway");
  EXPECT_EQ(smtp.password, "s3cret");
  EXPECT_TRUE(smtp.require_tls);
  EXPECT_EQ(smtp.pool_key, "smtp:smtp-main");

  Entity entity = readEntity(smtp.payload);
  EXPECT_EQ(entity.get("Message-ID"), "<01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example>");
  EXPECT_EQ(entity.get("Date"), "Tue, 22 Aug 2017 14:15:23 +0000");
  EXPECT_EQ(decodeEncodedWords(entity.get("From")), "Магазин <noreply@shop.example>");
  EXPECT_EQ(entity.get("To"), "petya@example.net");
  EXPECT_EQ(decodeEncodedWords(entity.get("Subject")), "Заказ A-17 отправлен");
  EXPECT_TRUE(entity.all("List-Unsubscribe").empty());  // transactional

  // The retry: another attempt, later, same Message-ID.
  OutboundMessage retry = shippedMessage();
  retry.attempt = 2;
  retry.now_unix_ms += 600'000;
  auto again = provider->encode(retry);
  ASSERT_TRUE(again.ok());
  Entity second = readEntity(std::get<SmtpRequest>(again->what).payload);
  EXPECT_EQ(second.get("Message-ID"), entity.get("Message-ID"));
  EXPECT_EQ(second.get("Date"), "Tue, 22 Aug 2017 14:25:23 +0000");
}

TEST(SmtpEncodeTest, MarketingCarriesOneClickUnsubscribe) {
  auto settings = baseSettings();
  settings["url"] = "smtps://mail.shop.example:465";
  settings["reply_to"] = "Support <support@shop.example>";
  settings["envelope_from"] = "bounces+{id}@shop.example";
  ProviderConfig config = smtpConfig(settings);
  config.settings["list_unsubscribe"] =
      Setting{"", {"https://shop.example/u/{id}", "mailto:unsubscribe+{id}@shop.example"}, true, 1};
  ProviderPtr provider = mustMake(config);
  ASSERT_TRUE(provider);

  OutboundMessage message = shippedMessage();
  message.category = "marketing";
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok()) << request.error().message;
  const auto& smtp = std::get<SmtpRequest>(request->what);
  EXPECT_TRUE(smtp.require_tls);
  EXPECT_EQ(smtp.mail_from, "bounces+01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example");
  Entity entity = readEntity(smtp.payload);
  EXPECT_EQ(entity.get("List-Unsubscribe"),
            "<https://shop.example/u/01J9ZQ4N3V6Y7W8X9A0B1C2D3E>, "
            "<mailto:unsubscribe+01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example>");
  EXPECT_EQ(entity.get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  EXPECT_EQ(entity.get("Reply-To"), "Support <support@shop.example>");

  message.category = "transactional";
  auto transactional = provider->encode(message);
  ASSERT_TRUE(transactional.ok());
  EXPECT_TRUE(readEntity(std::get<SmtpRequest>(transactional->what).payload)
                  .all("List-Unsubscribe")
                  .empty());
}

TEST(SmtpEncodeTest, UnsafeIdCharactersAreEscapedNotDropped) {
  ProviderPtr provider = mustMake(smtpConfig(baseSettings()));
  ASSERT_TRUE(provider);
  OutboundMessage message = shippedMessage();
  message.id = "a b>c";
  auto request = provider->encode(message);
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(readEntity(std::get<SmtpRequest>(request->what).payload).get("Message-ID"),
            "<a%20b%3Ec@shop.example>");
}

TEST(SmtpEncodeTest, RefusesWhatCannotBeSent) {
  ProviderPtr provider = mustMake(smtpConfig(baseSettings()));
  ASSERT_TRUE(provider);
  struct Case {
    void (*change)(OutboundMessage&);
    const char* code;
  };
  for (const auto& [change, code] : {
           Case{[](OutboundMessage& m) { m.recipient = "not-an-address"; }, "invalid_recipient"},
           Case{[](OutboundMessage& m) { m.recipient = "a@b.example\r\nRCPT TO:<x@evil>"; },
                "invalid_recipient"},
           Case{[](OutboundMessage& m) { m.subject = "Hi\r\nBcc: x@evil"; }, "invalid_header"},
           Case{[](OutboundMessage& m) {
                  m.text.clear();
                  m.html.clear();
                },
                "empty_body"},
       }) {
    OutboundMessage message = shippedMessage();
    change(message);
    auto request = provider->encode(message);
    ASSERT_FALSE(request.ok()) << code;
    EXPECT_EQ(request.error().code, code);
  }
}

// ---- replies -----------------------------------------------------------------------------------

struct ReplyCase {
  long status;
  std::string body;
  Disposition disposition;
  bool pause;
  std::string provider_code;
  friend void PrintTo(const ReplyCase& c, std::ostream* out) {
    *out << c.status << " '" << c.body << "'";
  }
};

class SmtpReplyTest : public ::testing::TestWithParam<ReplyCase> {};

TEST_P(SmtpReplyTest, ClassifiesPerRfc5321AndKeepsTheServerText) {
  ProviderPtr provider = mustMake(smtpConfig(baseSettings()));
  ASSERT_TRUE(provider);
  TransportReply reply;
  reply.status = GetParam().status;
  reply.body = GetParam().body;
  Verdict verdict = provider->interpret(shippedMessage(), reply);
  EXPECT_EQ(verdict.disposition, GetParam().disposition)
      << toString(verdict.disposition) << " / " << verdict.detail;
  EXPECT_EQ(verdict.pause_provider, GetParam().pause);
  EXPECT_EQ(verdict.provider_code, GetParam().provider_code);
  EXPECT_NE(verdict.detail.find(std::to_string(GetParam().status)), std::string::npos);
  // The server's words survive (first line, without its code prefix).
  std::string first_line = GetParam().body.substr(0, GetParam().body.find('\r'));
  if (first_line.size() > 4 && first_line[3] == '-') first_line = first_line.substr(4);
  EXPECT_NE(verdict.detail.find(first_line), std::string::npos) << verdict.detail;
  EXPECT_EQ(verdict.detail.find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, SmtpReplyTest,
    ::testing::Values(
        ReplyCase{250, "2.0.0 Ok: queued as 4BbLqq0l4Kz9v", Disposition::Accepted, false,
                  "250 2.0.0"},
        ReplyCase{250, "OK", Disposition::Accepted, false, "250"},
        ReplyCase{421, "4.3.2 Service shutting down", Disposition::Retry, true, "421 4.3.2"},
        ReplyCase{450, "4.2.0 <petya@example.net>: Recipient address rejected: Greylisted",
                  Disposition::Retry, false, "450 4.2.0"},
        ReplyCase{451, "4.3.0 Error: queue file write error", Disposition::Retry, false,
                  "451 4.3.0"},
        ReplyCase{452, "4.5.3 Error: too many recipients", Disposition::Retry, false, "452 4.5.3"},
        ReplyCase{454, "4.7.0 TLS not available due to local problem", Disposition::Retry, true,
                  "454 4.7.0"},
        ReplyCase{450, "4.1.1 <petya@example.net>: Recipient address temporarily unknown",
                  Disposition::Retry, false, "450 4.1.1"},
        ReplyCase{550,
                  "550-5.1.1 The email account that you tried to reach does not exist.\r\n"
                  "550 5.1.1 Please try double-checking the recipient's email address",
                  Disposition::RecipientDead, false, "550 5.1.1"},
        ReplyCase{550, "5.1.1 <petya@example.net>: Recipient address rejected: User unknown",
                  Disposition::RecipientDead, false, "550 5.1.1"},
        ReplyCase{550, "Requested action not taken: no such user here", Disposition::RecipientDead,
                  false, "550"},
        ReplyCase{550, "5.2.1 The email account that you tried to reach is disabled",
                  Disposition::RecipientDead, false, "550 5.2.1"},
        ReplyCase{550, "5.7.1 Message rejected as spam", Disposition::Rejected, false, "550 5.7.1"},
        ReplyCase{550, "Requested action not taken: mailbox unavailable", Disposition::Rejected,
                  false, "550"},
        ReplyCase{551, "User not local; please try <other@example.org>", Disposition::RecipientDead,
                  false, "551"},
        ReplyCase{552, "5.3.4 Message size exceeds fixed limit", Disposition::Rejected, false,
                  "552 5.3.4"},
        ReplyCase{552, "5.2.2 Mailbox full", Disposition::Retry, false, "552 5.2.2"},
        ReplyCase{553, "5.1.3 Bad recipient address syntax", Disposition::RecipientDead, false,
                  "553 5.1.3"},
        ReplyCase{553, "5.7.1 <noreply@shop.example>: Sender address rejected: not owned by user",
                  Disposition::Misconfigured, true, "553 5.7.1"},
        ReplyCase{550, "5.1.8 Sender domain does not resolve", Disposition::Misconfigured, true,
                  "550 5.1.8"},
        ReplyCase{554, "5.7.1 <petya@example.net>: Relay access denied", Disposition::Misconfigured,
                  true, "554 5.7.1"},
        ReplyCase{554, "5.7.1 Message content rejected", Disposition::Rejected, false, "554 5.7.1"},
        ReplyCase{554, "Transaction failed", Disposition::Rejected, false, "554"},
        ReplyCase{530, "5.7.0 Authentication required", Disposition::Misconfigured, true,
                  "530 5.7.0"},
        ReplyCase{535, "5.7.8 Error: authentication failed: bad credentials",
                  Disposition::Misconfigured, true, "535 5.7.8"},
        ReplyCase{501, "5.5.4 Syntax: MAIL FROM:<address>", Disposition::Rejected, false,
                  "501 5.5.4"},
        ReplyCase{354, "End data with <CR><LF>.<CR><LF>", Disposition::Retry, false, "354"},
        ReplyCase{0, "connection closed before greeting", Disposition::Retry, false, "0"}));

TEST(SmtpReplyTest, KeepsTheQueueIdOfAnAcceptedMessage) {
  ProviderPtr provider = mustMake(smtpConfig(baseSettings()));
  ASSERT_TRUE(provider);
  TransportReply reply;
  reply.status = 250;
  reply.body = "2.0.0 Ok: queued as 4BbLqq0l4Kz9v";
  EXPECT_EQ(provider->interpret(shippedMessage(), reply).provider_message_id, "4BbLqq0l4Kz9v");
}

struct FailureCase {
  std::string url;
  std::string require_starttls;
  TransportErrorKind kind;
  Disposition disposition;
  bool pause;
};

class SmtpFailureTest : public ::testing::TestWithParam<FailureCase> {};

TEST_P(SmtpFailureTest, ConnectionTroubleRetriesAndTlsTroubleIsConfiguration) {
  auto settings = baseSettings();
  settings["url"] = GetParam().url;
  settings["require_starttls"] = GetParam().require_starttls;
  ProviderPtr provider = mustMake(smtpConfig(settings));
  ASSERT_TRUE(provider);
  TransportFailure failure{GetParam().kind, true, "details from curl"};
  Verdict verdict = provider->interpretFailure(shippedMessage(), failure);
  EXPECT_EQ(verdict.disposition, GetParam().disposition) << toString(GetParam().kind);
  EXPECT_EQ(verdict.pause_provider, GetParam().pause) << toString(GetParam().kind);
  EXPECT_EQ(verdict.provider_code, toString(GetParam().kind));
  EXPECT_NE(verdict.detail.find("details from curl"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Failures, SmtpFailureTest,
    ::testing::Values(FailureCase{"smtp://mail.shop.example", "true", TransportErrorKind::Connect,
                                  Disposition::Retry, false},
                      FailureCase{"smtp://mail.shop.example", "true", TransportErrorKind::Timeout,
                                  Disposition::Retry, false},
                      FailureCase{"smtp://mail.shop.example", "true", TransportErrorKind::Reset,
                                  Disposition::Retry, false},
                      FailureCase{"smtp://mail.shop.example", "true", TransportErrorKind::Resolve,
                                  Disposition::Retry, false},
                      FailureCase{"smtp://mail.shop.example", "true", TransportErrorKind::Tls,
                                  Disposition::Misconfigured, true},
                      FailureCase{"smtps://mail.shop.example", "false", TransportErrorKind::Tls,
                                  Disposition::Misconfigured, true},
                      FailureCase{"smtp://127.0.0.1:2525", "false", TransportErrorKind::Tls,
                                  Disposition::Retry, false},
                      FailureCase{"smtp://mail.shop.example", "true", TransportErrorKind::Local,
                                  Disposition::Rejected, false}));

}  // namespace
}  // namespace omnigate::channels
