#include "daemon/dispatch/transition.h"

#include <gtest/gtest.h>

namespace omnigate::dispatch {
namespace {

using channels::Disposition;
using store::MessageStatus;

class FixedRandom final : public Random {
 public:
  explicit FixedRandom(double value) : value_(value) {}
  double uniform() override { return value_; }
  std::uint64_t next64() override { return 0; }

 private:
  double value_;
};

constexpr std::int64_t kNow = 1795428000000;

config::RetryConfig retryConfig() {
  config::RetryConfig retry;
  retry.base = Millis(1000);
  retry.max = Millis(60'000);
  retry.max_attempts = 3;
  retry.max_age = Millis(3'600'000);
  return retry;
}

store::MessageRecord message(int channel_attempts, std::vector<std::string> plan = {"email"},
                             int channel_index = 0) {
  store::MessageRecord m;
  m.id = "01KAAAAAAAAAAAAAAAAAAAAAAA";
  m.plan = std::move(plan);
  m.channel_index = channel_index;
  m.channel_attempts = channel_attempts;
  m.created_at = fromUnixMillis(kNow - 1000);
  return m;
}

channels::Verdict verdict(Disposition d, std::optional<int> retry_after_s = std::nullopt) {
  channels::Verdict v;
  v.disposition = d;
  v.provider_code = "503";
  v.detail = "HTTP 503: busy";
  if (retry_after_s) v.retry_after = std::chrono::seconds(*retry_after_s);
  return v;
}

TEST(Backoff, FullJitterBoundedByCap) {
  auto retry = retryConfig();
  struct Case {
    int attempt;
    double random;
    std::int64_t expected_ms;
  } cases[] = {{1, 0.999, 999},  {2, 0.5, 1000},      {3, 0.5, 2000},
               {7, 0.5, 30'000}, {20, 0.999, 59'940}, {1, 0.0, 0}};
  for (const auto& c : cases) {
    FixedRandom random(c.random);
    EXPECT_EQ(backoffDelay(retry, c.attempt, random).count(), c.expected_ms)
        << "attempt " << c.attempt;
  }
}

TEST(Transition, TableOfOutcomes) {
  struct Case {
    const char* name;
    store::MessageRecord message;
    channels::Verdict verdict;
    MessageStatus status;
    int channel_index;
    std::optional<std::int64_t> next_in_ms;
  } cases[] = {
      {"accepted", message(1), verdict(Disposition::Accepted), MessageStatus::Sent, 0, {}},
      {"retry backs off", message(2), verdict(Disposition::Retry), MessageStatus::Queued, 0, 1000},
      {"retry-after wins over a shorter backoff", message(1), verdict(Disposition::Retry, 2),
       MessageStatus::Queued, 0, 2000},
      {"attempts exhausted, no fallback",
       message(3),
       verdict(Disposition::Retry),
       MessageStatus::Failed,
       0,
       {}},
      {"attempts exhausted falls back", message(3, {"email", "sms"}), verdict(Disposition::Retry),
       MessageStatus::Queued, 1, 0},
      {"rejected, no fallback",
       message(1),
       verdict(Disposition::Rejected),
       MessageStatus::Failed,
       0,
       {}},
      {"rejected falls back", message(1, {"push", "sms"}), verdict(Disposition::Rejected),
       MessageStatus::Queued, 1, 0},
      {"recipient dead on last channel",
       message(1, {"push", "sms"}, 1),
       verdict(Disposition::RecipientDead),
       MessageStatus::Failed,
       1,
       {}},
      {"misconfigured keeps the message a minute", message(3), verdict(Disposition::Misconfigured),
       MessageStatus::Queued, 0, 60'000},
  };
  for (auto& c : cases) {
    FixedRandom random(0.5);
    auto finish = decideTransition(c.message, 4, "hook", c.verdict, fromUnixMillis(kNow),
                                   retryConfig(), random);
    EXPECT_EQ(finish.new_status, c.status) << c.name << ": " << finish.reason;
    EXPECT_EQ(finish.channel_index, c.channel_index) << c.name;
    EXPECT_EQ(finish.attempt_number, 4) << c.name;
    if (c.next_in_ms) {
      ASSERT_TRUE(finish.next_attempt_at.has_value()) << c.name;
      EXPECT_EQ(toUnixMillis(*finish.next_attempt_at) - kNow, *c.next_in_ms) << c.name;
    } else {
      EXPECT_FALSE(finish.next_attempt_at.has_value()) << c.name;
    }
  }
}

TEST(Transition, FallbackResetsChannelAttemptsAndExplains) {
  FixedRandom random(0.5);
  auto finish =
      decideTransition(message(1, {"email", "sms"}), 1, "hook", verdict(Disposition::Rejected),
                       fromUnixMillis(kNow), retryConfig(), random);
  EXPECT_EQ(finish.channel_attempts, 0);
  EXPECT_NE(finish.reason.find("falling back to sms"), std::string::npos) << finish.reason;
  EXPECT_NE(finish.reason.find("HTTP 503"), std::string::npos) << finish.reason;
}

TEST(Transition, ExpiresWhenTheNextAttemptWouldBePastTtl) {
  FixedRandom random(0.5);
  auto m = message(1);
  m.expires_at = fromUnixMillis(kNow + 1000);
  auto finish = decideTransition(m, 1, "hook", verdict(Disposition::Retry, 30),
                                 fromUnixMillis(kNow), retryConfig(), random);
  EXPECT_EQ(finish.new_status, MessageStatus::Expired);
  EXPECT_NE(finish.reason.find("ttl"), std::string::npos);
}

TEST(Transition, ExpiresPastMaxAge) {
  FixedRandom random(0.5);
  auto m = message(1);
  m.created_at = fromUnixMillis(kNow - 3'599'000);
  auto finish = decideTransition(m, 1, "hook", verdict(Disposition::Retry, 5), fromUnixMillis(kNow),
                                 retryConfig(), random);
  EXPECT_EQ(finish.new_status, MessageStatus::Expired);
}

TEST(Transition, AnOperatorRetryStartsTheAgeBudgetAgain) {
  FixedRandom random(0.5);
  auto m = message(1);
  m.created_at = fromUnixMillis(kNow - 7'200'000);  // twice max_age ago
  m.retried_at = fromUnixMillis(kNow - 60'000);
  auto finish = decideTransition(m, 1, "hook", verdict(Disposition::Retry, 5), fromUnixMillis(kNow),
                                 retryConfig(), random);
  EXPECT_EQ(finish.new_status, MessageStatus::Queued) << finish.reason;
  m.retried_at = fromUnixMillis(kNow - 3'599'000);
  finish = decideTransition(m, 1, "hook", verdict(Disposition::Retry, 5), fromUnixMillis(kNow),
                            retryConfig(), random);
  EXPECT_EQ(finish.new_status, MessageStatus::Expired);
}

TEST(Transition, FailoverRetriesAtOnceOnTheNextProviderWithoutCountingTheAttempt) {
  FixedRandom random(0.5);
  auto retry = retryConfig();
  const auto now = fromUnixMillis(kNow);
  for (auto disposition : {Disposition::Retry, Disposition::Misconfigured}) {
    auto finish = decideTransition(message(3), 3, "smtp-main", verdict(disposition, 30), now, retry,
                                   random, /*failover_ready=*/true);
    EXPECT_EQ(finish.new_status, MessageStatus::Queued);
    ASSERT_TRUE(finish.next_attempt_at);
    EXPECT_EQ(*finish.next_attempt_at, now) << "the other provider takes it now";
    EXPECT_EQ(finish.channel_attempts, 2) << "the provider's outage is not the message's attempt";
    EXPECT_EQ(finish.channel_index, 0) << "same channel, other provider";
    EXPECT_NE(finish.reason.find("smtp-main is unavailable"), std::string::npos) << finish.reason;
  }
  // Final outcomes are not affected by an available alternative.
  auto rejected = decideTransition(message(1), 1, "smtp-main", verdict(Disposition::Rejected), now,
                                   retry, random, true);
  EXPECT_EQ(rejected.new_status, MessageStatus::Failed);
  // Without an alternative, the attempt counts and backs off as usual.
  auto alone = decideTransition(message(1), 1, "smtp-main", verdict(Disposition::Retry), now, retry,
                                random, false);
  EXPECT_EQ(alone.channel_attempts, 1);
  ASSERT_TRUE(alone.next_attempt_at);
  EXPECT_GT(*alone.next_attempt_at, now);
}

}  // namespace
}  // namespace omnigate::dispatch
