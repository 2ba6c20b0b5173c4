#pragma once

// GET /metrics beyond the API's own counters: dispatch, providers, the queue as the store holds
// it, group commits and the customer cache, in the Prometheus text format (version 0.0.4).

#include "daemon/api/admission.h"
#include "daemon/api/handlers.h"
#include "daemon/api/http_server.h"
#include "daemon/common/clock.h"
#include "daemon/dispatch/dispatcher.h"
#include "daemon/store/store.h"

namespace omnigate::app {

// Everything referenced must outlive the source (they all live as long as the daemon's run).
api::ApiHandlers::MetricsSource makeMetricsSource(
    const dispatch::Dispatcher& dispatcher, const api::Admission& admission, store::Store& store,
    const store::RecoveryReport& recovery, const Clock& clock, const api::HttpServer& server);

// A Prometheus label value with backslash, double quote and newline escaped.
std::string escapeLabel(std::string_view value);

}  // namespace omnigate::app
