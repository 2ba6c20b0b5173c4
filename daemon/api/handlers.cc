#include "daemon/api/handlers.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "daemon/api/message_request.h"

namespace omnigate::api {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

Response jsonResponse(unsigned status, const json::value& body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
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
    std::sort(members.begin(), members.end(),
              [](auto* a, auto* b) { return a->key() < b->key(); });
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

ApiHandlers::ApiHandlers(const config::Config& config, const templates::TemplateSet& templates,
                         store::Store& store, dispatch::Dispatcher& dispatcher, const Clock& clock,
                         UlidGenerator& ids)
    : config_(config),
      templates_(templates),
      store_(store),
      dispatcher_(dispatcher),
      clock_(clock),
      ids_(ids) {
  for (const auto& [channel, settings] : config.channels) configured_channels_.push_back(channel);
}

void ApiHandlers::handle(Request&& request, Respond respond) {
  auto url = boost::urls::parse_origin_form(request.target());
  if (!url) return respond(errorResponse(400, "bad_request", "the request target is malformed"));
  const std::string path(url->encoded_path());
  const auto method = request.method();

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
  auto token_name = authenticate(request[http::field::authorization], config_.tokens);
  if (!token_name) {
    auto res = errorResponse(401, "unauthorized", "a valid bearer token is required");
    res.set(http::field::www_authenticate, "Bearer");
    return respond(std::move(res));
  }
  if (draining_) return respond(unavailable("shutting_down", "omnigated is shutting down", 2));

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
    if (!isUlid(id)) return respond(errorResponse(404, "not_found", "no message " + id));
    if (method == http::verb::get) return getMessage(id, std::move(respond));
    if (method == http::verb::delete_) return cancelMessage(id, std::move(respond));
    return respond(errorResponse(405, "method_not_allowed", "use GET or DELETE"));
  }
  constexpr std::string_view kTemplates = "/v1/templates/";
  constexpr std::string_view kRender = "/render";
  if (path.rfind(kTemplates, 0) == 0 && path.size() > kTemplates.size() + kRender.size() &&
      path.compare(path.size() - kRender.size(), kRender.size(), kRender) == 0) {
    if (method != http::verb::post) {
      return respond(errorResponse(405, "method_not_allowed", "use POST"));
    }
    std::string id = path.substr(kTemplates.size(),
                                 path.size() - kTemplates.size() - kRender.size());
    return renderTemplate(request, id, std::move(respond));
  }
  return respond(errorResponse(404, "not_found", "no such endpoint: " + path));
}

void ApiHandlers::postMessage(const Request& request, const std::string& token_name, bool dry_run,
                              Respond respond) {
  auto content_type = request[http::field::content_type];
  if (content_type.substr(0, content_type.find(';')) != "application/json") {
    return respond(errorResponse(415, "unsupported_media_type",
                                 "the body must be JSON (Content-Type: application/json)"));
  }
  json::value parsed;
  auto send = parseSendRequest(request.body(), &parsed, config_.phone_region);
  if (!send) {
    return respond(errorResponse(send.error().code == "invalid_json" ? 400 : 422,
                                 send.error().code, send.error().message));
  }
  std::string idempotency_key(request["Idempotency-Key"]);
  if (request.find("Idempotency-Key") != request.end() && !validIdempotencyKey(idempotency_key)) {
    return respond(errorResponse(422, "invalid_request",
                                 "Idempotency-Key must be 1-255 printable ASCII characters"));
  }
  std::map<std::string, dispatch::ChannelContent> rendered;
  if (!send->template_id.empty()) {
    // Rendered now to learn which channels the template covers and to refuse data it cannot
    // render; the dispatcher renders again at each attempt with the templates then in force.
    auto content = dispatch::renderContent(templates_, send->payload);
    if (!content) return respond(errorResponse(422, content.error().code, content.error().message));
    rendered = std::move(content.value());
  }
  const auto& content = send->template_id.empty() ? send->payload.content : rendered;

  std::string plan_trace;
  auto plan = planChannels(*send, content, config_.default_channels, configured_channels_,
                           &plan_trace);
  if (plan.empty()) {
    return respond(errorResponse(422, "no_channel",
                                 "no channel can carry this message: " + plan_trace));
  }

  const SysTime now = clock_.now();
  store::NewMessage message;
  message.id = ids_.next();
  message.created_at = now;
  message.customer_id = send->customer_id;
  message.category = send->category;
  message.priority = send->priority;
  message.plan = plan;
  message.send_at = send->send_at;
  if (send->ttl) message.expires_at = now + *send->ttl;
  message.status = send->send_at && *send->send_at > now ? store::MessageStatus::Scheduled
                                                          : store::MessageStatus::Queued;
  json::array decision{json::object{{"step", "plan"}, {"result", plan_trace}}};
  if (message.status == store::MessageStatus::Scheduled) {
    decision.push_back(
        json::object{{"step", "schedule"}, {"result", "send_at " + formatRfc3339(*send->send_at)}});
  }
  message.decision_json = json::serialize(decision);
  message.payload_json = dispatch::toJson(send->payload);
  std::string canonical;
  writeCanonical(parsed, canonical);
  message.request_hash = sha256Hex(canonical);
  if (!idempotency_key.empty()) message.idempotency_key = token_name + ":" + idempotency_key;

  if (dry_run) {
    return respond(jsonResponse(200, json::object{{"id", nullptr},
                                                  {"status", store::toString(message.status)},
                                                  {"channel", plan.front()},
                                                  {"plan", planToJson(plan)},
                                                  {"decision", decision},
                                                  {"dry_run", true}}));
  }

  store_.submit(std::move(message), [this, respond = std::move(respond)](
                                        Result<store::SubmitResult> result) {
    if (!result) return respond(storeFailure(result.error()));
    const auto& m = result->message;
    if (result->outcome == store::SubmitOutcome::Conflict) {
      return respond(errorResponse(409, "idempotency_conflict",
                                   "this Idempotency-Key was used for a different request "
                                   "(message " + m.id + ")"));
    }
    if (result->outcome == store::SubmitOutcome::Created && m.next_attempt_at) {
      dispatcher_.onPending({*m.next_attempt_at, m.id, m.channel()});
    }
    json::object body{{"id", m.id},
                      {"status", store::toString(m.status)},
                      {"channel", m.channel()},
                      {"plan", planToJson(m.plan)},
                      {"decision", decisionToJson(m.decision_json)}};
    if (!m.reason.empty()) body["reason"] = m.reason;
    auto res = jsonResponse(202, body);
    if (result->outcome == store::SubmitOutcome::Replayed) res.set("Idempotent-Replayed", "true");
    respond(std::move(res));
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
  const std::string base = config_.server.public_url.empty()
                               ? "http://" + std::string(request[http::field::host])
                               : config_.server.public_url;
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
    receipt.status = update.status == channels::ReceiptStatus::Delivered ? store::MessageStatus::Delivered
                     : update.status == channels::ReceiptStatus::Read    ? store::MessageStatus::Read
                                                                         : store::MessageStatus::Failed;
    receipt.code = update.code;
    receipt.detail = update.detail;
    receipt.received_at = now;
    store_.applyReceipt(receipt, [this, tally, finish, provider_name, receipt](
                                     Result<store::ReceiptResult> applied) {
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
        spdlog::info("receipt from {} for {}: {} ({})", provider_name,
                     applied->message_id.empty() ? receipt.provider_message_id
                                                 : applied->message_id,
                     store::toString(receipt.status), outcome);
        if (applied->requeued) dispatcher_.onPending(*applied->requeued);
      }
      if (--tally->pending == 0) finish(*tally);
    });
  }
}

void ApiHandlers::renderTemplate(const Request& request, const std::string& id,
                                 Respond respond) {
  if (!templates_.has(id)) {
    return respond(errorResponse(404, "unknown_template", "template '" + id + "' does not exist"));
  }
  auto content_type = request[http::field::content_type];
  if (!request.body().empty() &&
      content_type.substr(0, content_type.find(';')) != "application/json") {
    return respond(errorResponse(415, "unsupported_media_type",
                                 "the body must be JSON (Content-Type: application/json)"));
  }
  boost::system::error_code ec;
  json::value body = request.body().empty() ? json::value(json::object())
                                            : json::parse(request.body(), ec);
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

void ApiHandlers::getMessage(const std::string& id, Respond respond) {
  store_.get(id, [id, respond = std::move(respond)](
                     Result<std::optional<store::MessageRecord>> result) {
    if (!result) return respond(storeFailure(result.error()));
    if (!result.value()) return respond(errorResponse(404, "not_found", "no message " + id));
    respond(jsonResponse(200, messageToJson(**result)));
  });
}

void ApiHandlers::cancelMessage(const std::string& id, Respond respond) {
  store_.cancel(id, clock_.now(), [id, respond = std::move(respond)](
                                      Result<store::CancelResult> result) {
    if (!result) return respond(storeFailure(result.error()));
    switch (result->outcome) {
      case store::CancelOutcome::Cancelled:
        return respond(jsonResponse(200, json::object{{"id", id}, {"status", "cancelled"}}));
      case store::CancelOutcome::NotFound:
        return respond(errorResponse(404, "not_found", "no message " + id));
      case store::CancelOutcome::AlreadyFinal:
        return respond(errorResponse(409, "already_final",
                                     std::string("the message is already ") +
                                         store::toString(result->status)));
      case store::CancelOutcome::InFlight:
        return respond(errorResponse(409, "in_flight",
                                     "the message is being handed to a provider right now"));
    }
  });
}

}  // namespace omnigate::api
