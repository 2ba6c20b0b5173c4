#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/policy.h"
#include "tests/unit/policy/policy_fixture.h"

namespace omnigate::policy {
namespace {

using namespace omnigate::policy::testing;

const SysTime kNow = at("2026-06-10T12:00:00Z");

std::vector<std::string> ids(const std::vector<SendRecord>& sends) {
  std::vector<std::string> out;
  for (const auto& s : sends) out.push_back(s.message_id);
  return out;
}

std::vector<std::string> ids(const std::vector<DedupeRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.message_id);
  return out;
}

TEST(RecordSend, CountsTheSendAtItsSendTime) {
  CustomerProfile profile = reachableCustomer();
  profile.quiet_hours = QuietHours{22 * 60, 8 * 60};
  CustomerState state{{sent(kNow - hours(1), "marketing", "push", "m-0")}, {}};

  SendRequest now_request = marketing();
  now_request.dedupe_key = "a";
  const Decision now_decision = decide(now_request, profile, state, baseConfig(), kNow);
  ASSERT_EQ(now_decision.outcome, Outcome::Send);
  recordSend(state, now_decision, now_request, "m-now", kNow);

  SendRequest night_request = marketing();
  night_request.dedupe_key = "b";
  const SysTime night = at("2026-06-10T23:00:00Z");
  const Decision night_decision = decide(night_request, profile, state, baseConfig(), night);
  ASSERT_EQ(night_decision.outcome, Outcome::Schedule);
  recordSend(state, night_decision, night_request, "m-morning", night);

  ASSERT_EQ(state.sends.size(), 3u);
  EXPECT_EQ(ids(state.sends), (std::vector<std::string>{"m-0", "m-now", "m-morning"}));
  EXPECT_EQ(state.sends[1].at, kNow);
  EXPECT_EQ(state.sends[1].channel, "push");
  EXPECT_EQ(state.sends[1].category, "marketing");
  EXPECT_EQ(state.sends[2].at, at("2026-06-11T08:00:00Z"));
  ASSERT_EQ(state.dedupe.size(), 2u);
  EXPECT_EQ(state.dedupe[1].key, "b");
  EXPECT_EQ(state.dedupe[1].at, at("2026-06-11T08:00:00Z"));
}

TEST(RecordSend, KeepsSendsOrderedWhenAnEarlierOneArrivesLater) {
  CustomerState state{{sent(kNow + hours(5), "marketing", "push", "m-later")}, {}};
  Decision decision;
  decision.outcome = Outcome::Send;
  decision.channel = "email";
  recordSend(state, decision, marketing(), "m-now", kNow);
  EXPECT_EQ(ids(state.sends), (std::vector<std::string>{"m-now", "m-later"}));
}

TEST(PruneState, DropsOnlyWhatNoWindowCanSee) {
  PolicyConfig config = baseConfig();
  config.caps = {{.name = "a", .limit = 3, .window = days(1)},
                 {.name = "b", .min_interval = days(2)}};
  config.categories["marketing"].dedupe_window = days(3);
  CustomerState state{{sent(kNow - days(2), "marketing", "push", "gone"),
                       sent(kNow - days(2) + milliseconds(1), "marketing", "push", "kept"),
                       sent(kNow + hours(3), "marketing", "push", "scheduled")},
                      {{"k", kNow - days(3), "gone"},
                       {"k", kNow - days(3) + milliseconds(1), "kept"},
                       {"k", kNow, "now"}}};
  pruneState(state, config, kNow);
  EXPECT_EQ(ids(state.sends), (std::vector<std::string>{"kept", "scheduled"}));
  EXPECT_EQ(ids(state.dedupe), (std::vector<std::string>{"kept", "now"}));
}

TEST(PruneState, WithoutRulesNoSendMatters) {
  CustomerState state{{sent(kNow - hours(1), "marketing", "push", "m-1"),
                       sent(kNow + hours(1), "marketing", "push", "m-2")},
                      {}};
  pruneState(state, baseConfig(), kNow);
  EXPECT_EQ(ids(state.sends), (std::vector<std::string>{"m-2"}));
}

TEST(PruneState, DoesNotChangeDecisions) {
  PolicyConfig config = baseConfig();
  config.caps = {{.name = "marketing-2-per-day",
                  .category = "marketing",
                  .limit = 2,
                  .window = days(1),
                  .on_cap = OnCap::Defer}};
  CustomerState state;
  for (int i = 0; i < 40; ++i) {
    state.sends.push_back(sent(kNow - days(10) + hours(6 * i), "marketing", "push"));
  }
  CustomerState pruned = state;
  pruneState(pruned, config, kNow);
  EXPECT_LT(pruned.sends.size(), state.sends.size());
  const Decision full = decide(marketing(), reachableCustomer(), state, config, kNow);
  const Decision lean = decide(marketing(), reachableCustomer(), pruned, config, kNow);
  EXPECT_EQ(full.outcome, lean.outcome);
  EXPECT_EQ(full.not_before, lean.not_before);
  EXPECT_EQ(full.trace, lean.trace);
}

TEST(MergeStates, IsTheUnionInTimeOrder) {
  // Ids sort the other way round from times, so only time order passes.
  const SendRecord shared = sent(kNow - hours(2), "marketing", "email", "a-shared");
  const CustomerState a{{sent(kNow - hours(5), "marketing", "push", "z-1"), shared},
                        {{"k1", kNow - hours(5), "z-1"}}};
  const CustomerState b{{sent(kNow - hours(3), "transactional", "sms", "m-1"), shared},
                        {{"k2", kNow - hours(3), "m-1"}, {"k1", kNow - hours(5), "z-1"}}};
  const CustomerState merged = mergeStates(a, b);
  EXPECT_EQ(ids(merged.sends), (std::vector<std::string>{"z-1", "m-1", "a-shared"}));
  EXPECT_EQ(ids(merged.dedupe), (std::vector<std::string>{"z-1", "m-1"}));
  const CustomerState flipped = mergeStates(b, a);
  EXPECT_EQ(ids(flipped.sends), ids(merged.sends));
}

TEST(MergeStates, CarriesDedupeAcrossTheMerge) {
  const CustomerState online{{}, {{"cart-991", kNow - hours(1), "m-online"}}};
  SendRequest request = marketing();
  request.dedupe_key = "cart-991";
  EXPECT_EQ(decide(request, reachableCustomer(), {}, baseConfig(), kNow).outcome, Outcome::Send);
  const Decision d =
      decide(request, reachableCustomer(), mergeStates({}, online), baseConfig(), kNow);
  EXPECT_EQ(d.reason, "duplicate");
  EXPECT_EQ(d.duplicate_of, "m-online");
}

TEST(Decide, ExplainsEveryStep) {
  PolicyConfig config = baseConfig();
  config.caps = {
      {.name = "marketing-3-per-day", .category = "marketing", .limit = 3, .window = days(1)}};
  CustomerProfile profile = reachableCustomer();
  profile.contacts.email.reset();
  profile.quiet_hours = QuietHours{22 * 60, 8 * 60};
  profile.timezone = "Europe/Moscow";
  SendRequest request = marketing();
  request.dedupe_key = "spring-sale";
  const CustomerState state{{sent(kNow - hours(2), "marketing", "push")}, {}};
  const Decision d = decide(request, profile, state, config, kNow);
  const std::vector<TraceStep> expected = {
      {"category", "marketing: caps apply, quiet hours defer, dedupe window 1d"},
      {"opt_out", "not opted out of marketing"},
      {"plan", "category marketing default: push, email"},
      {"rank", "no channel has 3 attempts yet; default order kept"},
      {"plan", "email skipped: no valid contact"},
      {"plan", "push"},
      {"dedupe", "key 'spring-sale' not seen within 1d"},
      {"quiet_hours", "22:00-08:00 Europe/Moscow: local 2026-06-10 15:00 is outside"},
      {"caps", "marketing-3-per-day (push): 1 of 3 in 1d → ok"},
      {"outcome", "send now via push"},
  };
  EXPECT_EQ(d.trace, expected) << dumpTrace(d);
  EXPECT_EQ(d.outcome, Outcome::Send);
  EXPECT_EQ(d.plan, (std::vector<std::string>{"push"}));
  EXPECT_TRUE(d.reason.empty());
}

TEST(Decide, UnconfiguredCategoriesUseSafeDefaults) {
  PolicyConfig config = baseConfig();
  config.categories.clear();
  config.caps = {{.name = "any-1-per-day", .limit = 1, .window = days(1)}};
  const CustomerState state{{sent(kNow - hours(1), "transactional", "push")}, {}};

  const Decision transactional = decide(SendRequest{}, reachableCustomer(), state, config, kNow);
  EXPECT_EQ(transactional.outcome, Outcome::Send);
  EXPECT_TRUE(traceHas(transactional, "category",
                       "transactional: not configured, using defaults (bypasses caps)"));

  SendRequest survey;
  survey.category = "survey";
  const Decision d = decide(survey, reachableCustomer(), state, config, kNow);
  EXPECT_EQ(d.outcome, Outcome::Suppress);
  EXPECT_EQ(d.reason, "capped");
  EXPECT_TRUE(traceHas(d, "category", "survey: not configured, using defaults"));
}

TEST(ConfigSpellings, ParseAndPrint) {
  EXPECT_EQ(*parseOnCap("drop"), OnCap::Drop);
  EXPECT_EQ(*parseOnCap("defer"), OnCap::Defer);
  EXPECT_EQ(*parseOnCap("next_channel"), OnCap::NextChannel);
  EXPECT_EQ(parseOnCap("next-channel").error().code, "invalid_on_cap");
  EXPECT_EQ(*parseQuietAction("drop"), QuietAction::Drop);
  EXPECT_EQ(*parseQuietAction("defer"), QuietAction::Defer);
  EXPECT_EQ(parseQuietAction("skip").error().code, "invalid_quiet_action");
  EXPECT_EQ(toString(Outcome::Send), "send");
  EXPECT_EQ(toString(Outcome::Schedule), "schedule");
  EXPECT_EQ(toString(Outcome::Suppress), "suppress");
}

}  // namespace
}  // namespace omnigate::policy
