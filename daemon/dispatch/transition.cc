#include "daemon/dispatch/transition.h"

#include <algorithm>
#include <cmath>

namespace omnigate::dispatch {

using channels::Disposition;
using store::MessageStatus;

Millis backoffDelay(const config::RetryConfig& retry, int attempt, Random& random) {
  double cap = static_cast<double>(retry.base.count()) * std::pow(2.0, std::max(0, attempt - 1));
  cap = std::min(cap, static_cast<double>(retry.max.count()));
  return Millis(static_cast<std::int64_t>(cap * random.uniform()));
}

namespace {

void moveToNextChannel(store::AttemptFinish& finish, const store::MessageRecord& message,
                       SysTime now, const std::string& why) {
  if (message.channel_index + 1 < static_cast<int>(message.plan.size())) {
    finish.new_status = MessageStatus::Queued;
    finish.channel_index = message.channel_index + 1;
    finish.channel_attempts = 0;
    finish.next_attempt_at = now;
    finish.reason = message.channel() + " failed (" + why + "); falling back to " +
                    message.plan[message.channel_index + 1];
  } else {
    finish.new_status = MessageStatus::Failed;
    finish.reason = why;
  }
}

}  // namespace

store::AttemptFinish decideTransition(const store::MessageRecord& message, int attempt_number,
                                      const std::string& provider, const channels::Verdict& verdict,
                                      SysTime now, const config::RetryConfig& retry, Random& random,
                                      bool failover_ready) {
  store::AttemptFinish finish;
  finish.id = message.id;
  finish.attempt_number = attempt_number;
  finish.finished_at = now;
  finish.outcome = channels::toString(verdict.disposition);
  finish.code = verdict.provider_code;
  finish.detail = verdict.detail;
  finish.provider_message_id = verdict.provider_message_id;
  finish.segments = verdict.segments;
  finish.channel_index = message.channel_index;
  finish.channel_attempts = message.channel_attempts;

  const std::string what = verdict.detail.empty() ? verdict.provider_code : verdict.detail;
  switch (verdict.disposition) {
    case Disposition::Accepted:
      finish.new_status = MessageStatus::Sent;
      finish.reason.clear();
      return finish;
    case Disposition::RecipientDead:
      moveToNextChannel(finish, message, now, "recipient is gone at " + provider + ": " + what);
      return finish;
    case Disposition::OptedOut:
      moveToNextChannel(finish, message, now, "recipient opted out at " + provider + ": " + what);
      return finish;
    case Disposition::Rejected:
      moveToNextChannel(finish, message, now, "rejected by " + provider + ": " + what);
      return finish;
    case Disposition::Retry:
    case Disposition::Misconfigured:
      break;
  }

  if (failover_ready) {
    // The provider, not the message, is at fault: the attempt does not count against the
    // message and the next provider of the channel takes it now.
    finish.channel_attempts = std::max(0, message.channel_attempts - 1);
    finish.new_status = MessageStatus::Queued;
    finish.next_attempt_at = now;
    finish.reason = provider + " is unavailable (" + what + "); failing over to the next provider";
    return finish;
  }
  const bool misconfigured = verdict.disposition == Disposition::Misconfigured;
  if (misconfigured) {
    // The operator must fix the provider; the message is kept and this attempt is not counted.
    finish.channel_attempts = std::max(0, message.channel_attempts - 1);
  } else if (message.channel_attempts >= retry.max_attempts) {
    moveToNextChannel(finish, message, now,
                      "gave up after " + std::to_string(message.channel_attempts) +
                          " attempts at " + provider + ": " + what);
    return finish;
  }

  Millis delay = backoffDelay(retry, message.channel_attempts, random);
  if (misconfigured) delay = std::max(delay, Millis(60'000));
  if (verdict.retry_after) {
    delay = std::max(delay, std::chrono::duration_cast<Millis>(*verdict.retry_after));
  }
  SysTime next = now + delay;
  if (message.expires_at && next > *message.expires_at) {
    finish.new_status = MessageStatus::Expired;
    finish.reason = "ttl elapses before the next attempt could be made (last: " + what + ")";
    return finish;
  }
  // An operator's retry (POST /v1/messages/{id}/retry) starts the age budget again.
  if (message.retried_at.value_or(message.created_at) + retry.max_age < next) {
    finish.new_status = MessageStatus::Expired;
    finish.reason = "retry.max_age elapses before the next attempt (last: " + what + ")";
    return finish;
  }
  finish.new_status = MessageStatus::Queued;
  finish.next_attempt_at = next;
  finish.reason = "will retry at " + formatRfc3339(next) + " after: " + what;
  return finish;
}

}  // namespace omnigate::dispatch
