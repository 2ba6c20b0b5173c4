#include "daemon/api/message_request.h"

#include <gtest/gtest.h>

#include "channels/sms/phone_number.h"
#include "daemon/api/handlers.h"

namespace omnigate::api {
namespace {

TEST(ParseSendRequest, AcceptsTheDesignExample) {
  auto r = parseSendRequest(R"({"customer_id":"c-42",
    "to":{"email":"a@example.com","phone":"+79161234567",
          "push":[{"platform":"fcm","token":"tok"}],"telegram":"123456"},
    "content":{"email":{"subject":"Hi","text":"Hello","html":"<b>Hello</b>"},
               "sms":{"text":"Hello"},"push":{"title":"Hi","body":"Hello","data":{"k":"v"}},
               "messenger":{"text":"Hello"}},
    "category":"marketing","channels":["push","sms","email"],"strategy":"fallback",
    "dedupe_key":"d","cancel_keys":["cart-991"],"send_at":"2026-11-23T10:00:00Z","ttl":"2h",
    "priority":"high","metadata":{"order":"A-17"}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->customer_id, "c-42");
  EXPECT_EQ(r->payload.to.push.at(0).platform, "fcm");
  EXPECT_EQ(r->payload.content.at("push").data_json, R"({"k":"v"})");
  EXPECT_EQ(r->channels, (std::vector<std::string>{"push", "sms", "email"}));
  EXPECT_EQ(r->ttl->count(), 7'200'000);
  EXPECT_EQ(toUnixMillis(*r->send_at), 1795428000000);
  EXPECT_EQ(r->payload.metadata_json, R"({"order":"A-17"})");
}

TEST(ParseSendRequest, RejectsWithTheFieldNamed) {
  struct Case {
    const char* body;
    const char* code;
    const char* mentions;
  } cases[] = {
      {"{", "invalid_json", "JSON"},
      {"[1]", "invalid_request", "object"},
      {R"({"to":5,"content":{"sms":{"text":"x"}}})", "invalid_request", "to must be an object"},
      {R"({"to":{"email":7},"content":{"sms":{"text":"x"}}})", "invalid_request", "to.email"},
      {R"({"to":{"email":"nope"},"content":{"email":{"subject":"s","text":"x"}}})",
       "invalid_request", "to.email"},
      {R"({"to":{"phone":"89161234567"},"content":{"sms":{"text":"x"}}})", "invalid_request",
       "to.phone"},
      {R"({"to":{"push":[{"platform":"web","token":"t"}]},"content":{"push":{"body":"x"}}})",
       "invalid_request", "to.push[0].platform"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":""}}})", "invalid_request",
       "content.sms.text"},
      {R"({"to":{"email":"a@b.c"},"content":{"email":{"text":"x"}}})", "invalid_request",
       "content.email.subject"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"ttl":7})",
       "invalid_request", "ttl"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"ttl":"soon"})",
       "invalid_request", "ttl"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"send_at":"tomorrow"})",
       "invalid_request", "send_at"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"channels":["fax"]})",
       "invalid_request", "channels"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"channels":[]})",
       "invalid_request", "channels"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"priority":"urgent"})",
       "invalid_request", "priority"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"colour":"red"})",
       "invalid_request", "colour"},
      {R"({"content":{"sms":{"text":"x"}}})", "invalid_request", "to"},
      {R"({"to":{"phone":"+79161234567"}})", "invalid_request", "content"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"metadata":[]})",
       "invalid_request", "metadata"},
      {R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"metadata":{"n":1e400}})",
       "invalid_request", "too large for a double"},
      {R"({"to":{"email":"a@example.com"},"content":{"email":{"subject":"a\r\nBcc: x@evil","text":"t"}}})",
       "invalid_request", "content.email.subject"},
  };
  for (const auto& c : cases) {
    auto r = parseSendRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, c.code) << c.body;
    EXPECT_NE(r.error().message.find(c.mentions), std::string::npos)
        << c.body << " -> " << r.error().message;
  }
}

TEST(ParseSendRequest, RejectsDeeplyNestedJson) {
  std::string body = R"({"to":{"phone":"+79161234567"},"content":{"sms":{"text":"x"}},"metadata":)";
  for (int i = 0; i < 100; ++i) body += R"({"a":)";
  body += "1";
  for (int i = 0; i < 100; ++i) body += "}";
  body += "}";
  auto r = parseSendRequest(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_json");
}

TEST(PlanChannels, FiltersByProviderContactAndContent) {
  auto r = parseSendRequest(R"({"to":{"email":"a@example.com","phone":"+79161234567"},
    "content":{"email":{"subject":"s","text":"t"},"sms":{"text":"t"}},
    "channels":["push","sms","email"]})");
  ASSERT_TRUE(r.ok());
  std::string trace;
  auto plan = planChannels(*r, r->payload.content, {"push", "sms", "email", "messenger"},
                           {"email", "push"}, &trace);
  EXPECT_EQ(plan, (std::vector<std::string>{"email"}));
  EXPECT_NE(trace.find("push: no contact"), std::string::npos) << trace;
  EXPECT_NE(trace.find("sms: no provider configured"), std::string::npos) << trace;
}

TEST(PlanChannels, DefaultOrderWhenNoneRequested) {
  auto r = parseSendRequest(R"({"to":{"email":"a@example.com","phone":"+79161234567"},
    "content":{"email":{"subject":"s","text":"t"},"sms":{"text":"t"}}})");
  ASSERT_TRUE(r.ok());
  auto plan = planChannels(*r, r->payload.content, {"push", "sms", "email", "messenger"},
                           {"email", "sms", "push", "messenger"}, nullptr);
  EXPECT_EQ(plan, (std::vector<std::string>{"sms", "email"}));
}

TEST(PlanChannels, TemplateChannelsComeFromTheRenderedParts) {
  auto r = parseSendRequest(R"({"to":{"email":"a@example.com","phone":"+79161234567"},
    "template":"order_shipped","data":{"order":"A-17"},"locale":"ru"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->payload.template_id, "order_shipped");
  EXPECT_EQ(r->payload.locale, "ru");
  EXPECT_EQ(r->payload.data_json, R"({"order":"A-17"})");
  std::map<std::string, dispatch::ChannelContent> rendered{{"email", {.subject = "s", .text = "t"}}};
  std::string trace;
  auto plan = planChannels(*r, rendered, {"sms", "email"}, {"email", "sms"}, &trace);
  EXPECT_EQ(plan, (std::vector<std::string>{"email"}));
  EXPECT_NE(trace.find("sms: the template has no part for it"), std::string::npos) << trace;
}

TEST(ParseSendRequest, PhoneNumbersAreNormalizedToE164) {
  ASSERT_TRUE(channels::sms::phoneNumberLibraryAvailable())
      << "scripts/deps provides libphonenumber; without it numbers are only checked for E.164";
  struct Case {
    const char* phone;
    const char* region;
    const char* e164;  // nullptr: refused
  } cases[] = {
      {"+7 916 123-45-67", "", "+79161234567"},
      {"8 (916) 123-45-67", "RU", "+79161234567"},
      {"(202) 555-0143", "US", "+12025550143"},
      {"8 916 123-45-67", "", nullptr},  // national spelling without a region
      {"+7 916 123", "RU", nullptr},     // too short for the plan
      {"call me", "RU", nullptr},
  };
  for (const auto& c : cases) {
    std::string body = std::string(R"({"to":{"phone":")") + c.phone +
                       R"("},"content":{"sms":{"text":"x"}}})";
    auto r = parseSendRequest(body, nullptr, c.region);
    if (c.e164 == nullptr) {
      ASSERT_FALSE(r.ok()) << c.phone;
      EXPECT_NE(r.error().message.find("to.phone"), std::string::npos) << r.error().message;
    } else {
      ASSERT_TRUE(r.ok()) << c.phone << ": " << r.error().message;
      EXPECT_EQ(r->payload.to.phone, c.e164) << c.phone;
    }
  }
}

TEST(ParseSendRequest, DataWithoutTemplateIsRefused) {
  auto r = parseSendRequest(R"({"to":{"email":"a@example.com"},"data":{"x":1},
    "content":{"email":{"subject":"s","text":"t"}}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_request");
  EXPECT_NE(r.error().message.find("data"), std::string::npos) << r.error().message;
}

TEST(Authenticate, MatchesOnlyTheHashedToken) {
  config::ApiToken shop;
  shop.name = "shop";
  // SHA-256("test"), the DESIGN.md example.
  const char* hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  for (int i = 0; i < 32; ++i) shop.sha256[i] = std::stoi(std::string(hex + 2 * i, 2), nullptr, 16);
  std::vector<config::ApiToken> tokens{shop};
  EXPECT_EQ(authenticate("Bearer test", tokens), "shop");
  EXPECT_FALSE(authenticate("Bearer tes", tokens));
  EXPECT_FALSE(authenticate("Bearer test ", tokens));
  EXPECT_FALSE(authenticate("bearer test", tokens));
  EXPECT_FALSE(authenticate("Basic dGVzdA==", tokens));
  EXPECT_FALSE(authenticate("", tokens));
}

}  // namespace
}  // namespace omnigate::api
