#include "daemon/app/metrics.h"

#include <spdlog/fmt/fmt.h>

#include <chrono>
#include <string>

namespace omnigate::app {
namespace {

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  // `labels` is the inside of the braces, already escaped; empty for none.
  template <class Value>
  void sample(std::string_view name, const std::string& labels, Value value) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + fmt::format("{}", value) + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
  return std::string(name) + "=\"" + escapeLabel(value) + "\"";
}

// A histogram from per-bucket counts (the last one is +Inf), written cumulatively.
template <std::size_t N, std::size_t M>
void histogram(Writer& w, const char* name, const std::array<double, N>& bounds,
               const std::array<std::uint64_t, M>& buckets, double sum) {
  static_assert(M == N + 1);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < M; ++i) {
    cumulative += buckets[i];
    w.sample(std::string(name) + "_bucket",
             label("le", i < N ? fmt::format("{}", bounds[i]) : std::string("+Inf")), cumulative);
  }
  w.sample(std::string(name) + "_sum", "", sum);
  w.sample(std::string(name) + "_count", "", cumulative);
}

std::string render(const dispatch::Dispatcher& dispatcher, const api::Admission& admission,
                   const store::StoreStats& store_stats, const store::QueueSnapshot* queue,
                   const store::RecoveryReport& recovery, SysTime now,
                   const api::HttpServer& server) {
  Writer w;
  w.family("omnigate_http_refusals_total", "counter",
           "Requests the HTTP layer answered itself before routing, by status and error code.");
  for (const auto& [key, count] : server.refusals()) {
    w.sample("omnigate_http_refusals_total",
             label("code", std::to_string(key.first)) + "," + label("reason", key.second), count);
  }
  const auto& stats = dispatcher.stats();
  w.family("omnigate_dispatch_outcomes_total", "counter",
           "Attempt outcomes as the dispatcher recorded them.");
  for (const auto& [outcome, count] : {std::pair<const char*, std::uint64_t>{"sent", stats.sent},
                                       {"retried", stats.retried},
                                       {"failed", stats.failed},
                                       {"expired", stats.expired},
                                       {"fell_back", stats.fell_back}}) {
    w.sample("omnigate_dispatch_outcomes_total", label("outcome", outcome), count);
  }
  w.family("omnigate_attempts_total", "counter",
           "Attempts by channel, provider, what became of the message (sent, retried, "
           "fell_back, failed, expired) and the provider's disposition as reason.");
  for (const auto& [key, count] : dispatcher.outcomes()) {
    const auto& [channel, provider, outcome, reason] = key;
    w.sample("omnigate_attempts_total",
             label("channel", channel) + "," + label("provider", provider) + "," +
                 label("outcome", outcome) + "," + label("reason", reason),
             count);
  }
  w.family("omnigate_dispatch_in_flight", "gauge", "Claims and attempts not finished yet.");
  w.sample("omnigate_dispatch_in_flight", "", dispatcher.inFlight());
  w.family("omnigate_dispatch_window", "gauge", "Due jobs held in memory.");
  w.sample("omnigate_dispatch_window", "", dispatcher.windowSize());

  const auto steady = std::chrono::steady_clock::now();
  const auto& providers = dispatcher.providers();
  auto per_provider = [&](const char* name, const char* type, const char* help, auto value) {
    w.family(name, type, help);
    for (const auto& [provider, p] : providers)
      w.sample(name, label("provider", provider), value(*p));
  };
  per_provider("omnigate_provider_attempts_total", "counter", "Attempts handed to each provider.",
               [](const dispatch::ProviderState& p) { return p.attempts; });
  per_provider("omnigate_provider_accepted_total", "counter", "Messages each provider accepted.",
               [](const dispatch::ProviderState& p) { return p.accepted; });
  per_provider("omnigate_provider_pauses_total", "counter", "Times each provider was paused.",
               [](const dispatch::ProviderState& p) { return p.pauses; });
  per_provider(
      "omnigate_provider_paused", "gauge", "1 while the provider is paused.",
      [steady](const dispatch::ProviderState& p) { return p.paused_until > steady ? 1 : 0; });
  per_provider("omnigate_provider_in_flight", "gauge", "Requests in flight per provider.",
               [](const dispatch::ProviderState& p) { return p.sending; });

  if (queue) {
    w.family("omnigate_queue_messages", "gauge",
             "Stored messages by status (counted at most about once a second).");
    for (std::size_t i = 0; i < queue->by_status.size(); ++i) {
      w.sample("omnigate_queue_messages",
               label("status", store::toString(static_cast<store::MessageStatus>(i))),
               queue->by_status[i]);
    }
    w.family("omnigate_queue_oldest_due_age_seconds", "gauge",
             "How long the longest-waiting due message has been due (0: none is due).");
    double age = 0;
    if (queue->oldest_due && *queue->oldest_due < now) {
      age = std::chrono::duration<double>(now - *queue->oldest_due).count();
    }
    w.sample("omnigate_queue_oldest_due_age_seconds", "", age);
  }

  w.family("omnigate_store_commits_total", "counter", "SQLite transactions committed.");
  w.sample("omnigate_store_commits_total", "", store_stats.commits);
  w.family("omnigate_store_operations_total", "counter", "Store operations (group-committed).");
  w.sample("omnigate_store_operations_total", "", store_stats.operations);
  w.family("omnigate_store_max_batch", "gauge", "Most operations seen in one commit.");
  w.sample("omnigate_store_max_batch", "", store_stats.max_batch_seen);
  w.family("omnigate_store_commit_seconds", "histogram",
           "Time from BEGIN of each group commit to the end of the fdatasync that made it "
           "durable.");
  histogram(w, "omnigate_store_commit_seconds", store::StoreStats::kLatencyBounds,
            store_stats.latency_buckets, store_stats.latency_sum_seconds);
  w.family("omnigate_store_commit_batch_size", "histogram", "Operations per group commit.");
  histogram(w, "omnigate_store_commit_batch_size", store::StoreStats::kBatchBounds,
            store_stats.batch_buckets, static_cast<double>(store_stats.operations));
  w.family("omnigate_store_wal_bytes", "gauge", "Size of the SQLite write-ahead log file.");
  w.sample("omnigate_store_wal_bytes", "", store_stats.wal_bytes);
  w.family("omnigate_customers_cached", "gauge", "Customers held in memory for admission.");
  w.sample("omnigate_customers_cached", "", admission.cached());
  w.family("omnigate_recovery_interrupted_attempts", "gauge",
           "Attempts in flight when the previous process died, retried after this start: each "
           "may reach its recipient twice (the only duplicate window).");
  w.sample("omnigate_recovery_interrupted_attempts", "", recovery.interrupted);
  return w.take();
}

}  // namespace

std::string escapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

api::ApiHandlers::MetricsSource makeMetricsSource(
    const dispatch::Dispatcher& dispatcher, const api::Admission& admission, store::Store& store,
    const store::RecoveryReport& recovery, const Clock& clock, const api::HttpServer& server) {
  return [&dispatcher, &admission, &store, &recovery, &clock,
          &server](std::function<void(std::string)> done) {
    // Rendered when the snapshot arrives, so the store's counters are read after it: the
    // commit histogram and the commit counter come from one read and always agree.
    store.queueSnapshot([&, done = std::move(done)](Result<store::QueueSnapshot> queue) {
      done(render(dispatcher, admission, store.stats(), queue ? &queue.value() : nullptr, recovery,
                  clock.now(), server));
    });
  };
}

}  // namespace omnigate::app
