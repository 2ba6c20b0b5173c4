#include <gtest/gtest.h>

#include <set>
#include <string>

#include "policy/policy.h"
#include "tests/unit/policy/policy_fixture.h"

namespace omnigate::policy {
namespace {

using namespace omnigate::policy::testing;

const SysTime kNow = at("2026-06-10T12:00:00Z");

TEST(DefaultDedupeKey, IsFnv1aOfTemplateAndDataAsHex) {
  // Reference values from an independent FNV-1a 64 over "<template>\0<data>".
  EXPECT_EQ(defaultDedupeKey("order_shipped", R"({"order":"A-17"})"), "159eeacdff00b421");
  EXPECT_EQ(defaultDedupeKey("", ""), "af63bd4c8601b7df");
}

TEST(DefaultDedupeKey, SeparatesTemplateFromData) {
  std::set<std::string> keys = {
      defaultDedupeKey("ab", "c"),
      defaultDedupeKey("a", "bc"),
      defaultDedupeKey("order_shipped", R"({"order":"A-17"})"),
      defaultDedupeKey("order_shipped", R"({"order":"A-18"})"),
      defaultDedupeKey("order_delivered", R"({"order":"A-17"})"),
  };
  EXPECT_EQ(keys.size(), 5u);
  for (const auto& key : keys) {
    EXPECT_EQ(key.size(), 16u);
    EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos) << key;
  }
}

TEST(Dedupe, OneKeyReachesTheCustomerOncePerWindow) {
  struct Case {
    const char* name;
    std::string category;
    std::string key;
    std::vector<DedupeRecord> seen;
    bool duplicate;
  } cases[] = {
      {"never seen", "marketing", "order-A-17", {}, false},
      {"seen an hour ago",
       "marketing",
       "order-A-17",
       {{"order-A-17", kNow - hours(1), "m-1"}},
       true},
      {"seen one ms inside the 24h default window",
       "marketing",
       "order-A-17",
       {{"order-A-17", kNow - hours(24) + milliseconds(1), "m-1"}},
       true},
      {"seen exactly 24h ago has expired",
       "marketing",
       "order-A-17",
       {{"order-A-17", kNow - hours(24), "m-1"}},
       false},
      {"another key", "marketing", "order-A-18", {{"order-A-17", kNow - hours(1), "m-1"}}, false},
      {"the category's own window: digest keeps keys 1h",
       "digest",
       "weekly",
       {{"weekly", kNow - minutes(59), "m-1"}},
       true},
      {"digest key after 1h", "digest", "weekly", {{"weekly", kNow - hours(1), "m-1"}}, false},
      {"a message still scheduled ahead",
       "marketing",
       "order-A-17",
       {{"order-A-17", kNow + hours(5), "m-1"}},
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    SendRequest request;
    request.category = c.category;
    request.dedupe_key = c.key;
    const Decision d =
        decide(request, reachableCustomer(), CustomerState{{}, c.seen}, baseConfig(), kNow);
    if (c.duplicate) {
      EXPECT_EQ(d.outcome, Outcome::Suppress) << dumpTrace(d);
      EXPECT_EQ(d.reason, "duplicate");
      EXPECT_EQ(d.rule, c.key);
      EXPECT_EQ(d.duplicate_of, "m-1");
    } else {
      EXPECT_NE(d.outcome, Outcome::Suppress) << dumpTrace(d);
      EXPECT_TRUE(d.duplicate_of.empty());
    }
  }
}

TEST(Dedupe, AcrossChannelsAndNamesTheEarlierMessage) {
  PolicyConfig config = baseConfig();
  CustomerState state;
  SendRequest by_sms;
  by_sms.channels = {"sms"};
  by_sms.dedupe_key = "order-A-17-shipped";
  const Decision first = decide(by_sms, reachableCustomer(), state, config, kNow);
  ASSERT_EQ(first.outcome, Outcome::Send);
  recordSend(state, first, by_sms, "m-sms", kNow);

  SendRequest by_email = by_sms;
  by_email.channels = {"email"};
  const Decision second = decide(by_email, reachableCustomer(), state, config, kNow + minutes(10));
  EXPECT_EQ(second.outcome, Outcome::Suppress);
  EXPECT_EQ(second.duplicate_of, "m-sms");
  EXPECT_TRUE(traceHas(second, "dedupe",
                       "key 'order-A-17-shipped' taken by message m-sms at 2026-06-10T12:00:00Z "
                       "(window 1d) → suppressed"))
      << dumpTrace(second);
  EXPECT_TRUE(traceHas(second, "outcome", "suppressed: duplicate of message m-sms"));
}

TEST(Dedupe, SuppressedMessagesDoNotTakeTheKey) {
  CustomerProfile profile = reachableCustomer();
  profile.opt_out.insert("marketing");
  SendRequest request = marketing();
  request.dedupe_key = "spring-sale";
  CustomerState state;
  const Decision d = decide(request, profile, state, baseConfig(), kNow);
  ASSERT_EQ(d.outcome, Outcome::Suppress);
  recordSend(state, d, request, "m-1", kNow);
  EXPECT_TRUE(state.dedupe.empty());
  EXPECT_TRUE(state.sends.empty());
}

TEST(Dedupe, EarliestLiveRecordIsNamed) {
  const CustomerState state{{},
                            {{"k", kNow - hours(30), "m-expired"},
                             {"k", kNow - hours(3), "m-first"},
                             {"k", kNow - hours(1), "m-second"}}};
  SendRequest request;
  request.dedupe_key = "k";
  const Decision d = decide(request, reachableCustomer(), state, baseConfig(), kNow);
  EXPECT_EQ(d.duplicate_of, "m-first");
}

}  // namespace
}  // namespace omnigate::policy
