#include "daemon/dispatch/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "daemon/dispatch/payload.h"
#include "daemon/dispatch/transition.h"

namespace omnigate::dispatch {

using std::chrono::steady_clock;

namespace {

// How long a throttled provider waits when it gave no Retry-After: doubles per consecutive
// throttle, from 1 s up to a minute.
Millis throttlePause(int consecutive) {
  return Millis(std::min<std::int64_t>(60'000, 1000LL << std::min(consecutive, 6)));
}

}  // namespace

Dispatcher::Dispatcher(boost::asio::io_context& io, store::Store& store,
                       transport::Transport& transport, const Clock& clock, Random& random,
                       const config::Config& config, const templates::TemplateSet& templates,
                       std::map<std::string, std::unique_ptr<ProviderState>> providers)
    : io_(io),
      store_(store),
      transport_(transport),
      clock_(clock),
      random_(random),
      templates_(templates),
      retry_(config.retry),
      providers_(std::move(providers)),
      window_(config.dispatch.window),
      timer_(io) {
  for (const auto& [channel, settings] : config.channels) {
    channel_providers_[channel] = settings.providers;
  }
  for (auto& [name, state] : providers_) {
    state->tokens = std::max(1.0, state->rate);
    state->tokens_at = steady_clock::now();
  }
}

void Dispatcher::start() { pump(); }

void Dispatcher::reconfigure(const config::Config& config,
                             std::map<std::string, std::unique_ptr<ProviderState>> fresh) {
  retry_ = config.retry;
  channel_providers_.clear();
  for (const auto& [channel, settings] : config.channels) {
    channel_providers_[channel] = settings.providers;
  }
  const auto now = steady_clock::now();
  for (auto& [name, state] : fresh) {
    auto running = providers_.find(name);
    if (running != providers_.end() &&
        config::sameProviderSettings(running->second->settings, state->settings)) {
      state = std::move(running->second);
      continue;
    }
    state->tokens = std::max(1.0, state->rate);
    state->tokens_at = now;
    if (running != providers_.end()) {  // counters are the provider's, not the instance's
      state->attempts = running->second->attempts;
      state->accepted = running->second->accepted;
      state->pauses = running->second->pauses;
    }
  }
  for (auto& [name, state] : providers_) {
    if (state) retired_.push_back(std::move(state));
  }
  providers_ = std::move(fresh);
  dropIdleRetired();
  pump();
}

void Dispatcher::dropIdleRetired() {
  std::erase_if(retired_, [](const std::unique_ptr<ProviderState>& state) {
    return state->in_flight == 0 && !state->fetching_credential &&
           state->waiting_for_credential.empty();
  });
}

void Dispatcher::onPending(const store::DueJob& job) {
  window_.offer(job);
  if (!pump_posted_) {
    pump_posted_ = true;
    boost::asio::post(io_, [this] {
      pump_posted_ = false;
      pump();
    });
  }
}

void Dispatcher::stop(std::function<void()> drained) {
  stopping_ = true;
  timer_.cancel();
  drained_ = std::move(drained);
  if (in_flight_ == 0 && drained_) boost::asio::post(io_, std::exchange(drained_, nullptr));
}

ProviderState* Dispatcher::pickProvider(const std::string& channel, SteadyTime now,
                                        std::optional<SteadyTime>& unblock_at,
                                        const std::string& job_id) {
  auto names = channel_providers_.find(channel);
  if (names == channel_providers_.end()) return nullptr;
  const std::set<std::string>* excluded = nullptr;
  if (auto found = wrong_provider_.find(job_id); found != wrong_provider_.end()) {
    excluded = &found->second;
  }
  for (const auto& name : names->second) {
    auto it = providers_.find(name);
    if (it == providers_.end()) continue;
    if (excluded && excluded->count(name)) continue;
    ProviderState& p = *it->second;
    if (p.paused_until > now) {
      unblock_at = std::min(unblock_at.value_or(p.paused_until), p.paused_until);
      continue;
    }
    // Claims run ahead of free send slots by up to half of max_concurrency (none for a provider
    // limited to one request at a time); sendWhenSlotFree holds the sends themselves to
    // max_concurrency. A completion will pump again.
    if (p.in_flight >= p.max_concurrency + p.max_concurrency / 2) continue;
    if (p.rate > 0) {
      double elapsed = std::chrono::duration<double>(now - p.tokens_at).count();
      p.tokens = std::min(std::max(1.0, p.rate), p.tokens + elapsed * p.rate);
      p.tokens_at = now;
      if (p.tokens < 1.0) {
        auto wait = std::chrono::duration_cast<steady_clock::duration>(
            std::chrono::duration<double>((1.0 - p.tokens) / p.rate));
        unblock_at = std::min(unblock_at.value_or(now + wait), now + wait);
        continue;
      }
    }
    return &p;
  }
  return nullptr;
}

bool Dispatcher::hasReadyAlternative(const std::string& channel, const ProviderState* except,
                                     SteadyTime now) const {
  auto names = channel_providers_.find(channel);
  if (names == channel_providers_.end()) return false;
  return std::any_of(names->second.begin(), names->second.end(), [&](const std::string& name) {
    auto it = providers_.find(name);
    return it != providers_.end() && it->second.get() != except && it->second->paused_until <= now;
  });
}

void Dispatcher::pump() {
  if (stopping_) return;
  const SysTime now = clock_.now();
  const SteadyTime steady_now = steady_clock::now();
  if (steady_now < claims_paused_until_) {
    armTimer(now + std::chrono::duration_cast<Millis>(claims_paused_until_ - steady_now) +
             Millis(1));
    return;
  }
  std::optional<SysTime> wake;
  auto wakeAt = [&wake](SysTime t) { wake = std::min(wake.value_or(t), t); };

  for (const auto& channel : window_.channels()) {
    if (!channel_providers_.count(channel)) {
      // No provider serves this channel any more (config changed): fail over now.
      while (auto job = window_.popDue(channel, now)) failWithoutProvider(*job);
      if (auto due = window_.earliestDue(channel)) wakeAt(*due);
      continue;
    }
    while (true) {
      auto due = window_.earliestDue(channel);
      if (!due) break;
      if (*due > now) {
        wakeAt(*due);
        break;
      }
      std::optional<SteadyTime> unblock_at;
      auto job = window_.popDue(channel, now);
      if (!job) break;
      ProviderState* provider = pickProvider(channel, steady_now, unblock_at, job->id);
      if (!provider) {
        window_.offer(*job);  // back in place; a completion or the timer pumps again
        if (unblock_at) wakeAt(now + std::chrono::duration_cast<Millis>(*unblock_at - steady_now));
        break;
      }
      if (provider->rate > 0) provider->tokens -= 1.0;
      startAttempt(*job, provider);
    }
  }
  refill();
  armTimer(wake);
}

void Dispatcher::refill() {
  if (!window_.needsRefill()) return;
  window_.beginRefill();
  const std::size_t limit = window_.refillLimit();
  store_.loadDue(
      window_.refillAfter(), limit, [this, limit](Result<std::vector<store::DueJob>> loaded) {
        if (!loaded) {
          spdlog::warn("dispatch: could not load due messages: {}", loaded.error().message);
          window_.abortRefill();
          // Try again shortly rather than spinning on a failing store.
          armTimer(clock_.now() + Millis(1000));
          return;
        }
        window_.finishRefill(loaded.value(), limit);
        pump();
      });
}

void Dispatcher::armTimer(std::optional<SysTime> wake) {
  if (!wake) {
    if (timer_wake_) timer_.cancel();
    timer_wake_.reset();
    return;
  }
  if (timer_wake_ && *timer_wake_ <= *wake && *timer_wake_ > clock_.now()) return;
  timer_wake_ = wake;
  auto delay = std::max(Millis(0), *wake - clock_.now());
  timer_.expires_after(delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    timer_wake_.reset();
    pump();
  });
}

void Dispatcher::startAttempt(const store::DueJob& job, ProviderState* provider) {
  ++in_flight_;
  ++provider->in_flight;
  store::ClaimRequest claim{job.id, provider->name, clock_.now(), retry_.max_age, job.due};
  store_.claim(std::move(claim), [this, provider, job](Result<store::ClaimResult> claimed) {
    if (!claimed) {
      spdlog::warn("dispatch: claim of {} failed: {}; pausing claims for a second", job.id,
                   claimed.error().message);
      --provider->in_flight;
      // The message is still pending on disk; reload the window from the store. A store that
      // keeps failing must not be asked again in a tight loop.
      window_.invalidate();
      claims_paused_until_ = steady_clock::now() + std::chrono::seconds(1);
      attemptDone();
      return;
    }
    if (claimed->outcome != store::ClaimOutcome::Claimed) {
      if (claimed->outcome == store::ClaimOutcome::Expired) {
        ++stats_.expired;
        ++outcomes_[{job.channel, provider->name, "expired", "before_attempt"}];
        spdlog::info("message {} expired before delivery", job.id);
      }
      --provider->in_flight;
      attemptDone();
      return;
    }
    ++stats_.claimed;
    ++provider->attempts;
    withCredential(provider, [this, provider,
                              claimed = std::move(claimed.value())](Status credential) {
      const store::MessageRecord& message = claimed.message;
      const int attempt = claimed.attempt_number;
      if (!credential) {
        // A token endpoint that is down (unavailable) is transient; a refused credential is
        // the operator's to fix. Either way the provider pauses, so the others of the channel
        // take over and token requests are not repeated per message.
        const bool transient = credential.error().code == "credential_unavailable";
        channels::Verdict verdict;
        verdict.disposition =
            transient ? channels::Disposition::Retry : channels::Disposition::Misconfigured;
        verdict.pause_provider = true;
        verdict.provider_code = credential.error().code;
        verdict.detail = credential.error().message;
        return complete(message, attempt, provider, verdict);
      }
      auto payload = payloadFromJson(message.payload_json);
      Result<channels::OutboundMessage> outbound =
          payload ? buildOutbound(*payload, templates_, message, message.channel(), attempt,
                                  clock_.now())
                  : Result<channels::OutboundMessage>(payload.error());
      if (outbound && provider->credential) outbound->credential = provider->credential->value;
      Result<channels::TransportRequest> request =
          outbound ? provider->provider->encode(*outbound)
                   : Result<channels::TransportRequest>(outbound.error());
      if (!request) {
        channels::Verdict verdict;
        verdict.disposition = channels::Disposition::Rejected;
        verdict.provider_code = request.error().code;
        verdict.detail = request.error().message;
        if (request.error().code == "wrong_platform") {
          // Not this provider's kind of target (an APNs token offered to FCM): another provider
          // of the channel may take it, at once and without counting this try.
          auto& excluded = wrong_provider_[message.id];
          excluded.insert(provider->name);
          const auto& names = channel_providers_[message.channel()];
          bool another = std::any_of(names.begin(), names.end(), [&](const std::string& name) {
            return !excluded.count(name) && providers_.count(name);
          });
          if (another) return completeWrongProvider(message, attempt, provider, verdict);
        }
        wrong_provider_.erase(message.id);
        return complete(message, attempt, provider, verdict);
      }
      request->timeout = provider->timeout;
      auto send = [this, provider, message, attempt, request = std::move(request.value()),
                   outbound = std::move(outbound.value())]() mutable {
        transport_.submit(std::move(request), [this, provider, message, attempt,
                                               outbound = std::move(outbound)](
                                                  transport::Outcome outcome) {
          releaseSendSlot(provider);
          channels::Verdict verdict;
          if (std::holds_alternative<channels::TransportReply>(outcome)) {
            verdict = provider->provider->interpret(outbound,
                                                    std::get<channels::TransportReply>(outcome));
          } else if (stopping_) {
            // Cut off by shutdown, not by the provider: retried after restart.
            verdict.disposition = channels::Disposition::Retry;
            verdict.provider_code = "shutdown";
            verdict.detail = std::get<channels::TransportFailure>(outcome).detail;
          } else {
            const auto& failure = std::get<channels::TransportFailure>(outcome);
            verdict = provider->provider->interpretFailure(outbound, failure);
            // A destination we cannot reach at all is down for every message: pause the
            // provider (circuit breaker) so the others of the channel take over.
            const bool unreachable = !failure.request_may_have_been_sent &&
                                     (failure.kind == channels::TransportErrorKind::Resolve ||
                                      failure.kind == channels::TransportErrorKind::Connect ||
                                      failure.kind == channels::TransportErrorKind::Tls);
            if (unreachable && verdict.disposition == channels::Disposition::Retry) {
              verdict.pause_provider = true;
            }
          }
          if (!message.customer_id.empty()) {
            if (verdict.disposition == channels::Disposition::RecipientDead && on_recipient_dead_) {
              on_recipient_dead_(message.customer_id, outbound.channel, outbound.recipient);
            }
            if (on_attempt_ && verdict.provider_code != "shutdown") {
              on_attempt_(message.customer_id, outbound.channel,
                          verdict.disposition == channels::Disposition::Accepted);
            }
          }
          complete(message, attempt, provider, verdict);
        });
      };
      sendWhenSlotFree(provider, std::move(send));
    });
  });
}

void Dispatcher::sendWhenSlotFree(ProviderState* provider, std::function<void()> send) {
  if (provider->sending < provider->max_concurrency) {
    ++provider->sending;
    return send();
  }
  provider->waiting_to_send.push_back(std::move(send));
}

void Dispatcher::releaseSendSlot(ProviderState* provider) {
  --provider->sending;
  if (provider->waiting_to_send.empty()) return;
  auto next = std::move(provider->waiting_to_send.front());
  provider->waiting_to_send.pop_front();
  ++provider->sending;
  next();  // the transport posts its completions, so this is not inside libcurl
}

void Dispatcher::withCredential(ProviderState* provider, std::function<void(Status)> then) {
  const channels::CredentialSource* source = provider->provider->credentialSource();
  const std::int64_t now = toUnixMillis(clock_.now());
  if (!source || (provider->credential && now < source->refreshAtUnixMs(*provider->credential))) {
    return then(Ok{});
  }
  if (source->mintsLocally()) {
    auto minted = source->mint(now);
    if (!minted) return then(minted.error());
    provider->credential = minted.value();
    return then(Ok{});
  }
  provider->waiting_for_credential.push_back(std::move(then));
  if (provider->fetching_credential) return;
  auto request = source->encodeTokenRequest(now);
  auto finish = [provider](Status status) {
    provider->fetching_credential = false;
    auto waiting = std::move(provider->waiting_for_credential);
    provider->waiting_for_credential.clear();
    for (auto& w : waiting) w(status);
  };
  if (!request) return finish(request.error());
  provider->fetching_credential = true;
  request->timeout = provider->timeout;
  transport_.submit(
      std::move(request.value()), [this, provider, source, finish](transport::Outcome outcome) {
        if (!std::holds_alternative<channels::TransportReply>(outcome)) {
          return finish(makeError(
              "credential_unavailable",
              "token request failed: " + std::get<channels::TransportFailure>(outcome).detail));
        }
        auto credential = source->interpretTokenReply(std::get<channels::TransportReply>(outcome),
                                                      toUnixMillis(clock_.now()));
        if (!credential) return finish(credential.error());
        provider->credential = credential.value();
        spdlog::info("provider {}: credential refreshed", provider->name);
        finish(Ok{});
      });
}

void Dispatcher::failWithoutProvider(const store::DueJob& job) {
  ++in_flight_;
  store::ClaimRequest claim{job.id, "none", clock_.now(), retry_.max_age, job.due};
  store_.claim(std::move(claim), [this, job](Result<store::ClaimResult> claimed) {
    if (!claimed || claimed->outcome != store::ClaimOutcome::Claimed) {
      attemptDone();
      return;
    }
    channels::Verdict verdict;
    verdict.disposition = channels::Disposition::Rejected;
    verdict.provider_code = "no_provider";
    verdict.detail = "no provider is configured for channel " + job.channel;
    complete(claimed->message, claimed->attempt_number, nullptr, verdict);
  });
}

void Dispatcher::completeWrongProvider(const store::MessageRecord& message, int attempt_number,
                                       ProviderState* provider, const channels::Verdict& verdict) {
  --provider->in_flight;
  store::AttemptFinish finish;
  finish.id = message.id;
  finish.attempt_number = attempt_number;
  finish.finished_at = clock_.now();
  finish.outcome = channels::toString(channels::Disposition::Rejected);
  finish.code = verdict.provider_code;
  finish.detail = verdict.detail;
  finish.new_status = store::MessageStatus::Queued;
  finish.channel_index = message.channel_index;
  finish.channel_attempts = std::max(0, message.channel_attempts - 1);
  finish.next_attempt_at = clock_.now();
  finish.reason = provider->name + " cannot carry this target; trying the next provider";
  spdlog::debug("message {} attempt {} via {} ({}): {}", message.id, attempt_number, provider->name,
                message.channel(), finish.reason);
  recordFinish(std::move(finish), message.channel());
  pump();
}

void Dispatcher::complete(const store::MessageRecord& message, int attempt_number,
                          ProviderState* provider, const channels::Verdict& verdict) {
  wrong_provider_.erase(message.id);
  const std::string provider_name = provider ? provider->name : "none";
  bool failover_ready = false;
  if (provider) {
    --provider->in_flight;
    if (verdict.disposition == channels::Disposition::Accepted) {
      ++provider->accepted;
      provider->consecutive_pauses = 0;
    }
    if (verdict.refresh_credential) provider->credential.reset();
    if (verdict.pause_provider) {
      Millis pause = verdict.retry_after ? std::chrono::duration_cast<Millis>(*verdict.retry_after)
                                         : throttlePause(provider->consecutive_pauses);
      if (verdict.disposition == channels::Disposition::Misconfigured) {
        pause = std::max(pause, Millis(60'000));
      }
      ++provider->consecutive_pauses;
      ++provider->pauses;
      provider->paused_until = std::max(provider->paused_until, steady_clock::now() + pause);
      spdlog::warn("provider {} paused for {}: {}", provider->name, formatDuration(pause),
                   verdict.detail.empty() ? verdict.provider_code : verdict.detail);
      failover_ready = hasReadyAlternative(message.channel(), provider, steady_clock::now());
    }
  }
  store::AttemptFinish finish = decideTransition(message, attempt_number, provider_name, verdict,
                                                 clock_.now(), retry_, random_, failover_ready);
  switch (finish.new_status) {
    case store::MessageStatus::Sent:
      ++stats_.sent;
      break;
    case store::MessageStatus::Failed:
      ++stats_.failed;
      break;
    case store::MessageStatus::Expired:
      ++stats_.expired;
      break;
    case store::MessageStatus::Queued:
      if (finish.channel_index != message.channel_index) {
        ++stats_.fell_back;
      } else {
        ++stats_.retried;
      }
      break;
    default:
      break;
  }
  {
    const char* outcome = store::toString(finish.new_status);
    if (finish.new_status == store::MessageStatus::Queued) {
      outcome = finish.channel_index != message.channel_index ? "fell_back" : "retried";
    }
    ++outcomes_[{message.channel(), provider_name, outcome,
                 channels::toString(verdict.disposition)}];
  }
  // One info line when the message reaches a final state; every other attempt at debug.
  spdlog::log(store::isFinal(finish.new_status) ? spdlog::level::info : spdlog::level::debug,
              "message {} attempt {} via {} ({}): {} -> {}{}{}", message.id, attempt_number,
              provider_name, message.channel(), channels::toString(verdict.disposition),
              store::toString(finish.new_status), finish.reason.empty() ? "" : ": ", finish.reason);
  std::string channel_after;
  if (finish.channel_index >= 0 && finish.channel_index < static_cast<int>(message.plan.size())) {
    channel_after = message.plan[finish.channel_index];
  }
  recordFinish(std::move(finish), std::move(channel_after));
  pump();
}

void Dispatcher::recordFinish(store::AttemptFinish finish, std::string channel_after) {
  store_.finishAttempt(finish, [this, finish, channel_after](Result<Ok> written) {
    if (!written) {
      if (store_.failed()) {
        // The process is about to exit; recovery will retry this message after restart.
        attemptDone();
        return;
      }
      // Transient (e.g. disk full): keep the outcome in memory and write it again shortly.
      spdlog::warn("dispatch: recording attempt of {} failed ({}); retrying", finish.id,
                   written.error().message);
      auto retry = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::seconds(1));
      retry->async_wait([this, retry, finish, channel_after](const boost::system::error_code&) {
        recordFinish(finish, channel_after);
      });
      return;
    }
    if (finish.next_attempt_at) onPending({*finish.next_attempt_at, finish.id, channel_after});
    attemptDone();
  });
}

void Dispatcher::attemptDone() {
  --in_flight_;
  if (!retired_.empty()) dropIdleRetired();
  if (stopping_) {
    if (in_flight_ == 0 && drained_) boost::asio::post(io_, std::exchange(drained_, nullptr));
    return;
  }
  pump();
}

}  // namespace omnigate::dispatch
