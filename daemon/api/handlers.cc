#include "daemon/api/handlers.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "daemon/api/customer_json.h"
#include "daemon/api/message_request.h"
#include "daemon/common/version.h"

namespace omnigate::api {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

Response jsonTextResponse(unsigned status, std::string text) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(text);
  res.prepare_payload();
  return res;
}

Response jsonResponse(unsigned status, const json::value& body) {
  return jsonTextResponse(status, json::serialize(body));
}

// `body` with one more member whose value is JSON text already (a stored decision trace, written
// by json::serialize): spliced in, not parsed and serialized again for every accepted message.
Response jsonResponseWith(unsigned status, const json::object& body, std::string_view key,
                          std::string_view json_text) {
  std::string text = json::serialize(body);
  text.pop_back();  // the closing brace
  if (!body.empty()) text += ',';
  text += json::serialize(json::string_view(key.data(), key.size()));
  text += ':';
  text.append(json_text.empty() ? std::string_view("[]") : json_text);
  text += '}';
  return jsonTextResponse(status, std::move(text));
}

Response unavailable(std::string_view code, std::string_view message, int retry_after_s) {
  auto res = errorResponse(503, code, message);
  res.set(http::field::retry_after, std::to_string(retry_after_s));
  return res;
}

Response storeFailure(const Error& error) {
  if (error.code == "storage_full") {
    return unavailable("storage_full", "the message store is out of space; nothing was accepted",
                       5);
  }
  if (error.code == "shutting_down") {
    return unavailable("shutting_down", "omnigated is shutting down", 2);
  }
  return unavailable("storage_error", "the message store failed: " + error.message, 5);
}

// Every body the API takes is JSON; anything else is 415 before it is parsed.
std::optional<Response> refuseNonJson(const Request& request) {
  auto content_type = request[http::field::content_type];
  if (content_type.substr(0, content_type.find(';')) == "application/json") return std::nullopt;
  return errorResponse(415, "unsupported_media_type",
                       "the body must be JSON (Content-Type: application/json)");
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

json::value decisionToJson(const std::string& decision_json) {
  boost::system::error_code ec;
  auto value = json::parse(decision_json, ec);
  return ec ? json::value(json::array()) : value;
}

json::array planToJson(const std::vector<std::string>& plan) {
  json::array out;
  for (const auto& c : plan) out.emplace_back(c);
  return out;
}

json::object messageToJson(const store::MessageRecord& m) {
  json::object out{{"id", m.id},
                   {"status", store::toString(m.status)},
                   {"channel", m.channel()},
                   {"plan", planToJson(m.plan)},
                   {"category", m.category},
                   {"priority", m.priority},
                   {"created_at", formatRfc3339(m.created_at)},
                   {"updated_at", formatRfc3339(m.updated_at)},
                   {"decision", decisionToJson(m.decision_json)}};
  if (!m.customer_id.empty()) out["customer_id"] = m.customer_id;
  if (!m.reason.empty()) out["reason"] = m.reason;
  if (m.send_at) out["send_at"] = formatRfc3339(*m.send_at);
  if (m.expires_at) out["expires_at"] = formatRfc3339(*m.expires_at);
  if (m.next_attempt_at) out["next_attempt_at"] = formatRfc3339(*m.next_attempt_at);
  json::array attempts;
  for (const auto& a : m.attempt_log) {
    json::object attempt{{"n", a.n},
                         {"channel", a.channel},
                         {"provider", a.provider},
                         {"started_at", formatRfc3339(a.started_at)},
                         {"outcome", a.outcome},
                         {"code", a.code},
                         {"detail", a.detail}};
    if (a.finished_at) attempt["finished_at"] = formatRfc3339(*a.finished_at);
    if (!a.provider_message_id.empty()) attempt["provider_message_id"] = a.provider_message_id;
    if (a.segments > 0) attempt["segments"] = a.segments;
    attempts.push_back(std::move(attempt));
  }
  out["attempts"] = std::move(attempts);
  if (!m.receipt_log.empty()) {
    json::array receipts;
    for (const auto& r : m.receipt_log) {
      json::object receipt{{"provider", r.provider},
                           {"status", store::toString(r.status)},
                           {"received_at", formatRfc3339(r.received_at)},
                           {"effect", r.effect}};
      if (!r.provider_message_id.empty()) receipt["provider_message_id"] = r.provider_message_id;
      if (!r.code.empty()) receipt["code"] = r.code;
      if (!r.detail.empty()) receipt["detail"] = r.detail;
      receipts.push_back(std::move(receipt));
    }
    out["receipts"] = std::move(receipts);
  }
  return out;
}

// The request with object members in sorted order at every level, so that an idempotent replay
// matches however the client's JSON library happens to order keys.
void writeCanonical(const json::value& value, std::string& out) {
  if (value.is_object()) {
    const auto& object = value.as_object();
    std::vector<const json::key_value_pair*> members;
    for (const auto& member : object) members.push_back(&member);
    std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
    out += '{';
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i) out += ',';
      out += json::serialize(json::string(members[i]->key()));
      out += ':';
      writeCanonical(members[i]->value(), out);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& item : value.as_array()) {
      if (!first) out += ',';
      first = false;
      writeCanonical(item, out);
    }
    out += ']';
  } else {
    out += json::serialize(value);
  }
}

bool validIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (unsigned char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// The route a request asked for with its ids replaced by placeholders, so the requests counter
// of GET /metrics has a small, fixed set of label values.
// Static strings only: the counter key of every request is built without allocating.
std::string_view routeTemplate(std::string_view path) {
  auto starts = [path](std::string_view prefix) { return path.rfind(prefix, 0) == 0; };
  auto ends = [path](std::string_view suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (std::string_view exact : {"/healthz", "/readyz", "/metrics", "/v1/messages", "/v1/stats"}) {
    if (path == exact) return exact;
  }
  if (starts("/v1/callbacks/")) return "/v1/callbacks/{provider}";
  if (starts("/v1/messages/")) {
    return ends("/retry") ? "/v1/messages/{id}/retry" : "/v1/messages/{id}";
  }
  if (starts("/v1/customers/")) {
    if (ends("/merge")) return "/v1/customers/{id}/merge";
    if (ends("/events")) return "/v1/customers/{id}/events";
    if (ends("/messages")) return "/v1/customers/{id}/messages";
    return "/v1/customers/{id}";
  }
  if (starts("/v1/templates/") && ends("/render")) return "/v1/templates/{id}/render";
  return "other";
}

}  // namespace

std::optional<std::string> authenticate(std::string_view header,
                                        const std::vector<config::ApiToken>& tokens) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
    return std::nullopt;
  }
  auto token = header.substr(kBearer.size());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  std::optional<std::string> match;
  for (const auto& t : tokens) {  // no early exit: every token costs the same
    if (CRYPTO_memcmp(digest, t.sha256.data(), SHA256_DIGEST_LENGTH) == 0) match = t.name;
  }
  return match;
}

ApiHandlers::ApiHandlers(std::shared_ptr<const config::Config> config,
                         const templates::TemplateSet& templates, store::Store& store,
                         dispatch::Dispatcher& dispatcher, Admission& admission, const Clock& clock,
                         UlidGenerator& ids)
    : config_(std::move(config)),
      templates_(templates),
      store_(store),
      dispatcher_(dispatcher),
      admission_(admission),
      clock_(clock),
      ids_(ids) {
  reconfigure(config_);
}

void ApiHandlers::reconfigure(std::shared_ptr<const config::Config> config) {
  config_ = std::move(config);
  configured_channels_.clear();
  for (const auto& [channel, settings] : config_->channels) configured_channels_.push_back(channel);
}

void ApiHandlers::handle(Request&& request, Respond respond) {
  auto url = boost::urls::parse_origin_form(request.target());
  if (!url) return respond(errorResponse(400, "bad_request", "the request target is malformed"));
  const std::string path(url->encoded_path());
  const auto method = request.method();
  Respond counted = [this, route = routeTemplate(path), method,
                     respond = std::move(respond)](Response res) {
    ++http_requests_[{route, method, res.result_int()}];
    respond(std::move(res));
  };
  respond = std::move(counted);

  if (path == "/healthz" || path == "/readyz") {
    if (method != http::verb::get) {
      return respond(errorResponse(405, "method_not_allowed", "use GET"));
    }
    if (path == "/healthz") {
      return respond(jsonResponse(200, json::object{{"status", "ok"}}));
    }
    if (!ready_ || draining_ || store_.failed()) {
      return respond(unavailable("not_ready", draining_ ? "shutting down" : "not ready", 1));
    }
    return respond(jsonResponse(200, json::object{{"status", "ready"}}));
  }

  if (path == "/metrics") {
    if (method != http::verb::get) {
      return respond(errorResponse(405, "method_not_allowed", "use GET"));
    }
    return metrics(std::move(respond));
  }
  if (path.rfind("/v1/", 0) != 0) {
    return respond(errorResponse(404, "not_found", "no such endpoint: " + path));
  }
  // Providers cannot present our bearer token: a callback is authenticated by the provider's
  // own signature (or the secret token in the URL we gave it), checked by parseCallback.
  constexpr std::string_view kCallbacks = "/v1/callbacks/";
  if (path.rfind(kCallbacks, 0) == 0) {
    if (method != http::verb::post && method != http::verb::get) {
      return respond(errorResponse(405, "method_not_allowed", "use POST (or GET for Kannel)"));
    }
    if (draining_) return respond(unavailable("shutting_down", "omnigated is shutting down", 2));
    return receiveCallback(request, path.substr(kCallbacks.size()), std::move(respond));
  }
  auto token_name = authenticate(request[http::field::authorization], config_->tokens);
  if (!token_name) {
    auto res = errorResponse(401, "unauthorized", "a valid bearer token is required");
    res.set(http::field::www_authenticate, "Bearer");
    return respond(std::move(res));
  }
  if (draining_) return respond(unavailable("shutting_down", "omnigated is shutting down", 2));

  if (path == "/v1/stats") {
    if (method != http::verb::get) {
      return respond(errorResponse(405, "method_not_allowed", "use GET"));
    }
    return stats(std::move(respond));
  }
  constexpr std::string_view kMessages = "/v1/messages";
  if (path == kMessages) {
    if (method != http::verb::post) {
      return respond(errorResponse(405, "method_not_allowed", "use POST"));
    }
    bool dry_run = false;
    for (auto param : url->params()) {
      if (param.key == "dry_run") dry_run = param.value == "true" || param.value == "1";
    }
    return postMessage(request, *token_name, dry_run, std::move(respond));
  }
  if (path.rfind(std::string(kMessages) + "/", 0) == 0) {
    std::string id = path.substr(kMessages.size() + 1);
    constexpr std::string_view kRetry = "/retry";
    if (id.size() > kRetry.size() &&
        id.compare(id.size() - kRetry.size(), kRetry.size(), kRetry) == 0) {
      id.resize(id.size() - kRetry.size());
      if (!isUlid(id)) return respond(errorResponse(404, "not_found", "no message " + id));
      if (method != http::verb::post) {
        return respond(errorResponse(405, "method_not_allowed", "use POST"));
      }
      return retryMessage(id, std::move(respond));
    }
    if (!isUlid(id)) return respond(errorResponse(404, "not_found", "no message " + id));
    if (method == http::verb::get) return getMessage(id, std::move(respond));
    if (method == http::verb::delete_) return cancelMessage(id, std::move(respond));
    return respond(errorResponse(405, "method_not_allowed", "use GET or DELETE"));
  }
  constexpr std::string_view kCustomers = "/v1/customers/";
  if (path.rfind(kCustomers, 0) == 0) {
    std::vector<std::string> segments;
    for (auto segment : url->segments()) segments.push_back(segment);
    if (segments.size() < 3 || segments.size() > 4 || segments[2].empty()) {
      return respond(errorResponse(404, "not_found", "no such endpoint: " + path));
    }
    const std::string& id = segments[2];
    const std::string sub = segments.size() == 4 ? segments[3] : "";
    if (sub.empty()) {
      if (method == http::verb::put) return putCustomer(request, id, std::move(respond));
      if (method == http::verb::get) return getCustomer(id, std::move(respond));
      if (method == http::verb::delete_) return deleteCustomer(id, std::move(respond));
      return respond(errorResponse(405, "method_not_allowed", "use PUT, GET or DELETE"));
    }
    if (sub == "merge" || sub == "events") {
      if (method != http::verb::post) {
        return respond(errorResponse(405, "method_not_allowed", "use POST"));
      }
      if (sub == "merge") return mergeCustomer(request, id, std::move(respond));
      return customerEvent(request, id, std::move(respond));
    }
    if (sub == "messages") {
      if (method != http::verb::get) {
        return respond(errorResponse(405, "method_not_allowed", "use GET"));
      }
      return customerMessages(id, std::move(respond));
    }
    return respond(errorResponse(404, "not_found", "no such endpoint: " + path));
  }
  constexpr std::string_view kTemplates = "/v1/templates/";
  constexpr std::string_view kRender = "/render";
  if (path.rfind(kTemplates, 0) == 0 && path.size() > kTemplates.size() + kRender.size() &&
      path.compare(path.size() - kRender.size(), kRender.size(), kRender) == 0) {
    if (method != http::verb::post) {
      return respond(errorResponse(405, "method_not_allowed", "use POST"));
    }
    std::string id =
        path.substr(kTemplates.size(), path.size() - kTemplates.size() - kRender.size());
    return renderTemplate(request, id, std::move(respond));
  }
  return respond(errorResponse(404, "not_found", "no such endpoint: " + path));
}

namespace {

policy::Contacts toPolicyContacts(const dispatch::Contacts& to) {
  policy::Contacts contacts;
  if (!to.email.empty()) contacts.email = to.email;
  if (!to.phone.empty()) contacts.phone = to.phone;
  if (!to.telegram.empty()) contacts.telegram = to.telegram;
  for (const auto& target : to.push) contacts.push.push_back({target.platform, target.token});
  return contacts;
}

// The contacts delivery may use: the profile's, minus those a provider reported dead.
dispatch::Contacts deliverableContacts(const policy::Contacts& contacts) {
  dispatch::Contacts to;
  auto usable = [&contacts](const std::string& key) { return !contacts.invalid.count(key); };
  if (contacts.email && usable("email")) to.email = *contacts.email;
  if (contacts.phone && usable("phone")) to.phone = *contacts.phone;
  if (contacts.telegram && usable("telegram")) to.telegram = *contacts.telegram;
  if (usable("push")) {
    for (const auto& token : contacts.push) {
      if (usable("push:" + token.token)) to.push.push_back({token.platform, token.token});
    }
  }
  return to;
}

// Inline `to` contacts update the profile: new ones are added, a changed one replaces the old
// (and is usable again). Returns whether anything changed.
bool mergeInlineContacts(policy::Contacts& profile, const dispatch::Contacts& to) {
  bool changed = false;
  auto set = [&](std::optional<std::string>& field, const std::string& value, const char* key) {
    if (value.empty() || field == value) return;
    field = value;
    profile.invalid.erase(key);
    changed = true;
  };
  set(profile.email, to.email, "email");
  set(profile.phone, to.phone, "phone");
  set(profile.telegram, to.telegram, "telegram");
  for (const auto& target : to.push) {
    bool known = std::any_of(profile.push.begin(), profile.push.end(),
                             [&](const policy::PushToken& t) { return t.token == target.token; });
    if (!known) {
      profile.push.push_back({target.platform, target.token});
      changed = true;
    }
  }
  return changed;
}

json::array traceToJson(const std::vector<policy::TraceStep>& trace) {
  json::array out;
  for (const auto& step : trace)
    out.push_back(json::object{{"step", step.step}, {"result", step.result}});
  return out;
}

}  // namespace

// Everything about one POST /v1/messages that outlives the first callback.
struct ApiHandlers::Intake {
  SendRequest send;
  std::map<std::string, dispatch::ChannelContent> content;  // inline, or the template rendered
  std::string request_hash;
  std::string idempotency_key;
  std::string canonical_data;  // the template data as canonical JSON, for the default dedupe key
  bool dry_run = false;
  Respond respond;
};

void ApiHandlers::postMessage(const Request& request, const std::string& token_name, bool dry_run,
                              Respond respond) {
  if (auto refused = refuseNonJson(request)) return respond(std::move(*refused));
  json::value parsed;
  auto send = parseSendRequest(request.body(), &parsed, config_->phone_region);
  if (!send) {
    return respond(errorResponse(send.error().code == "invalid_json" ? 400 : 422, send.error().code,
                                 send.error().message));
  }
  std::string idempotency_key(request["Idempotency-Key"]);
  if (request.find("Idempotency-Key") != request.end() && !validIdempotencyKey(idempotency_key)) {
    return respond(errorResponse(422, "invalid_request",
                                 "Idempotency-Key must be 1-255 printable ASCII characters"));
  }
  auto intake = std::make_shared<Intake>();
  if (!send->template_id.empty()) {
    // Rendered now to learn which channels the template covers and to refuse data it cannot
    // render; the dispatcher renders again at each attempt with the templates then in force.
    auto content = dispatch::renderContent(templates_, send->payload);
    if (!content) return respond(errorResponse(422, content.error().code, content.error().message));
    intake->content = std::move(content.value());
    if (const auto* data = parsed.as_object().if_contains("data")) {
      writeCanonical(*data, intake->canonical_data);
    }
  } else {
    intake->content = send->payload.content;
  }
  std::string canonical;
  writeCanonical(parsed, canonical);
  intake->request_hash = sha256Hex(canonical);
  if (!idempotency_key.empty()) intake->idempotency_key = token_name + ":" + idempotency_key;
  intake->dry_run = dry_run;
  intake->respond = std::move(respond);
  intake->send = std::move(send.value());

  if (!intake->send.customer_id.empty()) return admitForCustomer(intake->send.customer_id, intake);
  auto keys = contactKeys(toPolicyContacts(intake->send.payload.to));
  if (keys.empty()) return admitAnonymous(intake);
  // Addressed by contact only: the person who owns one of them gets their caps and history.
  store_.findCustomer(std::move(keys), [this, intake](Result<std::optional<std::string>> found) {
    if (!found) return intake->respond(storeFailure(found.error()));
    if (*found) return admitForCustomer(**found, intake);
    admitAnonymous(intake);
  });
}

void ApiHandlers::admitAnonymous(const std::shared_ptr<Intake>& intake) {
  const SendRequest& send = intake->send;
  std::string plan_trace;
  auto plan = planChannels(send, intake->content, config_->default_channels, configured_channels_,
                           &plan_trace);
  if (plan.empty()) {
    return intake->respond(
        errorResponse(422, "no_channel", "no channel can carry this message: " + plan_trace));
  }
  const SysTime now = clock_.now();
  store::NewMessage message = newMessage(*intake, now);
  message.plan = plan;
  message.status = send.send_at && *send.send_at > now ? store::MessageStatus::Scheduled
                                                       : store::MessageStatus::Queued;
  json::array decision{json::object{{"step", "customer"}, {"result", "none (inline contacts)"}},
                       json::object{{"step", "plan"}, {"result", plan_trace}}};
  if (message.status == store::MessageStatus::Scheduled) {
    decision.push_back(
        json::object{{"step", "schedule"}, {"result", "send_at " + formatRfc3339(*send.send_at)}});
  }
  message.decision_json = json::serialize(decision);
  message.payload_json = dispatch::toJson(send.payload);
  submitMessage(intake, std::move(message), [](bool) {});
}

void ApiHandlers::admitForCustomer(const std::string& customer_id,
                                   const std::shared_ptr<Intake>& intake) {
  admission_.withCustomer(customer_id, [this, intake](Result<CustomerSlot*> loaded,
                                                      std::function<void()> done) {
    if (!loaded) {
      intake->respond(storeFailure(loaded.error()));
      return done();
    }
    CustomerSlot& customer = **loaded;
    const SendRequest& send = intake->send;
    auto profile = std::make_shared<policy::CustomerProfile>(customer.profile);
    const bool profile_changed =
        mergeInlineContacts(profile->contacts, send.payload.to) || customer.stats_dirty;

    policy::SendRequest request;
    request.category = send.category;
    request.channels = send.channels;
    for (const auto& [channel, part] : intake->content) request.content_channels.insert(channel);
    request.priority = send.priority;
    if (!send.dedupe_key.empty()) {
      request.dedupe_key = send.dedupe_key;
    } else if (!send.template_id.empty()) {
      request.dedupe_key = policy::defaultDedupeKey(send.template_id, intake->canonical_data);
    }
    request.send_at = send.send_at;
    const SysTime now = clock_.now();
    policy::Decision decision =
        policy::decide(request, *profile, customer.state, admission_.policyConfig(), now);

    store::NewMessage message = newMessage(*intake, now);
    message.customer_id = customer.id;
    message.plan = decision.plan;
    message.reason = decision.reason.empty()
                         ? ""
                         : decision.reason + (decision.rule.empty() ? "" : ": " + decision.rule);
    json::array trace{json::object{{"step", "customer"}, {"result", customer.id}}};
    for (auto& step : traceToJson(decision.trace)) trace.push_back(std::move(step));
    message.decision_json = json::serialize(trace);
    switch (decision.outcome) {
      case policy::Outcome::Send:
        message.status = store::MessageStatus::Queued;
        break;
      case policy::Outcome::Schedule:
        message.status = store::MessageStatus::Scheduled;
        message.send_at = decision.not_before;
        break;
      case policy::Outcome::Suppress:
        message.status = store::MessageStatus::Suppressed;
        break;
    }
    if (decision.outcome != policy::Outcome::Suppress && decision.plan.empty()) {
      message.status = store::MessageStatus::Suppressed;
      message.reason = "no_channel";
    }
    dispatch::MessagePayload payload = send.payload;
    payload.to = deliverableContacts(profile->contacts);
    if (payload.locale.empty()) payload.locale = profile->locale;
    json::object customer_fields{{"id", customer.id}};
    if (!profile->locale.empty()) customer_fields["locale"] = profile->locale;
    if (!profile->timezone.empty()) customer_fields["timezone"] = profile->timezone;
    if (profile->contacts.email) customer_fields["email"] = *profile->contacts.email;
    if (profile->contacts.phone) customer_fields["phone"] = *profile->contacts.phone;
    payload.customer_json = json::serialize(customer_fields);
    message.payload_json = dispatch::toJson(payload);

    auto state = std::make_shared<policy::CustomerState>(customer.state);
    if (decision.outcome != policy::Outcome::Suppress) {
      policy::recordSend(*state, decision, request, message.id, now);
    }
    policy::pruneState(*state, admission_.policyConfig(), now);
    message.customer_state_json = stateToStorage(*state);
    if (profile_changed) {
      message.customer_profile_json = profileToStorage(*profile);
      message.customer_contacts = contactKeys(profile->contacts);
    }
    submitMessage(intake, std::move(message),
                  [&customer, state, profile, profile_changed, done](bool created) {
                    // Only a committed message changes what the next decision sees.
                    if (created) {
                      customer.state = std::move(*state);
                      if (profile_changed) {
                        customer.profile = std::move(*profile);
                        customer.has_profile = true;
                        customer.stats_dirty = false;
                      }
                    }
                    done();
                  });
  });
}

store::NewMessage ApiHandlers::newMessage(const Intake& intake, SysTime now) {
  store::NewMessage message;
  message.id = ids_.next();
  message.created_at = now;
  message.customer_id = intake.send.customer_id;
  message.category = intake.send.category;
  message.priority = intake.send.priority;
  message.send_at = intake.send.send_at;
  if (intake.send.ttl) message.expires_at = now + *intake.send.ttl;
  message.cancel_keys = intake.send.cancel_keys;
  message.request_hash = intake.request_hash;
  message.idempotency_key = intake.idempotency_key;
  return message;
}

void ApiHandlers::submitMessage(const std::shared_ptr<Intake>& intake, store::NewMessage message,
                                std::function<void(bool created)> committed) {
  if (intake->dry_run) {
    json::object body{{"id", nullptr},
                      {"status", store::toString(message.status)},
                      {"channel", message.plan.empty() ? "" : message.plan.front()},
                      {"plan", planToJson(message.plan)},
                      {"decision", decisionToJson(message.decision_json)},
                      {"dry_run", true}};
    if (!message.reason.empty()) body["reason"] = message.reason;
    intake->respond(jsonResponse(200, body));
    return committed(false);
  }
  store_.submit(std::move(message), [this, intake, committed = std::move(committed)](
                                        Result<store::SubmitResult> result) {
    if (!result) {
      intake->respond(storeFailure(result.error()));
      return committed(false);
    }
    const auto& m = result->message;
    if (result->outcome == store::SubmitOutcome::Conflict) {
      intake->respond(errorResponse(409, "idempotency_conflict",
                                    "this Idempotency-Key was used for a different request "
                                    "(message " +
                                        m.id + ")"));
      return committed(false);
    }
    const bool created = result->outcome == store::SubmitOutcome::Created;
    if (created) {
      ++admitted_[store::toString(m.status)];
      if (m.status == store::MessageStatus::Suppressed) {
        ++suppressed_by_reason_[m.reason.empty() ? "unknown" : m.reason];
      } else {
        ++accepted_by_channel_[m.channel()];
      }
    }
    if (result->outcome == store::SubmitOutcome::Replayed) ++replayed_;
    if (created && m.next_attempt_at) {
      dispatcher_.onPending({*m.next_attempt_at, m.id, m.channel()});
    }
    json::object body{{"id", m.id},
                      {"status", store::toString(m.status)},
                      {"channel", m.channel()},
                      {"plan", planToJson(m.plan)}};
    if (!m.reason.empty()) body["reason"] = m.reason;
    if (m.send_at && m.status == store::MessageStatus::Scheduled) {
      body["send_at"] = formatRfc3339(*m.send_at);
    }
    auto res = jsonResponseWith(202, body, "decision", m.decision_json);
    if (result->outcome == store::SubmitOutcome::Replayed) res.set("Idempotent-Replayed", "true");
    intake->respond(std::move(res));
    committed(created);
  });
}

void ApiHandlers::receiveCallback(const Request& request, const std::string& provider_name,
                                  Respond respond) {
  const auto& providers = dispatcher_.providers();
  auto found = providers.find(provider_name);
  if (found == providers.end()) {
    return respond(errorResponse(404, "not_found", "no provider named '" + provider_name + "'"));
  }
  channels::InboundRequest inbound;
  inbound.method = std::string(request.method_string());
  const std::string base = config_->server.public_url.empty()
                               ? "http://" + std::string(request[http::field::host])
                               : config_->server.public_url;
  inbound.url = base + std::string(request.target());
  for (const auto& field : request) {
    inbound.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  inbound.body = request.body();
  auto updates = found->second->provider->parseCallback(inbound);
  if (!updates) {
    const auto& code = updates.error().code;
    spdlog::warn("callback for {} refused: {}", provider_name, updates.error().message);
    if (code == "unauthorized") {
      return respond(errorResponse(401, "unauthorized", updates.error().message));
    }
    if (code == "callbacks_unsupported") {
      return respond(errorResponse(404, "not_found", updates.error().message));
    }
    return respond(errorResponse(400, "bad_callback", updates.error().message));
  }
  struct Tally {
    std::size_t pending = 0;
    json::array results;
    std::optional<Error> error;
    Respond respond;
  };
  auto tally = std::make_shared<Tally>();
  tally->respond = std::move(respond);
  tally->pending = updates->size();
  auto finish = [](Tally& t) {
    if (t.error) return t.respond(storeFailure(*t.error));
    t.respond(jsonResponse(200, json::object{{"receipts", std::move(t.results)}}));
  };
  if (updates->empty()) return finish(*tally);
  const SysTime now = clock_.now();
  for (const auto& update : *updates) {
    store::Receipt receipt;
    receipt.provider = provider_name;
    receipt.provider_message_id = update.provider_message_id;
    receipt.message_id = update.message_id;
    receipt.status =
        update.status == channels::ReceiptStatus::Delivered ? store::MessageStatus::Delivered
        : update.status == channels::ReceiptStatus::Read    ? store::MessageStatus::Read
                                                            : store::MessageStatus::Failed;
    receipt.code = update.code;
    receipt.detail = update.detail;
    receipt.received_at = now;
    store_.applyReceipt(receipt, [this, tally, finish, provider_name,
                                  receipt](Result<store::ReceiptResult> applied) {
      if (!applied) {
        tally->error = applied.error();
      } else {
        static constexpr const char* kOutcomes[] = {"applied", "stale", "waiting", "unknown"};
        const char* outcome = kOutcomes[static_cast<int>(applied->outcome)];
        json::object result{{"provider_message_id", receipt.provider_message_id},
                            {"outcome", outcome}};
        if (!applied->message_id.empty()) {
          result["message_id"] = applied->message_id;
          result["status"] = store::toString(applied->status);
        }
        tally->results.push_back(std::move(result));
        spdlog::info(
            "receipt from {} for {}: {} ({})", provider_name,
            applied->message_id.empty() ? receipt.provider_message_id : applied->message_id,
            store::toString(receipt.status), outcome);
        if (applied->requeued) dispatcher_.onPending(*applied->requeued);
      }
      if (--tally->pending == 0) finish(*tally);
    });
  }
}

void ApiHandlers::renderTemplate(const Request& request, const std::string& id, Respond respond) {
  if (!templates_.has(id)) {
    return respond(errorResponse(404, "unknown_template", "template '" + id + "' does not exist"));
  }
  if (!request.body().empty()) {
    if (auto refused = refuseNonJson(request)) return respond(std::move(*refused));
  }
  boost::system::error_code ec;
  json::value body =
      request.body().empty() ? json::value(json::object()) : json::parse(request.body(), ec);
  if (ec) {
    return respond(
        errorResponse(400, "invalid_json", "the body is not valid JSON: " + ec.message()));
  }
  auto invalid = [&respond](const std::string& what) {
    respond(errorResponse(422, "invalid_request", what));
  };
  if (!body.is_object()) return invalid("the body must be a JSON object");
  dispatch::MessagePayload payload;
  payload.template_id = id;
  std::string channel;
  for (const auto& [key, value] : body.as_object()) {
    if (key == "data") {
      if (!value.is_object()) return invalid("data must be an object");
      payload.data_json = json::serialize(value);
    } else if (key == "locale") {
      if (!value.is_string() || value.as_string().size() > 35) {
        return invalid("locale must be a string such as \"ru\" or \"pt-BR\"");
      }
      payload.locale = value.as_string();
    } else if (key == "channel") {
      if (!value.is_string() || !dispatch::isChannel(value.as_string())) {
        return invalid("channel must be one of email, sms, push, messenger");
      }
      channel = value.as_string();
    } else {
      return invalid(std::string(key) + " is not a known field");
    }
  }
  std::string resolved_locale;
  auto content = dispatch::renderContent(templates_, payload, channel, &resolved_locale);
  if (!content) return respond(errorResponse(422, content.error().code, content.error().message));
  json::object out{{"template", id}, {"locale", resolved_locale}};
  for (const auto& [name, part] : *content) {
    json::object parts;
    auto put = [&parts](const char* key, const std::string& value) {
      if (!value.empty()) parts[key] = value;
    };
    put("subject", part.subject);
    put("text", part.text);
    put("html", part.html);
    put("title", part.title);
    put("body", part.body);
    if (!part.data_json.empty()) parts["data"] = json::parse(part.data_json, ec);
    out[name] = std::move(parts);
  }
  respond(jsonResponse(200, out));
}

namespace {

// One person after a merge: the survivor's choices win, the other fills what the survivor lacks,
// and everything learned about either (opt-outs, dead contacts, engagement) is kept.
policy::CustomerProfile mergeProfiles(const policy::CustomerProfile& survivor,
                                      const policy::CustomerProfile& merged) {
  policy::CustomerProfile out = survivor;
  auto fill = [](std::optional<std::string>& field, const std::optional<std::string>& other) {
    if (!field && other) field = other;
  };
  fill(out.contacts.email, merged.contacts.email);
  fill(out.contacts.phone, merged.contacts.phone);
  fill(out.contacts.telegram, merged.contacts.telegram);
  for (const auto& token : merged.contacts.push) {
    bool known = std::any_of(out.contacts.push.begin(), out.contacts.push.end(),
                             [&](const policy::PushToken& t) { return t.token == token.token; });
    if (!known) out.contacts.push.push_back(token);
  }
  out.contacts.invalid.insert(merged.contacts.invalid.begin(), merged.contacts.invalid.end());
  if (out.preferred_channels.empty()) out.preferred_channels = merged.preferred_channels;
  out.opt_out.insert(merged.opt_out.begin(), merged.opt_out.end());
  if (!out.quiet_hours) out.quiet_hours = merged.quiet_hours;
  if (out.timezone.empty()) out.timezone = merged.timezone;
  if (out.locale.empty()) out.locale = merged.locale;
  for (const auto& [channel, stats] : merged.stats) {
    auto& sum = out.stats[channel];
    sum.attempts += stats.attempts;
    sum.delivered += stats.delivered;
    sum.read += stats.read;
  }
  return out;
}

bool customerExists(const CustomerSlot& slot) {
  return slot.has_profile || !slot.state.sends.empty() || !slot.state.dedupe.empty();
}

}  // namespace

void ApiHandlers::putCustomer(const Request& request, const std::string& id, Respond respond) {
  if (auto refused = refuseNonJson(request)) return respond(std::move(*refused));
  auto parsed = parseCustomerProfile(id, request.body(), config_->phone_region);
  if (!parsed) {
    return respond(errorResponse(parsed.error().code == "invalid_json" ? 400 : 422,
                                 parsed.error().code, parsed.error().message));
  }
  auto profile = std::make_shared<policy::CustomerProfile>(std::move(parsed.value()));
  admission_.withCustomer(id, [this, profile, respond = std::move(respond)](
                                  Result<CustomerSlot*> loaded, std::function<void()> done) {
    if (!loaded) {
      respond(storeFailure(loaded.error()));
      return done();
    }
    CustomerSlot& customer = **loaded;
    profile->id = customer.id;
    // Daemon-owned knowledge survives a PUT: engagement, and dead marks of unchanged contacts.
    profile->stats = customer.profile.stats;
    for (const auto& mark : customer.profile.contacts.invalid) {
      const auto& old = customer.profile.contacts;
      const auto& now = profile->contacts;
      bool same = (mark == "email" && old.email == now.email) ||
                  (mark == "phone" && old.phone == now.phone) ||
                  (mark == "telegram" && old.telegram == now.telegram) ||
                  (mark.rfind("push:", 0) == 0 &&
                   std::any_of(now.push.begin(), now.push.end(), [&](const policy::PushToken& t) {
                     return "push:" + t.token == mark;
                   }));
      if (same) profile->contacts.invalid.insert(mark);
    }
    store::CustomerWrite write{customer.id, profileToStorage(*profile),
                               contactKeys(profile->contacts), clock_.now()};
    store_.putCustomer(std::move(write), [&customer, profile, respond,
                                          done](Result<store::CustomerWriteResult> written) {
      if (!written) {
        respond(storeFailure(written.error()));
      } else if (written->outcome == store::CustomerWriteOutcome::ContactTaken) {
        respond(errorResponse(409, "contact_taken",
                              written->contact + " belongs to customer " + written->taken_by +
                                  "; merge the two (POST /v1/customers/" + written->taken_by +
                                  "/merge) or remove it there first"));
      } else {
        customer.profile = std::move(*profile);
        customer.has_profile = true;
        customer.stats_dirty = false;
        respond(jsonResponse(200, customerProfileToJson(customer.profile)));
      }
      done();
    });
  });
}

void ApiHandlers::getCustomer(const std::string& id, Respond respond) {
  admission_.withCustomer(id, [this, id, respond = std::move(respond)](Result<CustomerSlot*> loaded,
                                                                       std::function<void()> done) {
    if (!loaded) {
      respond(storeFailure(loaded.error()));
      return done();
    }
    if (!(*loaded)->has_profile) {
      respond(errorResponse(404, "not_found", "no customer " + id));
      done();
      return admission_.forget(id);
    }
    respond(jsonResponse(200, customerProfileToJson((*loaded)->profile)));
    done();
  });
}

void ApiHandlers::deleteCustomer(const std::string& id, Respond respond) {
  admission_.withCustomer(id, [this, id, respond = std::move(respond)](Result<CustomerSlot*> loaded,
                                                                       std::function<void()> done) {
    if (!loaded) {
      respond(storeFailure(loaded.error()));
      return done();
    }
    CustomerSlot& customer = **loaded;
    store_.eraseCustomer(
        customer.id, clock_.now(), [this, id, &customer, respond, done](Result<bool> erased) {
          if (!erased) {
            respond(storeFailure(erased.error()));
          } else if (!*erased) {
            respond(errorResponse(404, "not_found", "no customer " + id));
          } else {
            customer.profile = policy::CustomerProfile{};
            customer.profile.id = customer.id;
            customer.has_profile = false;
            respond(jsonResponse(200, json::object{{"id", customer.id}, {"erased", true}}));
          }
          done();
          admission_.forget(customer.id);
        });
  });
}

void ApiHandlers::mergeCustomer(const Request& request, const std::string& id, Respond respond) {
  if (auto refused = refuseNonJson(request)) return respond(std::move(*refused));
  boost::system::error_code ec;
  json::value body = json::parse(request.body(), ec);
  if (ec) return respond(errorResponse(400, "invalid_json", "the body is not valid JSON"));
  const auto* object = body.if_object();
  const auto* from = object ? object->if_contains("from") : nullptr;
  if (!from || !from->is_string() || from->as_string().empty() || object->size() != 1) {
    return respond(
        errorResponse(422, "invalid_request",
                      "the body must be {\"from\": \"<id of the customer to fold in>\"}"));
  }
  const std::string other(from->as_string());
  if (other == id) {
    return respond(
        errorResponse(422, "invalid_request", "a customer cannot be merged into itself"));
  }
  // Both customers' queues are held, always in id order, so two opposite merges cannot wait on
  // each other.
  const std::string first = std::min(id, other);
  const std::string second = std::max(id, other);
  auto shared_respond = std::make_shared<Respond>(std::move(respond));
  admission_.withCustomer(first, [this, id, other, second, shared_respond](
                                     Result<CustomerSlot*> a, std::function<void()> done_a) {
    admission_.withCustomer(second, [this, id, other, a, done_a, shared_respond](
                                        Result<CustomerSlot*> b, std::function<void()> done_b) {
      auto finish = [done_a, done_b] {
        done_b();
        done_a();
      };
      const Respond& respond = *shared_respond;
      if (!a || !b) {
        respond(storeFailure(!a ? a.error() : b.error()));
        return finish();
      }
      CustomerSlot& survivor = (*a)->id == id || (*b)->id == other ? **a : **b;
      CustomerSlot& merged = &survivor == *a ? **b : **a;
      if (survivor.id == merged.id) {
        respond(jsonResponse(
            200, json::object{{"id", survivor.id}, {"merged", other}, {"already", true}}));
        return finish();
      }
      if (!customerExists(merged)) {
        respond(errorResponse(404, "not_found", "no customer " + other));
        return finish();
      }
      auto profile = std::make_shared<policy::CustomerProfile>(
          mergeProfiles(survivor.profile, merged.profile));
      profile->id = survivor.id;
      auto state = std::make_shared<policy::CustomerState>(
          policy::mergeStates(survivor.state, merged.state));
      store::CustomerMerge merge{survivor.id,
                                 merged.id,
                                 profileToStorage(*profile),
                                 stateToStorage(*state),
                                 contactKeys(profile->contacts),
                                 clock_.now()};
      const std::string merged_id = merged.id;
      store_.mergeCustomers(std::move(merge), [this, &survivor, merged_id, profile, state,
                                               shared_respond, finish](Result<Ok> done) {
        if (!done) {
          (*shared_respond)(storeFailure(done.error()));
          return finish();
        }
        survivor.profile = std::move(*profile);
        survivor.state = std::move(*state);
        survivor.has_profile = true;
        (*shared_respond)(
            jsonResponse(200, json::object{{"id", survivor.id},
                                           {"merged", merged_id},
                                           {"customer", customerProfileToJson(survivor.profile)}}));
        admission_.merged(merged_id, survivor.id);  // before finish(), which may evict survivor
        finish();
      });
    });
  });
}

void ApiHandlers::customerEvent(const Request& request, const std::string& id, Respond respond) {
  if (auto refused = refuseNonJson(request)) return respond(std::move(*refused));
  boost::system::error_code ec;
  json::value body = json::parse(request.body(), ec);
  if (ec) return respond(errorResponse(400, "invalid_json", "the body is not valid JSON"));
  store::CustomerEvent event;
  event.customer_id = id;
  event.now = clock_.now();
  const auto* object = body.if_object();
  auto invalid = [&respond](const std::string& what) {
    respond(errorResponse(422, "invalid_request", what));
  };
  if (!object) return invalid("the body must be {\"name\": \"purchase\", \"keys\": [...]}");
  for (const auto& [key, value] : *object) {
    if (key == "name") {
      if (!value.is_string() || value.as_string().empty() || value.as_string().size() > 64) {
        return invalid("name must be a non-empty string of at most 64 characters");
      }
      event.name = value.as_string();
    } else if (key == "keys") {
      if (!value.is_array() || value.as_array().size() > 100) {
        return invalid("keys must be an array of at most 100 strings");
      }
      for (const auto& item : value.as_array()) {
        if (!item.is_string() || item.as_string().empty()) {
          return invalid("keys must be an array of non-empty strings");
        }
        event.keys.emplace_back(item.as_string());
      }
    } else {
      return invalid(std::string(key) + " is not a known field");
    }
  }
  if (event.name.empty()) return invalid("name is required");
  for (const auto& [name, category] : config_->categories) {
    if (std::find(category.stop_on.begin(), category.stop_on.end(), event.name) !=
        category.stop_on.end()) {
      event.categories.push_back(name);
    }
  }
  store_.applyCustomerEvent(
      std::move(event), [respond = std::move(respond)](Result<std::vector<std::string>> cancelled) {
        if (!cancelled) return respond(storeFailure(cancelled.error()));
        json::array ids;
        for (const auto& id : *cancelled) ids.emplace_back(id);
        respond(jsonResponse(200, json::object{{"cancelled", std::move(ids)}}));
      });
}

void ApiHandlers::customerMessages(const std::string& id, Respond respond) {
  store_.customerMessages(
      id, 200, [respond = std::move(respond)](Result<std::vector<store::MessageRecord>> messages) {
        if (!messages) return respond(storeFailure(messages.error()));
        json::array out;
        for (const auto& m : *messages) out.push_back(messageToJson(m));
        respond(jsonResponse(200, json::object{{"messages", std::move(out)}}));
      });
}

void ApiHandlers::metrics(Respond respond) {
  auto counter = [](std::string& out, const char* name, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
  };
  std::string out;
  counter(out, "omnigate_messages_admitted_total",
          "Messages stored by POST /v1/messages, by status at admission.");
  for (const char* status : {"queued", "scheduled", "suppressed"}) {
    auto it = admitted_.find(status);
    out += std::string("omnigate_messages_admitted_total{status=\"") + status + "\"} " +
           std::to_string(it == admitted_.end() ? 0 : it->second) + "\n";
  }
  counter(out, "omnigate_messages_accepted_total",
          "Messages admitted for delivery, by the first channel of their plan.");
  for (const auto& [channel, count] : accepted_by_channel_) {
    out += "omnigate_messages_accepted_total{channel=\"" + channel + "\"} " +
           std::to_string(count) + "\n";
  }
  counter(out, "omnigate_messages_suppressed_total",
          "Messages suppressed at admission, by reason.");
  for (const auto& [reason, count] : suppressed_by_reason_) {
    out += "omnigate_messages_suppressed_total{reason=\"" + reason + "\"} " +
           std::to_string(count) + "\n";
  }
  counter(out, "omnigate_idempotent_replays_total",
          "Requests answered from an earlier message with the same Idempotency-Key.");
  out += "omnigate_idempotent_replays_total " + std::to_string(replayed_) + "\n";
  counter(out, "omnigate_messages_retried_total",
          "Failed or expired messages queued again by POST /v1/messages/{id}/retry.");
  out += "omnigate_messages_retried_total " + std::to_string(retried_) + "\n";
  counter(out, "omnigate_http_requests_total",
          "API answers by route template, method and status code.");
  for (const auto& [key, count] : http_requests_) {
    const auto& [route, method, code] = key;
    out += "omnigate_http_requests_total{route=\"" + std::string(route) + "\",method=\"" +
           std::string(http::to_string(method)) + "\",code=\"" + std::to_string(code) + "\"} " +
           std::to_string(count) + "\n";
  }
  auto reply = [respond = std::move(respond)](std::string body) {
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = std::move(body);
    res.prepare_payload();
    respond(std::move(res));
  };
  if (!metrics_) return reply(std::move(out));
  metrics_([out = std::move(out), reply = std::move(reply)](std::string more) mutable {
    reply(std::move(out) + more);
  });
}

void ApiHandlers::stats(Respond respond) {
  store_.queueSnapshot([this, respond = std::move(respond)](Result<store::QueueSnapshot> queue) {
    if (!queue) return respond(storeFailure(queue.error()));
    json::object counts;
    for (auto status :
         {store::MessageStatus::Queued, store::MessageStatus::Sending, store::MessageStatus::Sent,
          store::MessageStatus::Delivered, store::MessageStatus::Read, store::MessageStatus::Failed,
          store::MessageStatus::Expired, store::MessageStatus::Cancelled,
          store::MessageStatus::Suppressed, store::MessageStatus::Scheduled}) {
      counts[store::toString(status)] = queue->by_status[static_cast<int>(status)];
    }
    const auto now = clock_.now();
    json::value oldest = nullptr;  // null: no pending message is due yet
    if (queue->oldest_due && *queue->oldest_due <= now) {
      oldest = std::chrono::duration<double>(now - *queue->oldest_due).count();
    }
    json::object providers;
    const auto steady = std::chrono::steady_clock::now();
    for (const auto& [name, p] : dispatcher_.providers()) {
      providers[name] = json::object{{"attempts", p->attempts},
                                     {"accepted", p->accepted},
                                     {"in_flight", p->sending},
                                     {"paused", p->paused_until > steady}};
    }
    json::object admitted;
    for (const char* status : {"queued", "scheduled", "suppressed"}) {
      auto it = admitted_.find(status);
      admitted[status] = it == admitted_.end() ? 0 : it->second;
    }
    const auto store_stats = store_.stats();
    json::object body{{"version", kVersion},
                      {"uptime_seconds",
                       std::chrono::duration_cast<std::chrono::seconds>(steady - started_).count()},
                      {"queue", std::move(counts)},
                      {"oldest_due_age_seconds", std::move(oldest)},
                      {"providers", std::move(providers)},
                      {"admission", json::object{{"admitted", std::move(admitted)},
                                                 {"idempotent_replays", replayed_},
                                                 {"retried", retried_},
                                                 {"customers_cached", admission_.cached()}}},
                      {"store", json::object{{"wal_bytes", store_stats.wal_bytes},
                                             {"commits", store_stats.commits}}}};
    respond(jsonResponse(200, body));
  });
}

void ApiHandlers::retryMessage(const std::string& id, Respond respond) {
  store_.retry(
      id, clock_.now(),
      [this, id, respond = std::move(respond)](Result<store::RetryResult> result) {
        if (!result) return respond(storeFailure(result.error()));
        switch (result->outcome) {
          case store::RetryOutcome::NotFound:
            return respond(errorResponse(404, "not_found", "no message " + id));
          case store::RetryOutcome::NotRetryable:
            return respond(errorResponse(409, "not_retryable",
                                         std::string("only a failed or expired message can be "
                                                     "retried; this one is ") +
                                             store::toString(result->message.status)));
          case store::RetryOutcome::Requeued:
            break;
        }
        ++retried_;
        spdlog::info("message {} queued again by the caller (was failed or expired)", id);
        // Answer as GET does, attempts and receipts included. The read is queued before the
        // dispatcher can queue its claim, so the answer shows the message `queued`.
        store_.get(id, [id, respond](Result<std::optional<store::MessageRecord>> loaded) {
          if (!loaded) return respond(storeFailure(loaded.error()));
          if (!loaded.value()) return respond(errorResponse(404, "not_found", "no message " + id));
          respond(jsonResponse(200, messageToJson(**loaded)));
        });
        if (result->job) dispatcher_.onPending(*result->job);
      });
}

void ApiHandlers::getMessage(const std::string& id, Respond respond) {
  store_.get(
      id, [id, respond = std::move(respond)](Result<std::optional<store::MessageRecord>> result) {
        if (!result) return respond(storeFailure(result.error()));
        if (!result.value()) return respond(errorResponse(404, "not_found", "no message " + id));
        respond(jsonResponse(200, messageToJson(**result)));
      });
}

void ApiHandlers::cancelMessage(const std::string& id, Respond respond) {
  store_.cancel(
      id, clock_.now(), [id, respond = std::move(respond)](Result<store::CancelResult> result) {
        if (!result) return respond(storeFailure(result.error()));
        switch (result->outcome) {
          case store::CancelOutcome::Cancelled:
            return respond(jsonResponse(200, json::object{{"id", id}, {"status", "cancelled"}}));
          case store::CancelOutcome::NotFound:
            return respond(errorResponse(404, "not_found", "no message " + id));
          case store::CancelOutcome::AlreadyFinal:
            return respond(errorResponse(
                409, "already_final",
                std::string("the message is already ") + store::toString(result->status)));
          case store::CancelOutcome::InFlight:
            return respond(errorResponse(409, "in_flight",
                                         "the message is being handed to a provider right now"));
        }
      });
}

}  // namespace omnigate::api
