#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "tests/unit/policy/policy_fixture.h"

namespace omnigate::policy {
namespace {

using namespace omnigate::policy::testing;

const SysTime kNow = at("2026-06-10T12:00:00Z");

CapRule perDay(int limit, OnCap on_cap) {
  return {.name = "marketing-" + std::to_string(limit) + "-per-day",
          .category = "marketing",
          .limit = limit,
          .window = days(1),
          .on_cap = on_cap};
}

CapRule minGap(Millis interval, OnCap on_cap) {
  return {
      .name = "marketing-gap", .category = "marketing", .min_interval = interval, .on_cap = on_cap};
}

struct CapCase {
  const char* name;
  std::vector<CapRule> rules;
  std::vector<SendRecord> history;
  std::string category = "marketing";
  std::string priority = "normal";
  std::vector<std::string> channels = {"push", "email"};
  Outcome outcome;
  std::string channel;                // expected when not suppressed
  std::optional<Millis> deferred_by;  // expected not_before - kNow
  std::string rule;                   // expected deciding rule
};

std::vector<SendRecord> marketingSends(std::initializer_list<Millis> ago,
                                       const char* channel = "push") {
  std::vector<SendRecord> sends;
  for (Millis offset : ago) sends.push_back(sent(kNow - offset, "marketing", channel));
  std::sort(sends.begin(), sends.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  return sends;
}

TEST(Caps, DecideEachRuleAndItsEdges) {
  const CapCase cases[] = {
      {.name = "below the limit",
       .rules = {perDay(3, OnCap::Drop)},
       .history = marketingSends({hours(1), hours(2)}),
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "exactly at the limit",
       .rules = {perDay(3, OnCap::Drop)},
       .history = marketingSends({hours(1), hours(2), hours(3)}),
       .outcome = Outcome::Suppress,
       .rule = "marketing-3-per-day"},
      {.name = "a send exactly one window ago has left it",
       .rules = {perDay(3, OnCap::Drop)},
       .history = marketingSends({days(1), hours(1), hours(2)}),
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "a send one ms inside the window still counts",
       .rules = {perDay(3, OnCap::Drop)},
       .history = marketingSends({days(1) - milliseconds(1), hours(1), hours(2)}),
       .outcome = Outcome::Suppress,
       .rule = "marketing-3-per-day"},
      {.name = "a send one ms outside the window does not count",
       .rules = {perDay(3, OnCap::Drop)},
       .history = marketingSends({days(1) + milliseconds(1), hours(1), hours(2)}),
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "a send at this very millisecond counts",
       .rules = {perDay(1, OnCap::Drop)},
       .history = {sent(kNow, "marketing", "email")},
       .outcome = Outcome::Suppress,
       .rule = "marketing-1-per-day"},
      {.name = "sends of other categories do not match the category filter",
       .rules = {perDay(1, OnCap::Drop)},
       .history = {sent(kNow - hours(1), "transactional", "push")},
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "a channel rule does not cover other channels",
       .rules = {{.name = "sms-1-per-day", .channel = "sms", .limit = 1, .window = days(1)}},
       .history = {sent(kNow - hours(1), "marketing", "sms")},
       .channels = {"push", "sms"},
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "a channel rule counts that channel's sends of every category",
       .rules = {{.name = "sms-1-per-day", .channel = "sms", .limit = 1, .window = days(1)}},
       .history = {sent(kNow - hours(1), "transactional", "sms")},
       .channels = {"sms"},
       .outcome = Outcome::Suppress,
       .rule = "sms-1-per-day"},
      {.name = "defer waits for the oldest counted send to leave the window",
       .rules = {perDay(2, OnCap::Defer)},
       .history = marketingSends({hours(20), hours(3)}),
       .outcome = Outcome::Schedule,
       .channel = "push",
       .deferred_by = hours(4),
       .rule = "marketing-2-per-day"},
      {.name = "defer at the limit of three waits for the first of three",
       .rules = {perDay(3, OnCap::Defer)},
       .history = marketingSends({hours(23) + minutes(30), hours(2), hours(1)}),
       .outcome = Outcome::Schedule,
       .channel = "push",
       .deferred_by = minutes(30),
       .rule = "marketing-3-per-day"},
      {.name = "min interval defers until it has passed",
       .rules = {minGap(hours(4), OnCap::Defer)},
       .history = marketingSends({hours(1)}),
       .outcome = Outcome::Schedule,
       .channel = "push",
       .deferred_by = hours(3),
       .rule = "marketing-gap"},
      {.name = "min interval also keeps clear of an already scheduled send",
       .rules = {minGap(hours(4), OnCap::Defer)},
       .history = {sent(kNow + hours(1), "marketing", "email")},
       .outcome = Outcome::Schedule,
       .channel = "push",
       .deferred_by = hours(5),
       .rule = "marketing-gap"},
      {.name = "min interval exactly elapsed",
       .rules = {minGap(hours(4), OnCap::Drop)},
       .history = marketingSends({hours(4)}),
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "min interval one ms short",
       .rules = {minGap(hours(4), OnCap::Drop)},
       .history = marketingSends({hours(4) - milliseconds(1)}),
       .outcome = Outcome::Suppress,
       .rule = "marketing-gap"},
      {.name = "deferral satisfies every rule at once",
       .rules = {perDay(2, OnCap::Defer), minGap(hours(8), OnCap::Defer)},
       .history = marketingSends({hours(20), hours(3)}),
       .outcome = Outcome::Schedule,
       .channel = "push",
       .deferred_by = hours(5),  // the window frees at +4h, the gap to -3h ends at +5h
       .rule = "marketing-2-per-day"},
      {.name = "drop beats defer when both block",
       .rules = {perDay(2, OnCap::Defer), minGap(hours(8), OnCap::Drop)},
       .history = marketingSends({hours(20), hours(3)}),
       .outcome = Outcome::Suppress,
       .rule = "marketing-gap"},
      {.name = "next_channel moves to a channel the rule does not cover",
       .rules = {{.name = "push-1-per-hour",
                  .channel = "push",
                  .limit = 1,
                  .window = hours(1),
                  .on_cap = OnCap::NextChannel}},
       .history = marketingSends({minutes(10)}),
       .outcome = Outcome::Send,
       .channel = "email"},
      {.name = "next_channel covering every channel leaves none",
       .rules = {{.name = "any-1-per-hour",
                  .limit = 1,
                  .window = hours(1),
                  .on_cap = OnCap::NextChannel}},
       .history = marketingSends({minutes(10)}),
       .outcome = Outcome::Suppress,
       .rule = "any-1-per-hour"},
      {.name = "the next channel's own rule still applies",
       .rules = {{.name = "push-1-per-hour",
                  .channel = "push",
                  .limit = 1,
                  .window = hours(1),
                  .on_cap = OnCap::NextChannel},
                 {.name = "email-1-per-day",
                  .channel = "email",
                  .limit = 1,
                  .window = days(1),
                  .on_cap = OnCap::Defer}},
       .history = {sent(kNow - minutes(10), "marketing", "push"),
                   sent(kNow - minutes(5), "marketing", "email")},
       .outcome = Outcome::Schedule,
       .channel = "email",
       .deferred_by = days(1) - minutes(5),
       .rule = "email-1-per-day"},
      {.name = "transactional bypasses a rule that covers it",
       .rules = {{.name = "any-1-per-day", .limit = 1, .window = days(1)}},
       .history = marketingSends({hours(1)}),
       .category = "transactional",
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "high priority bypasses",
       .rules = {perDay(1, OnCap::Drop)},
       .history = marketingSends({hours(1)}),
       .priority = "high",
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "applies_to_bypass holds transactional too",
       .rules = {{.name = "any-1-per-minute",
                  .limit = 1,
                  .window = minutes(1),
                  .applies_to_bypass = true}},
       .history = marketingSends({seconds(30)}),
       .category = "transactional",
       .outcome = Outcome::Suppress,
       .rule = "any-1-per-minute"},
      {.name = "an already scheduled send counts in the windows it shares",
       .rules = {perDay(1, OnCap::Defer)},
       .history = {sent(kNow + hours(2), "marketing", "email")},
       .outcome = Outcome::Schedule,
       .channel = "push",
       .deferred_by = hours(26),
       .rule = "marketing-1-per-day"},
      {.name = "a send scheduled a full window ahead does not",
       .rules = {perDay(1, OnCap::Defer)},
       .history = {sent(kNow + days(1), "marketing", "email")},
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "past and future sends one ms less than a window apart add up",
       .rules = {perDay(2, OnCap::Drop)},
       .history = {sent(kNow - hours(12) + milliseconds(1), "marketing", "push"),
                   sent(kNow + hours(12), "marketing", "push")},
       .outcome = Outcome::Suppress,
       .rule = "marketing-2-per-day"},
      {.name = "past and future sends exactly a window apart do not",
       .rules = {perDay(2, OnCap::Drop)},
       .history = {sent(kNow - hours(12), "marketing", "push"),
                   sent(kNow + hours(12), "marketing", "push")},
       .outcome = Outcome::Send,
       .channel = "push"},
      {.name = "past and future sends in no common window are not added up",
       .rules = {perDay(2, OnCap::Drop)},
       .history = {sent(kNow - hours(20), "marketing", "push"),
                   sent(kNow + hours(20), "marketing", "push")},
       .outcome = Outcome::Send,
       .channel = "push"},
  };
  const CustomerProfile profile = reachableCustomer();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    PolicyConfig config = baseConfig();
    config.caps = c.rules;
    SendRequest request;
    request.category = c.category;
    request.priority = c.priority;
    request.channels = c.channels;
    const Decision d = decide(request, profile, CustomerState{c.history, {}}, config, kNow);
    ASSERT_EQ(d.outcome, c.outcome) << dumpTrace(d);
    EXPECT_EQ(d.rule, c.rule) << dumpTrace(d);
    if (c.outcome == Outcome::Suppress) {
      EXPECT_EQ(d.reason, "capped");
      continue;
    }
    EXPECT_EQ(d.channel, c.channel) << dumpTrace(d);
    if (c.deferred_by) {
      ASSERT_TRUE(d.not_before.has_value());
      EXPECT_EQ(*d.not_before - kNow, *c.deferred_by) << dumpTrace(d);
      EXPECT_EQ(d.reason, "capped");
    } else {
      EXPECT_FALSE(d.not_before.has_value());
    }
  }
}

TEST(Caps, TraceNamesTheRuleAndItsValues) {
  PolicyConfig config = baseConfig();
  config.caps = {perDay(3, OnCap::Drop)};
  SendRequest request = marketing();
  request.channels = {"push"};
  const Decision d = decide(request, reachableCustomer(),
                            {marketingSends({hours(1), hours(2), hours(3)}), {}}, config, kNow);
  EXPECT_TRUE(traceHas(d, "caps", "marketing-3-per-day (push): 3 of 3 in 1d → suppressed"))
      << dumpTrace(d);
  EXPECT_TRUE(traceHas(d, "outcome", "suppressed: capped by marketing-3-per-day on push"))
      << dumpTrace(d);
}

TEST(Caps, TraceExplainsDeferralNextChannelAndBypass) {
  PolicyConfig config = baseConfig();
  config.caps = {{.name = "push-1-per-hour",
                  .channel = "push",
                  .limit = 1,
                  .window = hours(1),
                  .on_cap = OnCap::NextChannel},
                 minGap(hours(2), OnCap::Defer)};
  const CustomerState state{marketingSends({minutes(30)}), {}};
  const Decision d = decide(marketing(), reachableCustomer(), state, config, kNow);
  ASSERT_EQ(d.outcome, Outcome::Schedule) << dumpTrace(d);
  EXPECT_EQ(d.channel, "email");
  EXPECT_TRUE(traceHas(d, "caps", "push-1-per-hour (push): 1 of 1 in 1h → next channel"))
      << dumpTrace(d);
  EXPECT_TRUE(traceHas(d, "caps",
                       "marketing-gap (email): send at 2026-06-10T11:30:00Z is within the 2h "
                       "minimum interval → deferred to 2026-06-10T13:30:00Z"))
      << dumpTrace(d);
  EXPECT_TRUE(
      traceHas(d, "caps", "marketing-gap (email at 2026-06-10T13:30:00Z): none within 2h → ok"))
      << dumpTrace(d);

  SendRequest urgent = marketing();
  urgent.priority = "high";
  const Decision u = decide(urgent, reachableCustomer(), state, config, kNow);
  EXPECT_EQ(u.outcome, Outcome::Send);
  EXPECT_TRUE(traceHas(u, "caps", "push-1-per-hour (push): bypassed, priority high"))
      << dumpTrace(u);
}

TEST(Caps, ConsecutiveDecisionsCountTheirOwnSends) {
  PolicyConfig config = baseConfig();
  config.caps = {perDay(3, OnCap::Drop)};
  CustomerState state;
  std::vector<Outcome> outcomes;
  SysTime now = kNow;
  for (int i = 0; i < 5; ++i) {
    const SendRequest request = marketing();
    const Decision d = decide(request, reachableCustomer(), state, config, now);
    outcomes.push_back(d.outcome);
    recordSend(state, d, request, "m-" + std::to_string(i), now);
    now += minutes(1);
  }
  EXPECT_EQ(outcomes, (std::vector<Outcome>{Outcome::Send, Outcome::Send, Outcome::Send,
                                            Outcome::Suppress, Outcome::Suppress}));
  EXPECT_EQ(state.sends.size(), 3u);
}

TEST(Caps, MergedCustomersShareOneCap) {
  PolicyConfig config = baseConfig();
  config.caps = {perDay(3, OnCap::Drop)};
  const CustomerState online{{sent(kNow - hours(5), "marketing", "email", "m-1"),
                              sent(kNow - hours(2), "marketing", "push", "m-2")},
                             {}};
  const CustomerState shop{{sent(kNow - hours(4), "marketing", "sms", "m-3"),
                            sent(kNow - hours(1), "marketing", "email", "m-4")},
                           {}};
  const CustomerProfile profile = reachableCustomer();
  EXPECT_EQ(decide(marketing(), profile, online, config, kNow).outcome, Outcome::Send);
  EXPECT_EQ(decide(marketing(), profile, shop, config, kNow).outcome, Outcome::Send);
  const Decision merged = decide(marketing(), profile, mergeStates(online, shop), config, kNow);
  EXPECT_EQ(merged.outcome, Outcome::Suppress);
  EXPECT_TRUE(traceHas(merged, "caps", "marketing-3-per-day (push): 4 of 3 in 1d → suppressed"))
      << dumpTrace(merged);
}

}  // namespace
}  // namespace omnigate::policy
