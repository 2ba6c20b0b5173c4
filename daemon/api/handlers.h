#pragma once

// The /v1 API and the health endpoints: authentication, routing, and the mapping of every
// outcome to exactly one HTTP answer.

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "daemon/api/admission.h"
#include "daemon/api/http_server.h"
#include "daemon/api/message_request.h"
#include "daemon/common/clock.h"
#include "daemon/common/ulid.h"
#include "daemon/config/config.h"
#include "daemon/dispatch/dispatcher.h"
#include "daemon/store/store.h"
#include "templates/template_set.h"

namespace omnigate::api {

// SHA-256 of `token`, compared against every configured hash in constant time. Returns the
// matching token's name, or nullopt.
std::optional<std::string> authenticate(std::string_view authorization_header,
                                        const std::vector<config::ApiToken>& tokens);

class ApiHandlers {
 public:
  // `templates` is read at every request, so the owner may swap in a reloaded set.
  ApiHandlers(std::shared_ptr<const config::Config> config, const templates::TemplateSet& templates,
              store::Store& store, dispatch::Dispatcher& dispatcher, Admission& admission,
              const Clock& clock, UlidGenerator& ids);

  void handle(Request&& request, Respond respond);
  void setReady(bool ready) { ready_ = ready; }
  // The body of GET /metrics beyond the API's own counters (Prometheus text format), handed to
  // the callback once ready (the store's counts come from its thread).
  using MetricsSource = std::function<void(std::function<void(std::string)>)>;
  void setMetricsSource(MetricsSource source) { metrics_ = std::move(source); }
  void setDraining(bool draining) { draining_ = draining; }
  // A reloaded configuration: every request that starts after this call sees it whole (all of
  // a request's synchronous decisions read one config; nothing keeps a reference across awaits).
  void reconfigure(std::shared_ptr<const config::Config> config);

 private:
  struct Intake;
  void postMessage(const Request& request, const std::string& token_name, bool dry_run,
                   Respond respond);
  void admitAnonymous(const std::shared_ptr<Intake>& intake);
  void admitForCustomer(const std::string& customer_id, const std::shared_ptr<Intake>& intake);
  store::NewMessage newMessage(const Intake& intake, SysTime now);
  // Stores the message (or answers a dry run) and replies; `committed(created)` runs after.
  void submitMessage(const std::shared_ptr<Intake>& intake, store::NewMessage message,
                     std::function<void(bool created)> committed);
  void customers(const Request& request, const std::string& rest, Respond respond);
  void putCustomer(const Request& request, const std::string& id, Respond respond);
  void getCustomer(const std::string& id, Respond respond);
  void deleteCustomer(const std::string& id, Respond respond);
  void mergeCustomer(const Request& request, const std::string& id, Respond respond);
  void customerEvent(const Request& request, const std::string& id, Respond respond);
  void customerMessages(const std::string& id, Respond respond);
  void getMessage(const std::string& id, Respond respond);
  void metrics(Respond respond);
  void stats(Respond respond);
  void retryMessage(const std::string& id, Respond respond);
  void renderTemplate(const Request& request, const std::string& id, Respond respond);
  void receiveCallback(const Request& request, const std::string& provider, Respond respond);
  void cancelMessage(const std::string& id, Respond respond);

  std::shared_ptr<const config::Config> config_;
  const templates::TemplateSet& templates_;
  store::Store& store_;
  dispatch::Dispatcher& dispatcher_;
  Admission& admission_;
  const Clock& clock_;
  UlidGenerator& ids_;
  std::vector<std::string> configured_channels_;
  MetricsSource metrics_;
  std::map<std::string, std::uint64_t> admitted_;             // messages stored, by initial status
  std::uint64_t replayed_ = 0;                                // idempotent replays answered
  std::map<std::string, std::uint64_t> accepted_by_channel_;  // queued or scheduled
  std::map<std::string, std::uint64_t> suppressed_by_reason_;
  std::uint64_t retried_ = 0;  // POST /v1/messages/{id}/retry that requeued a message
  // Answers by (route template, method, status code).
  // (route template, method, status) → answers. Route templates are static strings.
  std::map<std::tuple<std::string_view, boost::beast::http::verb, unsigned>, std::uint64_t>
      http_requests_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool ready_ = false;
  bool draining_ = false;
};

}  // namespace omnigate::api
