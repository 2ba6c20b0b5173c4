#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "tests/unit/policy/policy_fixture.h"

namespace omnigate::policy {
namespace {

using namespace omnigate::policy::testing;
using Channels = std::vector<std::string>;

const SysTime kNow = at("2026-06-10T12:00:00Z");

TEST(ChannelPlan, SourcePrecedence) {
  struct Case {
    const char* name;
    Channels requested;
    Channels preferred;
    std::string category;
    Channels expected;
    const char* origin;
  } cases[] = {
      {"request wins over everything",
       {"sms", "email"},
       {"push"},
       "marketing",
       {"sms", "email"},
       "requested: sms, email"},
      {"preference wins over category",
       {},
       {"email", "sms"},
       "marketing",
       {"email", "sms"},
       "customer preference: email, sms"},
      {"category default wins over global",
       {},
       {},
       "marketing",
       {"push", "email"},
       "category marketing default: push, email"},
      {"global default when the category has none",
       {},
       {},
       "transactional",
       {"push", "email", "sms"},
       "global default: push, email, sms"},
      {"unknown category uses the global default",
       {},
       {},
       "survey",
       {"push", "email", "sms"},
       "global default: push, email, sms"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CustomerProfile profile = reachableCustomer();
    profile.preferred_channels = c.preferred;
    SendRequest request;
    request.category = c.category;
    request.channels = c.requested;
    const Decision d = decide(request, profile, {}, baseConfig(), kNow);
    ASSERT_EQ(d.outcome, Outcome::Send) << dumpTrace(d);
    EXPECT_EQ(d.plan, c.expected);
    EXPECT_EQ(d.channel, c.expected.front());
    EXPECT_TRUE(traceHas(d, "plan", c.origin)) << dumpTrace(d);
  }
}

TEST(ChannelPlan, FiltersUnusableChannels) {
  struct Case {
    const char* name;
    std::function<void(CustomerProfile&, SendRequest&, PolicyConfig&)> setup;
    Channels expected;
    const char* skipped;  // expected trace line, or nullptr
  } cases[] = {
      {"all usable", [](auto&, auto&, auto&) {}, {"push", "email", "sms", "messenger"}, nullptr},
      {"no provider configured",
       [](auto&, auto&, PolicyConfig& c) { c.configured_channels.erase("sms"); },
       {"push", "email", "messenger"},
       "sms skipped: no provider configured"},
      {"no contact",
       [](CustomerProfile& p, auto&, auto&) { p.contacts.email.reset(); },
       {"push", "sms", "messenger"},
       "email skipped: no valid contact"},
      {"empty contact",
       [](CustomerProfile& p, auto&, auto&) { p.contacts.telegram = ""; },
       {"push", "email", "sms"},
       "messenger skipped: no valid contact"},
      {"invalid phone",
       [](CustomerProfile& p, auto&, auto&) { p.contacts.invalid.insert("phone"); },
       {"push", "email", "messenger"},
       "sms skipped: no valid contact"},
      {"every push token invalid",
       [](CustomerProfile& p, auto&, auto&) { p.contacts.invalid.insert("push:token-1"); },
       {"email", "sms", "messenger"},
       "push skipped: no valid contact"},
      {"one push token still valid",
       [](CustomerProfile& p, auto&, auto&) {
         p.contacts.push.push_back({"apns", "token-2"});
         p.contacts.invalid.insert("push:token-1");
       },
       {"push", "email", "sms", "messenger"},
       nullptr},
      {"push marked invalid as a whole",
       [](CustomerProfile& p, auto&, auto&) { p.contacts.invalid.insert("push"); },
       {"email", "sms", "messenger"},
       "push skipped: no valid contact"},
      {"no content for a channel",
       [](auto&, SendRequest& r, auto&) {
         r.content_channels = {"email", "sms", "messenger"};
       },
       {"email", "sms", "messenger"},
       "push skipped: no content for this channel"},
      {"channel opt-out",
       [](CustomerProfile& p, auto&, auto&) { p.opt_out.insert("sms"); },
       {"push", "email", "messenger"},
       "sms skipped: customer opted out of sms"},
      {"category opt-out on one channel",
       [](CustomerProfile& p, auto&, auto&) { p.opt_out.insert("transactional:email"); },
       {"push", "sms", "messenger"},
       "email skipped: customer opted out of transactional on email"},
      {"opt-out of another category on a channel does not apply",
       [](CustomerProfile& p, auto&, auto&) { p.opt_out.insert("marketing:email"); },
       {"push", "email", "sms", "messenger"},
       nullptr},
      {"unknown channel name",
       [](auto&, SendRequest& r, auto&) {
         r.channels = {"fax", "email"};
       },
       {"email"},
       "fax skipped: no provider configured"},
      {"a channel named twice is planned once",
       [](auto&, SendRequest& r, auto&) {
         r.channels = {"email", "sms", "email"};
       },
       {"email", "sms"},
       nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CustomerProfile profile = reachableCustomer();
    SendRequest request;
    request.channels = {"push", "email", "sms", "messenger"};
    PolicyConfig config = baseConfig();
    c.setup(profile, request, config);
    const Decision d = decide(request, profile, {}, config, kNow);
    ASSERT_EQ(d.outcome, Outcome::Send) << dumpTrace(d);
    EXPECT_EQ(d.plan, c.expected) << dumpTrace(d);
    if (c.skipped != nullptr) {
      EXPECT_TRUE(traceHas(d, "plan", c.skipped)) << dumpTrace(d);
    }
    EXPECT_TRUE(traceHas(d, "plan", joined(c.expected))) << dumpTrace(d);
  }
}

TEST(ChannelPlan, OptOutsAndUnreachableCustomersAreReportedDistinctly) {
  struct Case {
    const char* name;
    std::function<void(CustomerProfile&)> setup;
    std::string reason;
    std::string rule;
  } cases[] = {
      {"category opt-out stops every channel",
       [](CustomerProfile& p) { p.opt_out.insert("marketing"); }, "opted_out", "marketing"},
      {"every usable channel opted out",
       [](CustomerProfile& p) {
         p.contacts.email.reset();
         p.opt_out.insert("push");
       },
       "opted_out", ""},
      {"no contact at all", [](CustomerProfile& p) { p.contacts = {}; }, "no_channel", ""},
      {"contacts only for channels outside the plan",
       [](CustomerProfile& p) {
         p.contacts.push.clear();
         p.contacts.email.reset();
       },
       "no_channel", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CustomerProfile profile = reachableCustomer();
    c.setup(profile);
    const Decision d = decide(marketing(), profile, {}, baseConfig(), kNow);
    EXPECT_EQ(d.outcome, Outcome::Suppress) << dumpTrace(d);
    EXPECT_EQ(d.reason, c.reason) << dumpTrace(d);
    EXPECT_EQ(d.rule, c.rule);
    EXPECT_TRUE(d.channel.empty());
  }
}

TEST(ChannelPlan, CategoryOptOutIsCheckedBeforePlanning) {
  CustomerProfile profile = reachableCustomer();
  profile.opt_out.insert("marketing");
  const Decision d = decide(marketing(), profile, {}, baseConfig(), kNow);
  EXPECT_TRUE(d.plan.empty());
  EXPECT_TRUE(traceHas(d, "opt_out", "customer opted out of marketing")) << dumpTrace(d);
  EXPECT_TRUE(traceHas(d, "outcome", "suppressed: opted out of marketing")) << dumpTrace(d);
}

TEST(RankChannelsByHistory, OrdersProvenChannelsByDeliveryThenReads) {
  struct Case {
    const char* name;
    std::map<std::string, ChannelStats> stats;
    Channels expected;
  } cases[] = {
      {"no history keeps the order", {}, {"push", "email", "sms"}},
      {"better delivery goes first",
       {{"push", {10, 2, 1}}, {"email", {10, 9, 5}}, {"sms", {10, 5, 0}}},
       {"email", "sms", "push"}},
      {"unproven channels keep their place",
       {{"push", {2, 0, 0}}, {"email", {10, 2, 0}}, {"sms", {10, 9, 0}}},
       {"push", "sms", "email"}},
      {"two attempts are not enough",
       {{"push", {2, 2, 2}}, {"email", {3, 1, 0}}},
       {"push", "email", "sms"}},
      {"three attempts are enough",
       {{"push", {3, 0, 0}}, {"email", {3, 3, 0}}},
       {"email", "push", "sms"}},
      {"reads break a delivery tie",
       {{"push", {10, 8, 1}}, {"email", {20, 16, 12}}},
       {"email", "push", "sms"}},
      {"a full tie keeps the default order",
       {{"push", {10, 8, 4}}, {"email", {5, 4, 2}}, {"sms", {20, 16, 8}}},
       {"push", "email", "sms"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(rankChannelsByHistory({"push", "email", "sms"}, c.stats, 3), c.expected);
  }
}

TEST(ChannelPlan, HistoryRanksOnlyDefaultOrders) {
  CustomerProfile profile = reachableCustomer();
  profile.stats = {{"push", {10, 1, 0}}, {"email", {10, 9, 7}}};

  const Decision by_history = decide(marketing(), profile, {}, baseConfig(), kNow);
  EXPECT_EQ(by_history.plan, (Channels{"email", "push"}));
  EXPECT_TRUE(traceHas(by_history, "rank",
                       "push 1/10 delivered, 0 read; email 9/10 delivered, 7 read → email, push"))
      << dumpTrace(by_history);

  SendRequest requested = marketing();
  requested.channels = {"push", "email"};
  EXPECT_EQ(decide(requested, profile, {}, baseConfig(), kNow).plan, (Channels{"push", "email"}));

  profile.preferred_channels = {"push", "email"};
  const Decision preferred = decide(marketing(), profile, {}, baseConfig(), kNow);
  EXPECT_EQ(preferred.plan, (Channels{"push", "email"}));
  EXPECT_FALSE(traceMentions(preferred, "rank", "")) << dumpTrace(preferred);
}

TEST(ChannelPlan, MinimumHistoryIsConfigurable) {
  CustomerProfile profile = reachableCustomer();
  profile.stats = {{"push", {1, 0, 0}}, {"email", {1, 1, 1}}};
  PolicyConfig config = baseConfig();
  EXPECT_EQ(decide(marketing(), profile, {}, config, kNow).plan, (Channels{"push", "email"}));
  config.min_history_attempts = 1;
  EXPECT_EQ(decide(marketing(), profile, {}, config, kNow).plan, (Channels{"email", "push"}));
}

}  // namespace
}  // namespace omnigate::policy
