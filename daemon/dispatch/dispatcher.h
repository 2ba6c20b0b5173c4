#pragma once

// Moves pending messages to providers. Runs entirely on the io_context thread: it takes due jobs
// from the DueWindow, respects each provider's pause, concurrency limit and rate, claims the job
// in the store (where cancellation and expiry are checked), encodes it with the provider, hands
// it to the transport, and records the Verdict as a store transition.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "channels/provider.h"
#include "daemon/common/clock.h"
#include "daemon/config/config.h"
#include "daemon/dispatch/due_window.h"
#include "daemon/store/store.h"
#include "daemon/transport/transport.h"
#include "templates/template_set.h"

namespace omnigate::dispatch {

struct ProviderState {
  std::string name;
  config::ProviderSettings settings;  // as configured; a reload compares them
  channels::ProviderPtr provider;
  int max_concurrency = 8;
  double rate = 0;  // per second, 0 = unlimited
  Millis timeout{30'000};

  // Claimed attempts not finished yet: up to 1.5 × max_concurrency, so the store's commit of a
  // claim overlaps earlier sends instead of holding a send slot (claim ahead).
  int in_flight = 0;
  // Requests handed to the transport and not answered yet: at most max_concurrency.
  int sending = 0;
  // Claimed attempts waiting for a send slot, in claim order.
  std::deque<std::function<void()>> waiting_to_send;
  std::chrono::steady_clock::time_point paused_until{};
  int consecutive_pauses = 0;
  double tokens = 0;
  std::chrono::steady_clock::time_point tokens_at{};
  // The provider's short-lived credential (OAuth2 access token, APNs JWT), when it has a source.
  std::optional<channels::Credential> credential;
  bool fetching_credential = false;
  std::vector<std::function<void(Status)>> waiting_for_credential;
  // Counters for /metrics and /v1/stats.
  std::uint64_t attempts = 0;
  std::uint64_t accepted = 0;
  std::uint64_t pauses = 0;
};

struct DispatcherStats {
  std::uint64_t claimed = 0;
  std::uint64_t sent = 0;
  std::uint64_t retried = 0;
  std::uint64_t failed = 0;
  std::uint64_t expired = 0;
  std::uint64_t fell_back = 0;
};

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, store::Store& store, transport::Transport& transport,
             const Clock& clock, Random& random, const config::Config& config,
             const templates::TemplateSet& templates,
             std::map<std::string, std::unique_ptr<ProviderState>> providers);

  void start();
  // Adopts a reloaded configuration: retry policy, channels' provider lists and providers.
  // A provider whose settings did not change keeps running as it is (connections, credential,
  // pause); a changed or removed one finishes its attempts in flight and is then dropped, and
  // its successor starts fresh. `fresh` holds a state for every provider of `config`.
  void reconfigure(const config::Config& config,
                   std::map<std::string, std::unique_ptr<ProviderState>> fresh);
  // A message became pending (accepted, or moved by someone other than the dispatcher).
  void onPending(const store::DueJob& job);
  // Stops taking new work; `drained` runs once nothing is in flight.
  void stop(std::function<void()> drained);

  // Called when a provider says a customer's contact is gone (dead push token, unknown mailbox),
  // so later decisions for that customer stop choosing it.
  using RecipientDeadHook = std::function<void(
      const std::string& customer_id, const std::string& channel, const std::string& recipient)>;
  void onRecipientDead(RecipientDeadHook hook) { on_recipient_dead_ = std::move(hook); }
  // Called after every attempt of a customer's message that reached a provider.
  using AttemptHook = std::function<void(const std::string& customer_id, const std::string& channel,
                                         bool accepted)>;
  void onAttempt(AttemptHook hook) { on_attempt_ = std::move(hook); }

  int inFlight() const { return in_flight_; }
  std::size_t windowSize() const { return window_.size(); }
  const DispatcherStats& stats() const { return stats_; }
  // Attempt outcomes for GET /metrics by (channel, provider, outcome, reason): outcome is what
  // became of the message (sent, retried, fell_back, failed, expired), reason the provider's
  // disposition (accepted, retry, rejected, ...), or "before_attempt" for a claim that expired.
  using OutcomeKey = std::tuple<std::string, std::string, std::string, std::string>;
  const std::map<OutcomeKey, std::uint64_t>& outcomes() const { return outcomes_; }
  const std::map<std::string, std::unique_ptr<ProviderState>>& providers() const {
    return providers_;
  }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  void pump();
  void refill();
  void armTimer(std::optional<SysTime> wake);
  // `job_id`'s providers that said they cannot carry its target are skipped.
  ProviderState* pickProvider(const std::string& channel, SteadyTime now,
                              std::optional<SteadyTime>& unblock_at,
                              const std::string& job_id = {});
  // Another provider of `channel` than `except` that is not paused.
  bool hasReadyAlternative(const std::string& channel, const ProviderState* except,
                           SteadyTime now) const;
  void startAttempt(const store::DueJob& job, ProviderState* provider);
  // Runs `send` now if the provider has a free send slot, else when one frees up.
  void sendWhenSlotFree(ProviderState* provider, std::function<void()> send);
  // A request of `provider` was answered: its slot goes to the next claimed attempt waiting.
  void releaseSendSlot(ProviderState* provider);
  void failWithoutProvider(const store::DueJob& job);
  // Runs `then` once the provider holds a credential that is not due for refresh (at once for
  // providers without a credential source); the daemon performs token requests itself.
  void withCredential(ProviderState* provider, std::function<void(Status)> then);
  void complete(const store::MessageRecord& message, int attempt_number, ProviderState* provider,
                const channels::Verdict& verdict);
  void completeWrongProvider(const store::MessageRecord& message, int attempt_number,
                             ProviderState* provider, const channels::Verdict& verdict);
  void recordFinish(store::AttemptFinish finish, std::string channel_after);
  void attemptDone();
  void dropIdleRetired();

  boost::asio::io_context& io_;
  store::Store& store_;
  transport::Transport& transport_;
  const Clock& clock_;
  Random& random_;
  const templates::TemplateSet& templates_;  // read at each attempt: the owner may swap it
  config::RetryConfig retry_;
  std::map<std::string, std::vector<std::string>> channel_providers_;
  std::map<std::string, std::unique_ptr<ProviderState>> providers_;
  // Providers replaced or removed by a reload that still had attempts or token requests running.
  std::vector<std::unique_ptr<ProviderState>> retired_;
  DueWindow window_;
  boost::asio::steady_timer timer_;
  std::optional<SysTime> timer_wake_;
  bool pump_posted_ = false;
  // After a failed claim (a store error), no claims until then.
  std::chrono::steady_clock::time_point claims_paused_until_{};
  bool stopping_ = false;
  int in_flight_ = 0;  // claims, attempts and their store writes not yet finished
  std::function<void()> drained_;
  DispatcherStats stats_;
  std::map<OutcomeKey, std::uint64_t> outcomes_;
  RecipientDeadHook on_recipient_dead_;
  // Message id → providers of its channel that refused its target as the wrong kind (an APNs
  // token offered to FCM). Cleared when the message's attempt is over; lost on restart, which
  // costs at most one more uncounted try.
  std::unordered_map<std::string, std::set<std::string>> wrong_provider_;
  AttemptHook on_attempt_;
};

}  // namespace omnigate::dispatch
