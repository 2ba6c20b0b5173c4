#pragma once

// What happens to a message after one attempt: the Postfix-style FINAL vs DEFER decision, with
// exponential backoff and full jitter, Retry-After respected, per-channel attempt limits, TTL and
// maximum age, and fallback to the next channel of the plan. Pure: time and randomness come in.

#include "channels/provider.h"
#include "daemon/common/clock.h"
#include "daemon/config/config.h"
#include "daemon/store/store.h"

namespace omnigate::dispatch {

// Full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
Millis backoffDelay(const config::RetryConfig& retry, int attempt, Random& random);

// `message` is the claimed record (channel_attempts already counts this attempt).
// `failover_ready`: the verdict paused this provider and another provider of the channel can
// take the message now, so a retryable outcome is retried there at once, uncounted.
store::AttemptFinish decideTransition(const store::MessageRecord& message, int attempt_number,
                                      const std::string& provider, const channels::Verdict& verdict,
                                      SysTime now, const config::RetryConfig& retry,
                                      Random& random, bool failover_ready = false);

}  // namespace omnigate::dispatch
