#include "daemon/api/customer_json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>
#include <ostream>

#include "channels/sms/phone_number.h"

namespace omnigate::api {
namespace {
namespace json = boost::json;

// The policy structs have no operator==; these compare every field so a round trip that loses
// or alters anything fails with the field named.
void expectSameProfile(const policy::CustomerProfile& a, const policy::CustomerProfile& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.contacts.email, b.contacts.email);
  EXPECT_EQ(a.contacts.phone, b.contacts.phone);
  EXPECT_EQ(a.contacts.telegram, b.contacts.telegram);
  ASSERT_EQ(a.contacts.push.size(), b.contacts.push.size());
  for (std::size_t i = 0; i < a.contacts.push.size(); ++i) {
    EXPECT_EQ(a.contacts.push[i].platform, b.contacts.push[i].platform) << "push[" << i << "]";
    EXPECT_EQ(a.contacts.push[i].token, b.contacts.push[i].token) << "push[" << i << "]";
  }
  EXPECT_EQ(a.contacts.invalid, b.contacts.invalid);
  EXPECT_EQ(a.preferred_channels, b.preferred_channels);
  EXPECT_EQ(a.opt_out, b.opt_out);
  ASSERT_EQ(a.quiet_hours.has_value(), b.quiet_hours.has_value());
  if (a.quiet_hours) {
    EXPECT_EQ(a.quiet_hours->start_minute, b.quiet_hours->start_minute);
    EXPECT_EQ(a.quiet_hours->end_minute, b.quiet_hours->end_minute);
  }
  EXPECT_EQ(a.timezone, b.timezone);
  EXPECT_EQ(a.locale, b.locale);
  ASSERT_EQ(a.stats.size(), b.stats.size());
  for (const auto& [channel, s] : a.stats) {
    ASSERT_TRUE(b.stats.contains(channel)) << channel;
    EXPECT_EQ(s.attempts, b.stats.at(channel).attempts) << channel;
    EXPECT_EQ(s.delivered, b.stats.at(channel).delivered) << channel;
    EXPECT_EQ(s.read, b.stats.at(channel).read) << channel;
  }
}

void expectSameState(const policy::CustomerState& a, const policy::CustomerState& b) {
  ASSERT_EQ(a.sends.size(), b.sends.size());
  for (std::size_t i = 0; i < a.sends.size(); ++i) {
    EXPECT_EQ(a.sends[i].at, b.sends[i].at) << "sends[" << i << "]";
    EXPECT_EQ(a.sends[i].category, b.sends[i].category) << "sends[" << i << "]";
    EXPECT_EQ(a.sends[i].channel, b.sends[i].channel) << "sends[" << i << "]";
    EXPECT_EQ(a.sends[i].message_id, b.sends[i].message_id) << "sends[" << i << "]";
  }
  ASSERT_EQ(a.dedupe.size(), b.dedupe.size());
  for (std::size_t i = 0; i < a.dedupe.size(); ++i) {
    EXPECT_EQ(a.dedupe[i].key, b.dedupe[i].key) << "dedupe[" << i << "]";
    EXPECT_EQ(a.dedupe[i].at, b.dedupe[i].at) << "dedupe[" << i << "]";
    EXPECT_EQ(a.dedupe[i].message_id, b.dedupe[i].message_id) << "dedupe[" << i << "]";
  }
}

// Everything a profile can hold, including what only the daemon sets (invalid contacts, stats).
policy::CustomerProfile fullProfile() {
  policy::CustomerProfile p;
  p.id = "c-42@shop:eu.1";
  p.contacts.email = "Ann.Lee@Example.com";
  p.contacts.phone = "+79161234567";
  p.contacts.telegram = "123456";
  p.contacts.push = {{"fcm", "fcm-token-1"}, {"apns", "a1b2c3"}, {"fcm", "fcm-token-2"}};
  p.contacts.invalid = {"telegram", "push:a1b2c3", "email"};
  p.preferred_channels = {"push", "email", "sms"};
  p.opt_out = {"marketing", "sms", "news:email"};
  p.quiet_hours = policy::QuietHours{22 * 60 + 30, 7 * 60 + 15};
  p.timezone = "Europe/Moscow";
  p.locale = "pt-BR";
  p.stats["email"] = {10, 7, 3};
  p.stats["push"] = {std::numeric_limits<std::int64_t>::max(), 0, 0};
  p.stats["sms"] = {1, 1, 1};
  return p;
}

TEST(ParseCustomerProfile, AcceptsTheDesignExample) {
  auto r = parseCustomerProfile("c-42", R"({
    "contacts": {"email": "a@example.com", "phone": "+79161234567",
                 "push": [{"platform": "apns", "token": "t1"}, {"platform": "fcm", "token": "t2"}],
                 "telegram": "123456"},
    "preferences": {"channels": ["push", "email"], "opt_out": ["marketing", "sms",
                    "marketing:email"], "quiet_hours": {"start": "22:00", "end": "08:00"}},
    "timezone": "Europe/Moscow", "locale": "ru"})",
                                "");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "c-42");
  EXPECT_EQ(r->contacts.email, "a@example.com");
  EXPECT_EQ(r->contacts.phone, "+79161234567");
  EXPECT_EQ(r->contacts.telegram, "123456");
  ASSERT_EQ(r->contacts.push.size(), 2u);
  EXPECT_EQ(r->contacts.push[0].platform, "apns");
  EXPECT_EQ(r->contacts.push[0].token, "t1");
  EXPECT_EQ(r->contacts.push[1].platform, "fcm");
  EXPECT_EQ(r->contacts.push[1].token, "t2");
  EXPECT_TRUE(r->contacts.invalid.empty());
  EXPECT_EQ(r->preferred_channels, (std::vector<std::string>{"push", "email"}));
  EXPECT_EQ(r->opt_out, (std::set<std::string>{"marketing", "marketing:email", "sms"}));
  ASSERT_TRUE(r->quiet_hours.has_value());
  EXPECT_EQ(r->quiet_hours->start_minute, 1320);
  EXPECT_EQ(r->quiet_hours->end_minute, 480);
  EXPECT_EQ(r->timezone, "Europe/Moscow");
  EXPECT_EQ(r->locale, "ru");
  EXPECT_TRUE(r->stats.empty());
}

TEST(ParseCustomerProfile, EveryFieldIsOptional) {
  for (const char* body :
       {"{}", R"({"contacts":{},"preferences":{}})",
        R"({"contacts":null,"preferences":null,"timezone":null,"locale":null})"}) {
    auto r = parseCustomerProfile("c-1", body, "");
    ASSERT_TRUE(r.ok()) << body << ": " << r.error().message;
    EXPECT_EQ(r->id, "c-1");
    EXPECT_FALSE(r->contacts.email.has_value()) << body;
    EXPECT_FALSE(r->contacts.phone.has_value()) << body;
    EXPECT_FALSE(r->contacts.telegram.has_value()) << body;
    EXPECT_TRUE(r->contacts.push.empty()) << body;
    EXPECT_TRUE(r->preferred_channels.empty()) << body;
    EXPECT_TRUE(r->opt_out.empty()) << body;
    EXPECT_FALSE(r->quiet_hours.has_value()) << body;
    EXPECT_EQ(r->timezone, "") << body;  // UTC
    EXPECT_EQ(r->locale, "") << body;
  }
}

struct RejectCase {
  const char* name;
  std::string id;
  const char* body;
  const char* code;
  const char* field;  // the message starts with this
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name << ": " << c.body; }

class ParseCustomerProfileRejects : public testing::TestWithParam<RejectCase> {};

TEST_P(ParseCustomerProfileRejects, NamingTheField) {
  const auto& c = GetParam();
  auto r = parseCustomerProfile(c.id, c.body, "RU");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, c.code);
  EXPECT_EQ(r.error().message.rfind(std::string(c.field) + " ", 0), 0u)
      << "expected the message to start with '" << c.field << "', got: " << r.error().message;
}

const RejectCase kRejectCases[] = {
    {"IdEmpty", "", "{}", "invalid_request", "id"},
    {"IdWithSlash", "c/42", "{}", "invalid_request", "id"},
    {"IdWithSpace", "c 42", "{}", "invalid_request", "id"},
    {"IdNonAscii", "c\xc3\xa9", "{}", "invalid_request", "id"},
    {"IdTooLong", std::string(201, 'a'), "{}", "invalid_request", "id"},
    {"BadIdBeforeBadBody", "c/42", "{", "invalid_request", "id"},
    {"NotJson", "c-1", "{", "invalid_json", "the body"},
    {"EmptyBody", "c-1", "", "invalid_json", "the body"},
    {"NotAnObject", "c-1", "[]", "invalid_request", "the body"},
    {"UnknownTopLevel", "c-1", R"({"colour":"red"})", "invalid_request", "colour"},
    {"ServerFieldsAreNotInput", "c-1", R"({"stats":{}})", "invalid_request", "stats"},
    {"ContactsNotObject", "c-1", R"({"contacts":[]})", "invalid_request", "contacts"},
    {"ContactsUnknown", "c-1", R"({"contacts":{"fax":"1"}})", "invalid_request", "contacts.fax"},
    {"EmailNotString", "c-1", R"({"contacts":{"email":7}})", "invalid_request", "contacts.email"},
    {"EmailEmpty", "c-1", R"({"contacts":{"email":""}})", "invalid_request", "contacts.email"},
    {"EmailNoAt", "c-1", R"({"contacts":{"email":"nope"}})", "invalid_request", "contacts.email"},
    {"EmailTwoAts", "c-1", R"({"contacts":{"email":"a@b@c"}})", "invalid_request",
     "contacts.email"},
    {"EmailWithSpace", "c-1", R"({"contacts":{"email":"a b@c.d"}})", "invalid_request",
     "contacts.email"},
    {"PhoneNotANumber", "c-1", R"({"contacts":{"phone":"call me"}})", "invalid_request",
     "contacts.phone"},
    {"PhoneNotString", "c-1", R"({"contacts":{"phone":79161234567}})", "invalid_request",
     "contacts.phone"},
    {"TelegramNotString", "c-1", R"({"contacts":{"telegram":5}})", "invalid_request",
     "contacts.telegram"},
    {"TelegramControl", "c-1", R"({"contacts":{"telegram":"12\n34"}})", "invalid_request",
     "contacts.telegram"},
    {"PushNotArray", "c-1", R"({"contacts":{"push":{"platform":"fcm","token":"t"}}})",
     "invalid_request", "contacts.push"},
    {"PushItemNotObject", "c-1", R"({"contacts":{"push":["t"]}})", "invalid_request",
     "contacts.push[0]"},
    {"PushPlatformUnknown", "c-1", R"({"contacts":{"push":[{"platform":"web","token":"t"}]}})",
     "invalid_request", "contacts.push[0].platform"},
    {"PushPlatformMissing", "c-1", R"({"contacts":{"push":[{"token":"t"}]}})", "invalid_request",
     "contacts.push[0].platform"},
    {"PushTokenMissing", "c-1",
     R"({"contacts":{"push":[{"platform":"fcm","token":"t"},{"platform":"apns"}]}})",
     "invalid_request", "contacts.push[1].token"},
    {"PushTokenEmpty", "c-1", R"({"contacts":{"push":[{"platform":"fcm","token":""}]}})",
     "invalid_request", "contacts.push[0].token"},
    {"PushTokenTwice", "c-1",
     R"({"contacts":{"push":[{"platform":"fcm","token":"t"},{"platform":"apns","token":"t"}]}})",
     "invalid_request", "contacts.push[1].token"},
    {"PushUnknownField", "c-1",
     R"({"contacts":{"push":[{"platform":"fcm","token":"t","app":"x"}]}})", "invalid_request",
     "contacts.push[0].app"},
    {"PreferencesNotObject", "c-1", R"({"preferences":"push"})", "invalid_request", "preferences"},
    {"PreferencesUnknown", "c-1", R"({"preferences":{"language":"ru"}})", "invalid_request",
     "preferences.language"},
    {"ChannelsNotArray", "c-1", R"({"preferences":{"channels":"push"}})", "invalid_request",
     "preferences.channels"},
    {"ChannelsTooMany", "c-1",
     R"({"preferences":{"channels":["push","sms","email","messenger","push"]}})", "invalid_request",
     "preferences.channels"},
    {"ChannelUnknown", "c-1", R"({"preferences":{"channels":["push","fax"]}})", "invalid_request",
     "preferences.channels[1]"},
    {"ChannelNotString", "c-1", R"({"preferences":{"channels":[1]}})", "invalid_request",
     "preferences.channels[0]"},
    {"ChannelTwice", "c-1", R"({"preferences":{"channels":["sms","email","sms"]}})",
     "invalid_request", "preferences.channels[2]"},
    {"OptOutNotArray", "c-1", R"({"preferences":{"opt_out":"marketing"}})", "invalid_request",
     "preferences.opt_out"},
    {"OptOutUpperCase", "c-1", R"({"preferences":{"opt_out":["Marketing"]}})", "invalid_request",
     "preferences.opt_out[0]"},
    {"OptOutEmpty", "c-1", R"({"preferences":{"opt_out":["news",""]}})", "invalid_request",
     "preferences.opt_out[1]"},
    {"OptOutNotString", "c-1", R"({"preferences":{"opt_out":[5]}})", "invalid_request",
     "preferences.opt_out[0]"},
    {"OptOutUnknownChannel", "c-1", R"({"preferences":{"opt_out":["marketing:fax"]}})",
     "invalid_request", "preferences.opt_out[0]"},
    {"OptOutNoCategory", "c-1", R"({"preferences":{"opt_out":[":email"]}})", "invalid_request",
     "preferences.opt_out[0]"},
    {"OptOutNoChannel", "c-1", R"({"preferences":{"opt_out":["marketing:"]}})", "invalid_request",
     "preferences.opt_out[0]"},
    {"OptOutTwoColons", "c-1", R"({"preferences":{"opt_out":["a:b:email"]}})", "invalid_request",
     "preferences.opt_out[0]"},
    {"OptOutSpace", "c-1", R"({"preferences":{"opt_out":["black friday"]}})", "invalid_request",
     "preferences.opt_out[0]"},
    {"QuietHoursNotObject", "c-1", R"({"preferences":{"quiet_hours":"22:00-08:00"}})",
     "invalid_request", "preferences.quiet_hours"},
    {"QuietHoursNoStart", "c-1", R"({"preferences":{"quiet_hours":{"end":"08:00"}}})",
     "invalid_request", "preferences.quiet_hours.start"},
    {"QuietHoursNoEnd", "c-1", R"({"preferences":{"quiet_hours":{"start":"22:00"}}})",
     "invalid_request", "preferences.quiet_hours.end"},
    {"QuietHoursStartNotString", "c-1",
     R"({"preferences":{"quiet_hours":{"start":22,"end":"08:00"}}})", "invalid_request",
     "preferences.quiet_hours.start"},
    {"QuietHoursBadClock", "c-1",
     R"({"preferences":{"quiet_hours":{"start":"24:00","end":"08:00"}}})", "invalid_request",
     "preferences.quiet_hours"},
    {"QuietHoursNoLeadingZero", "c-1",
     R"({"preferences":{"quiet_hours":{"start":"22:00","end":"8:00"}}})", "invalid_request",
     "preferences.quiet_hours"},
    {"QuietHoursEmptyWindow", "c-1",
     R"({"preferences":{"quiet_hours":{"start":"08:00","end":"08:00"}}})", "invalid_request",
     "preferences.quiet_hours"},
    {"QuietHoursUnknown", "c-1",
     R"({"preferences":{"quiet_hours":{"start":"22:00","end":"08:00","tz":"UTC"}}})",
     "invalid_request", "preferences.quiet_hours.tz"},
    {"TimezoneUnknown", "c-1", R"({"timezone":"Mars/Olympus_Mons"})", "invalid_request",
     "timezone"},
    {"TimezoneLowerCase", "c-1", R"({"timezone":"europe/moscow"})", "invalid_request", "timezone"},
    {"TimezoneOffset", "c-1", R"({"timezone":"+03:00"})", "invalid_request", "timezone"},
    {"TimezoneNotString", "c-1", R"({"timezone":3})", "invalid_request", "timezone"},
    {"TimezoneEmpty", "c-1", R"({"timezone":""})", "invalid_request", "timezone"},
    {"LocaleWithSpace", "c-1", R"({"locale":"ru RU"})", "invalid_request", "locale"},
    {"LocaleTooLong", "c-1", R"({"locale":"abcdefghijklmnopqrstuvwxyzabcdefghij"})",
     "invalid_request", "locale"},
    {"FirstProblemWins", "c-1",
     R"({"contacts":{"email":"nope","phone":"x"},"timezone":"Nowhere/Land"})", "invalid_request",
     "contacts.email"},
};

INSTANTIATE_TEST_SUITE_P(Table, ParseCustomerProfileRejects, testing::ValuesIn(kRejectCases),
                         [](const testing::TestParamInfo<RejectCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(ParseCustomerProfile, AcceptsEveryIdCharacter) {
  for (const std::string& id : std::vector<std::string>{"c", "C-42", "user.name@example.com",
                                                        "shop:eu:1_2", std::string(200, 'z')}) {
    auto r = parseCustomerProfile(id, "{}", "");
    ASSERT_TRUE(r.ok()) << id << ": " << r.error().message;
    EXPECT_EQ(r->id, id);
  }
}

struct PhoneCase {
  const char* name;
  const char* phone;
  const char* region;
  const char* e164;  // nullptr: refused
};

void PrintTo(const PhoneCase& c, std::ostream* os) {
  *os << c.name << ": '" << c.phone << "' in '" << c.region << "'";
}

class ParseCustomerProfilePhone : public testing::TestWithParam<PhoneCase> {};

TEST_P(ParseCustomerProfilePhone, NormalizesToE164) {
  ASSERT_TRUE(channels::sms::phoneNumberLibraryAvailable())
      << "scripts/deps provides libphonenumber; without it numbers are only checked for E.164";
  const auto& c = GetParam();
  std::string body = std::string(R"({"contacts":{"phone":")") + c.phone + R"("}})";
  auto r = parseCustomerProfile("c-1", body, c.region);
  if (c.e164 == nullptr) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "invalid_request");
    EXPECT_EQ(r.error().message.rfind("contacts.phone ", 0), 0u) << r.error().message;
  } else {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->contacts.phone, c.e164);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseCustomerProfilePhone,
    testing::Values(PhoneCase{"RussianNational", "8 916 123-45-67", "RU", "+79161234567"},
                    PhoneCase{"RussianBrackets", "8 (916) 123-45-67", "RU", "+79161234567"},
                    PhoneCase{"International", "+7 916 123-45-67", "", "+79161234567"},
                    PhoneCase{"InternationalElsewhere", "+7 916 123 45 67", "US", "+79161234567"},
                    PhoneCase{"UsNational", "(202) 555-0143", "US", "+12025550143"},
                    PhoneCase{"NationalWithoutRegion", "8 916 123-45-67", "", nullptr},
                    PhoneCase{"TooShort", "+7 916 123", "RU", nullptr},
                    PhoneCase{"Words", "call me", "RU", nullptr}),
    [](const testing::TestParamInfo<PhoneCase>& info) { return std::string(info.param.name); });

TEST(ParseCustomerProfile, KnownTimeZonesAreAccepted) {
  for (const char* zone : {"Europe/Moscow", "America/New_York", "Asia/Kolkata", "UTC"}) {
    auto r = parseCustomerProfile("c-1", std::string(R"({"timezone":")") + zone + "\"}", "");
    ASSERT_TRUE(r.ok()) << zone << ": " << r.error().message;
    EXPECT_EQ(r->timezone, zone);
  }
}

struct QuietCase {
  const char* start;
  const char* end;
  int start_minute;
  int end_minute;
};

void PrintTo(const QuietCase& c, std::ostream* os) { *os << c.start << "-" << c.end; }

class QuietHoursJson : public testing::TestWithParam<QuietCase> {};

TEST_P(QuietHoursJson, ParsedAndFormattedBack) {
  const auto& c = GetParam();
  std::string body = std::string(R"({"preferences":{"quiet_hours":{"start":")") + c.start +
                     R"(","end":")" + c.end + R"("}}})";
  auto r = parseCustomerProfile("c-1", body, "");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->quiet_hours.has_value());
  EXPECT_EQ(r->quiet_hours->start_minute, c.start_minute);
  EXPECT_EQ(r->quiet_hours->end_minute, c.end_minute);
  auto out = customerProfileToJson(*r);
  const auto& quiet = out.at("preferences").as_object().at("quiet_hours");
  EXPECT_EQ(quiet, (json::value{{"start", c.start}, {"end", c.end}})) << json::serialize(quiet);
}

INSTANTIATE_TEST_SUITE_P(Table, QuietHoursJson,
                         testing::Values(QuietCase{"22:00", "08:00", 1320, 480},
                                         QuietCase{"00:00", "23:59", 0, 1439},
                                         QuietCase{"09:05", "17:45", 545, 1065},
                                         QuietCase{"23:59", "00:00", 1439, 0}));

TEST(ParseCustomerProfile, OptOutFormsAreKept) {
  auto r = parseCustomerProfile("c-1", R"({"preferences":{"opt_out":[
    "marketing", "email", "sms", "push", "messenger", "promo_2024-q4", "news:messenger",
    "marketing:email", "marketing"]}})",
                                "");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->opt_out, (std::set<std::string>{"email", "marketing", "marketing:email", "messenger",
                                               "news:messenger", "promo_2024-q4", "push", "sms"}));
}

TEST(CustomerProfileToJson, HasThePutShapePlusServerFields) {
  auto out = customerProfileToJson(fullProfile());
  auto expected = json::parse(R"({
    "id": "c-42@shop:eu.1",
    "contacts": {"email": "Ann.Lee@Example.com", "phone": "+79161234567", "telegram": "123456",
                 "push": [{"platform": "fcm", "token": "fcm-token-1"},
                          {"platform": "apns", "token": "a1b2c3"},
                          {"platform": "fcm", "token": "fcm-token-2"}]},
    "preferences": {"channels": ["push", "email", "sms"],
                    "opt_out": ["marketing", "news:email", "sms"],
                    "quiet_hours": {"start": "22:30", "end": "07:15"}},
    "timezone": "Europe/Moscow", "locale": "pt-BR",
    "invalid_contacts": ["email", "push:a1b2c3", "telegram"],
    "stats": {"email": {"attempts": 10, "delivered": 7, "read": 3},
              "push": {"attempts": 9223372036854775807, "delivered": 0, "read": 0},
              "sms": {"attempts": 1, "delivered": 1, "read": 1}}})");
  EXPECT_EQ(json::value(out), expected) << json::serialize(out);
}

TEST(CustomerProfileToJson, LeavesOutWhatIsUnset) {
  policy::CustomerProfile p;
  p.id = "c-1";
  auto out = customerProfileToJson(p);
  auto expected = json::parse(R"({"id": "c-1", "contacts": {},
    "preferences": {"channels": [], "opt_out": []}, "invalid_contacts": []})");
  EXPECT_EQ(json::value(out), expected) << json::serialize(out);
}

TEST(CustomerProfileToJson, ItsPutPartIsAValidPutBody) {
  auto original = fullProfile();
  auto out = customerProfileToJson(original);
  out.erase("id");
  out.erase("invalid_contacts");
  out.erase("stats");
  auto again = parseCustomerProfile(original.id, json::serialize(out), "");
  ASSERT_TRUE(again.ok()) << again.error().message;
  original.contacts.invalid.clear();
  original.stats.clear();
  expectSameProfile(*again, original);
}

TEST(ProfileStorage, FullyPopulatedProfileRoundTrips) {
  auto original = fullProfile();
  auto stored = profileToStorage(original);
  auto back = profileFromStorage(stored);
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << stored;
  expectSameProfile(*back, original);
  EXPECT_EQ(profileToStorage(*back), stored);
}

TEST(ProfileStorage, UnsetAndEmptyStayDistinct) {
  policy::CustomerProfile unset;
  unset.id = "c-1";
  auto back = profileFromStorage(profileToStorage(unset));
  ASSERT_TRUE(back.ok()) << back.error().message;
  expectSameProfile(*back, unset);
  EXPECT_FALSE(back->contacts.email.has_value());
  EXPECT_FALSE(back->quiet_hours.has_value());

  policy::CustomerProfile empty = unset;
  empty.contacts.email = "";
  empty.contacts.phone = "";
  empty.contacts.telegram = "";
  empty.contacts.push = {{"", ""}};
  empty.quiet_hours = policy::QuietHours{0, 0};
  empty.stats["messenger"] = {};
  back = profileFromStorage(profileToStorage(empty));
  ASSERT_TRUE(back.ok()) << back.error().message;
  expectSameProfile(*back, empty);
  EXPECT_TRUE(back->contacts.email.has_value());
}

TEST(StateStorage, FullyPopulatedStateRoundTrips) {
  policy::CustomerState state;
  state.sends = {
      {fromUnixMillis(1'795'428'000'123), "marketing", "push", "01JD000000000000000000000A"},
      {fromUnixMillis(1'795'428'000'124), "transactional", "email", "01JD000000000000000000000B"},
      {fromUnixMillis(1'795'428'000'124), "news", "sms", "01JD000000000000000000000C"},
      {fromUnixMillis(-1), "old", "messenger", "before-1970"},
  };
  state.dedupe = {
      {"order-A-17-shipped", fromUnixMillis(1'795'428'000'123), "01JD000000000000000000000A"},
      {"0123456789abcdef", fromUnixMillis(0), "01JD000000000000000000000B"},
  };
  auto stored = stateToStorage(state);
  auto back = stateFromStorage(stored);
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << stored;
  expectSameState(*back, state);
  EXPECT_EQ(stateToStorage(*back), stored);
  // Times are unix milliseconds, readable in the row itself.
  EXPECT_NE(stored.find("1795428000123"), std::string::npos) << stored;
}

TEST(StateStorage, EmptyTextIsTheEmptyState) {
  auto back = stateFromStorage("");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->sends.empty());
  EXPECT_TRUE(back->dedupe.empty());
  back = stateFromStorage(stateToStorage({}));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->sends.empty());
  EXPECT_TRUE(back->dedupe.empty());
}

struct CorruptCase {
  const char* name;
  const char* text;
};

void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.name << ": " << c.text; }

class CorruptProfile : public testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptProfile, IsRefused) {
  auto r = profileFromStorage(GetParam().text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "corrupt_customer");
  EXPECT_FALSE(r.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, CorruptProfile,
    testing::Values(
        CorruptCase{"Empty", ""}, CorruptCase{"NotJson", "{"},
        CorruptCase{"Truncated", R"({"v":1,"id":"c-1","contacts":{"email":"a@b.c")"},
        CorruptCase{"NotAnObject", "[]"}, CorruptCase{"NoVersion", R"({"id":"c-1"})"},
        CorruptCase{"FutureVersion", R"({"v":2,"id":"c-1"})"}, CorruptCase{"NoId", R"({"v":1})"},
        CorruptCase{"IdNotString", R"({"v":1,"id":42})"},
        CorruptCase{"ContactsNotObject", R"({"v":1,"id":"c","contacts":[]})"},
        CorruptCase{"EmailNotString", R"({"v":1,"id":"c","contacts":{"email":1}})"},
        CorruptCase{"PushNotArray", R"({"v":1,"id":"c","contacts":{"push":{}}})"},
        CorruptCase{"PushItemNotObject", R"({"v":1,"id":"c","contacts":{"push":["t"]}})"},
        CorruptCase{"PushItemNoToken",
                    R"({"v":1,"id":"c","contacts":{"push":[{"platform":"fcm"}]}})"},
        CorruptCase{"InvalidHoldsNumber", R"({"v":1,"id":"c","contacts":{"invalid":[1]}})"},
        CorruptCase{"ChannelsNotArray", R"({"v":1,"id":"c","channels":"push"})"},
        CorruptCase{"OptOutHoldsNull", R"({"v":1,"id":"c","opt_out":[null]})"},
        CorruptCase{"QuietHoursOutOfRange",
                    R"({"v":1,"id":"c","quiet_hours":{"start_minute":1440,"end_minute":0}})"},
        CorruptCase{"QuietHoursNegative",
                    R"({"v":1,"id":"c","quiet_hours":{"start_minute":-1,"end_minute":0}})"},
        CorruptCase{"QuietHoursMissingEnd", R"({"v":1,"id":"c","quiet_hours":{"start_minute":1}})"},
        CorruptCase{"TimezoneNotString", R"({"v":1,"id":"c","timezone":null})"},
        CorruptCase{"StatsNotObject", R"({"v":1,"id":"c","stats":[]})"},
        CorruptCase{"StatsEntryNotObject", R"({"v":1,"id":"c","stats":{"sms":1}})"},
        CorruptCase{"StatsCountFractional",
                    R"({"v":1,"id":"c","stats":{"sms":{"attempts":1.5,"delivered":0,"read":0}}})"},
        CorruptCase{"StatsCountTooBig",
                    R"({"v":1,"id":"c","stats":{"sms":{"attempts":9223372036854775808,)"
                    R"("delivered":0,"read":0}}})"},
        CorruptCase{"StatsCountString",
                    R"({"v":1,"id":"c","stats":{"sms":{"attempts":"1","delivered":0,"read":0}}})"}),
    [](const testing::TestParamInfo<CorruptCase>& info) { return std::string(info.param.name); });

class CorruptState : public testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptState, IsRefused) {
  auto r = stateFromStorage(GetParam().text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "corrupt_customer");
  EXPECT_FALSE(r.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, CorruptState,
    testing::Values(CorruptCase{"NotJson", "{"}, CorruptCase{"NotAnObject", "\"sends\""},
                    CorruptCase{"NoVersion", R"({"sends":[],"dedupe":[]})"},
                    CorruptCase{"FutureVersion", R"({"v":9,"sends":[],"dedupe":[]})"},
                    CorruptCase{"SendsNotArray", R"({"v":1,"sends":{},"dedupe":[]})"},
                    CorruptCase{"SendNotObject", R"({"v":1,"sends":[1],"dedupe":[]})"},
                    CorruptCase{"SendTimeString",
                                R"({"v":1,"sends":[{"at":"2026-11-23T10:00:00Z","category":"c",)"
                                R"("channel":"sms","message_id":"m"}]})"},
                    CorruptCase{
                        "SendNoTime",
                        R"({"v":1,"sends":[{"category":"c","channel":"sms","message_id":"m"}]})"},
                    CorruptCase{"SendNoChannel",
                                R"({"v":1,"sends":[{"at":1,"category":"c","message_id":"m"}]})"},
                    CorruptCase{"DedupeNotArray", R"({"v":1,"sends":[],"dedupe":"k"})"},
                    CorruptCase{"DedupeNoKey", R"({"v":1,"dedupe":[{"at":1,"message_id":"m"}]})"},
                    CorruptCase{"DedupeTimeFractional",
                                R"({"v":1,"dedupe":[{"key":"k","at":1.25,"message_id":"m"}]})"}),
    [](const testing::TestParamInfo<CorruptCase>& info) { return std::string(info.param.name); });

TEST(ContactKeys, LowerCasesEmailsAndListsEveryPushToken) {
  auto keys = contactKeys(fullProfile().contacts);
  using Keys = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(keys, (Keys{{"email", "ann.lee@example.com"},
                        {"phone", "+79161234567"},
                        {"telegram", "123456"},
                        {"push", "fcm-token-1"},
                        {"push", "a1b2c3"},
                        {"push", "fcm-token-2"}}));
}

TEST(ContactKeys, SkipsUnsetAndEmptyAndRepeatedTokens) {
  using Keys = std::vector<std::pair<std::string, std::string>>;
  policy::Contacts none;
  EXPECT_EQ(contactKeys(none), Keys{});

  policy::Contacts some;
  some.email = "";
  some.telegram = "@Shop_Bot";
  some.push = {{"fcm", "T"}, {"apns", ""}, {"apns", "T"}, {"fcm", "t"}};
  EXPECT_EQ(contactKeys(some), (Keys{{"telegram", "@Shop_Bot"}, {"push", "T"}, {"push", "t"}}));
}

TEST(ContactKeys, FromAParsedProfileUseTheNormalizedPhone) {
  ASSERT_TRUE(channels::sms::phoneNumberLibraryAvailable())
      << "scripts/deps provides libphonenumber; without it numbers are only checked for E.164";
  auto r = parseCustomerProfile(
      "c-1", R"({"contacts":{"email":"USER@Mail.Example","phone":"8 916 123-45-67"}})", "RU");
  ASSERT_TRUE(r.ok()) << r.error().message;
  using Keys = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(contactKeys(r->contacts),
            (Keys{{"email", "user@mail.example"}, {"phone", "+79161234567"}}));
  EXPECT_EQ(r->contacts.email, "USER@Mail.Example");  // the profile keeps the spelling given
}

}  // namespace
}  // namespace omnigate::api
