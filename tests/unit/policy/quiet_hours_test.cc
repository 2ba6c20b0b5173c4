#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "policy/policy.h"
#include "tests/unit/policy/policy_fixture.h"

namespace omnigate::policy {
namespace {

using namespace omnigate::policy::testing;

QuietHours hoursOf(const char* start, const char* end) {
  auto parsed = parseQuietHours(start, end);
  EXPECT_TRUE(parsed.ok()) << start << "-" << end;
  return parsed.ok() ? *parsed : QuietHours{};
}

TEST(QuietHours, DeferToTheWindowEndInTheCustomersZone) {
  struct Case {
    const char* name;
    const char* zone;
    const char* start;
    const char* end;
    const char* now;
    const char* release;  // nullptr: sent now
  } cases[] = {
      {"Moscow late evening", "Europe/Moscow", "22:00", "08:00", "2026-06-10T20:30:00Z",
       "2026-06-11T05:00:00Z"},
      {"Moscow one ms before the end", "Europe/Moscow", "22:00", "08:00",
       "2026-06-11T04:59:59.999Z", "2026-06-11T05:00:00Z"},
      {"Moscow at the end", "Europe/Moscow", "22:00", "08:00", "2026-06-11T05:00:00Z", nullptr},
      {"Moscow one ms before the start", "Europe/Moscow", "22:00", "08:00",
       "2026-06-10T18:59:59.999Z", nullptr},
      {"Moscow at the start", "Europe/Moscow", "22:00", "08:00", "2026-06-10T19:00:00Z",
       "2026-06-11T05:00:00Z"},
      {"Moscow after midnight", "Europe/Moscow", "22:00", "08:00", "2026-06-10T22:00:00Z",
       "2026-06-11T05:00:00Z"},
      {"Moscow in winter keeps UTC+3 (no DST)", "Europe/Moscow", "22:00", "08:00",
       "2026-01-15T20:00:00Z", "2026-01-16T05:00:00Z"},
      {"a window inside one day", "UTC", "13:00", "15:00", "2026-06-10T14:00:00Z",
       "2026-06-10T15:00:00Z"},
      {"before a window inside one day", "UTC", "13:00", "15:00", "2026-06-10T12:59:00Z", nullptr},
      {"after a window inside one day", "UTC", "13:00", "15:00", "2026-06-10T15:00:00Z", nullptr},
      // New York springs forward at 2026-03-08 02:00 EST: the morning is EDT (UTC-4).
      {"New York night across spring forward", "America/New_York", "22:00", "08:00",
       "2026-03-08T06:30:00Z", "2026-03-08T12:00:00Z"},
      {"New York end inside the skipped hour: released at the jump", "America/New_York", "01:00",
       "02:30", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"},
      {"New York evening before spring forward", "America/New_York", "22:00", "08:00",
       "2026-03-08T03:30:00Z", "2026-03-08T12:00:00Z"},
      // New York falls back at 2026-11-01 02:00 EDT: the morning is EST (UTC-5).
      {"New York night across fall back", "America/New_York", "22:00", "08:00",
       "2026-11-01T04:30:00Z", "2026-11-01T13:00:00Z"},
      {"New York repeated end, first pass: the first 01:30", "America/New_York", "00:00", "01:30",
       "2026-11-01T05:10:00Z", "2026-11-01T05:30:00Z"},
      {"New York repeated end, second pass: the second 01:30", "America/New_York", "00:00", "01:30",
       "2026-11-01T06:10:00Z", "2026-11-01T06:30:00Z"},
      {"New York after the repeated end", "America/New_York", "00:00", "01:30",
       "2026-11-01T06:30:00Z", nullptr},
      {"unknown zone is UTC", "Mars/Olympus_Mons", "22:00", "08:00", "2026-06-10T23:00:00Z",
       "2026-06-11T08:00:00Z"},
      {"no zone is UTC", "", "22:00", "08:00", "2026-06-10T07:59:00Z", "2026-06-10T08:00:00Z"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CustomerProfile profile = reachableCustomer();
    profile.timezone = c.zone;
    profile.quiet_hours = hoursOf(c.start, c.end);
    const SysTime now = at(c.now);
    const Decision d = decide(marketing(), profile, {}, baseConfig(), now);
    if (c.release == nullptr) {
      EXPECT_EQ(d.outcome, Outcome::Send) << dumpTrace(d);
      EXPECT_FALSE(d.not_before.has_value());
      continue;
    }
    ASSERT_EQ(d.outcome, Outcome::Schedule) << dumpTrace(d);
    ASSERT_TRUE(d.not_before.has_value());
    EXPECT_EQ(formatRfc3339(*d.not_before), c.release) << dumpTrace(d);
    EXPECT_EQ(d.reason, "quiet_hours");
    EXPECT_EQ(d.rule, std::string(c.start) + "-" + c.end);
    EXPECT_EQ(d.channel, "push");
  }
}

TEST(QuietHours, TraceShowsLocalTimesAndZoneFallback) {
  CustomerProfile profile = reachableCustomer();
  profile.quiet_hours = hoursOf("22:00", "08:00");
  profile.timezone = "Europe/Moscow";
  const Decision d = decide(marketing(), profile, {}, baseConfig(), at("2026-06-10T20:30:00Z"));
  EXPECT_TRUE(traceHas(d, "quiet_hours",
                       "22:00-08:00 Europe/Moscow: local 2026-06-10 23:30 is inside → deferred to "
                       "2026-06-11T05:00:00Z (local 2026-06-11 08:00)"))
      << dumpTrace(d);

  profile.timezone = "Mars/Olympus_Mons";
  const Decision unknown =
      decide(marketing(), profile, {}, baseConfig(), at("2026-06-10T12:00:00Z"));
  EXPECT_TRUE(traceHas(unknown, "quiet_hours", "unknown time zone 'Mars/Olympus_Mons', using UTC"))
      << dumpTrace(unknown);
  EXPECT_TRUE(
      traceHas(unknown, "quiet_hours", "22:00-08:00 UTC: local 2026-06-10 12:00 is outside"))
      << dumpTrace(unknown);
}

TEST(QuietHours, WhoIsHeldAndWhoIsNot) {
  struct Case {
    const char* name;
    std::string category;
    std::string priority;
    bool profile_hours;
    bool default_hours;
    Outcome outcome;
    std::string reason;
    const char* trace;  // the quiet_hours step
  } cases[] = {
      {"marketing is deferred", "marketing", "normal", true, false, Outcome::Schedule,
       "quiet_hours", nullptr},
      {"digest drops", "digest", "normal", true, false, Outcome::Suppress, "quiet_hours",
       "22:00-08:00 UTC: local 2026-06-10 23:00 is inside → suppressed"},
      {"transactional goes now", "transactional", "normal", true, false, Outcome::Send, "",
       "not used by category transactional"},
      {"high priority goes now", "marketing", "high", true, false, Outcome::Send, "",
       "bypassed: priority high"},
      {"the config default applies without a profile setting", "marketing", "normal", false, true,
       Outcome::Schedule, "quiet_hours", nullptr},
      {"no hours anywhere", "marketing", "normal", false, false, Outcome::Send, "", "none set"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CustomerProfile profile = reachableCustomer();
    if (c.profile_hours) profile.quiet_hours = hoursOf("22:00", "08:00");
    PolicyConfig config = baseConfig();
    if (c.default_hours) config.default_quiet_hours = hoursOf("22:00", "08:00");
    SendRequest request;
    request.category = c.category;
    request.priority = c.priority;
    const Decision d = decide(request, profile, {}, config, at("2026-06-10T23:00:00Z"));
    EXPECT_EQ(d.outcome, c.outcome) << dumpTrace(d);
    EXPECT_EQ(d.reason, c.reason);
    if (c.trace != nullptr) {
      EXPECT_TRUE(traceHas(d, "quiet_hours", c.trace)) << dumpTrace(d);
    }
  }
}

TEST(QuietHours, TransactionalBypassesEvenWhenItsCategoryAsksForQuiet) {
  PolicyConfig config = baseConfig();
  config.categories["transactional"].quiet_hours = true;
  CustomerProfile profile = reachableCustomer();
  profile.quiet_hours = hoursOf("22:00", "08:00");
  const Decision d = decide(SendRequest{}, profile, {}, config, at("2026-06-10T23:00:00Z"));
  EXPECT_EQ(d.outcome, Outcome::Send) << dumpTrace(d);
  EXPECT_TRUE(
      traceHas(d, "quiet_hours", "bypassed: category transactional bypasses caps and quiet hours"))
      << dumpTrace(d);
}

TEST(QuietHours, SendAtIsCheckedAtItsOwnTime) {
  struct Case {
    const char* name;
    const char* send_at;
    const char* expected;
    const char* reason;
  } cases[] = {
      {"send_at in the day is kept", "2026-06-11T12:00:00Z", "2026-06-11T12:00:00Z", "send_at"},
      {"send_at in the night moves to the morning", "2026-06-11T23:00:00Z", "2026-06-12T08:00:00Z",
       "quiet_hours"},
  };
  CustomerProfile profile = reachableCustomer();
  profile.quiet_hours = hoursOf("22:00", "08:00");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    SendRequest request = marketing();
    request.send_at = at(c.send_at);
    const Decision d = decide(request, profile, {}, baseConfig(), at("2026-06-10T12:00:00Z"));
    ASSERT_EQ(d.outcome, Outcome::Schedule) << dumpTrace(d);
    EXPECT_EQ(formatRfc3339(*d.not_before), c.expected);
    EXPECT_EQ(d.reason, c.reason);
  }

  SendRequest past = marketing();
  past.send_at = at("2026-06-10T11:00:00Z");
  const Decision d = decide(past, profile, {}, baseConfig(), at("2026-06-10T12:00:00Z"));
  EXPECT_EQ(d.outcome, Outcome::Send);
  EXPECT_TRUE(traceHas(d, "schedule", "send_at 2026-06-10T11:00:00Z has passed; sending now"));
}

TEST(QuietHours, CapDeferralIntoTheNightWaitsForTheMorning) {
  PolicyConfig config = baseConfig();
  config.caps = {{.name = "marketing-1-per-day",
                  .category = "marketing",
                  .limit = 1,
                  .window = days(1),
                  .on_cap = OnCap::Defer}};
  CustomerProfile profile = reachableCustomer();
  profile.quiet_hours = hoursOf("22:00", "08:00");
  const CustomerState state{{sent(at("2026-06-09T23:00:00Z"), "marketing", "push")}, {}};
  const Decision d = decide(marketing(), profile, state, config, at("2026-06-10T20:00:00Z"));
  ASSERT_EQ(d.outcome, Outcome::Schedule) << dumpTrace(d);
  EXPECT_EQ(formatRfc3339(*d.not_before), "2026-06-11T08:00:00Z");
  EXPECT_EQ(d.reason, "quiet_hours");

  config.categories["marketing"].quiet_action = QuietAction::Drop;
  const Decision dropped = decide(marketing(), profile, state, config, at("2026-06-10T20:00:00Z"));
  EXPECT_EQ(dropped.outcome, Outcome::Suppress) << dumpTrace(dropped);
  EXPECT_EQ(dropped.reason, "quiet_hours");
}

TEST(ParseQuietHours, AcceptsClockTimesOnly) {
  struct Good {
    const char* start;
    const char* end;
    int start_minute;
    int end_minute;
  } good[] = {
      {"22:00", "08:00", 1320, 480}, {"00:00", "23:59", 0, 1439}, {"13:05", "13:06", 785, 786}};
  for (const auto& g : good) {
    auto parsed = parseQuietHours(g.start, g.end);
    ASSERT_TRUE(parsed.ok()) << g.start << "-" << g.end;
    EXPECT_EQ(parsed->start_minute, g.start_minute);
    EXPECT_EQ(parsed->end_minute, g.end_minute);
    EXPECT_EQ(formatQuietHours(*parsed), std::string(g.start) + "-" + g.end);
  }
  const std::pair<const char*, const char*> bad[] = {
      {"24:00", "08:00"}, {"22:60", "08:00"}, {"2200", "08:00"},  {"22:00", "8:00"},  {"", "08:00"},
      {"22:00", "08:0x"}, {"+2:00", "08:00"}, {"22:00", "22:00"}, {"22:00 ", "08:00"}};
  for (const auto& [start, end] : bad) {
    auto parsed = parseQuietHours(start, end);
    EXPECT_FALSE(parsed.ok()) << start << "-" << end;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code, "invalid_quiet_hours");
    }
  }
}

}  // namespace
}  // namespace omnigate::policy
