// POST /v1/messages bodies: the first thing any API caller controls. parseSendRequest must turn
// every body into a request or a field-naming error; an accepted request must satisfy what the
// rest of the daemon takes for granted, and planChannels must only plan what can be sent.

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "channels/sms/phone_number.h"
#include "daemon/api/message_request.h"
#include "daemon/dispatch/payload.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/json_support.h"
#include "tests/fuzz/payload_equal.h"

namespace {

using omnigate::api::SendRequest;
using omnigate::dispatch::ChannelContent;

bool isIdentifier(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

void checkRequest(const SendRequest& request) {
  FUZZ_CHECK(isIdentifier(request.category));
  FUZZ_CHECK(request.strategy == "fallback");
  FUZZ_CHECK(request.priority == "low" || request.priority == "normal" ||
             request.priority == "high");
  FUZZ_CHECK(request.channels.size() <= 4);
  for (const auto& channel : request.channels) {
    FUZZ_CHECK(omnigate::dispatch::isChannel(channel));
    FUZZ_CHECK(std::count(request.channels.begin(), request.channels.end(), channel) == 1);
  }
  FUZZ_CHECK(request.cancel_keys.size() <= 32);
  for (const auto& key : request.cancel_keys) FUZZ_CHECK(!key.empty());
  // Exactly one of template and inline content; data only with a template.
  FUZZ_CHECK(request.template_id.empty() != request.payload.content.empty());
  if (request.template_id.empty()) FUZZ_CHECK(request.payload.data_json.empty());
  FUZZ_CHECK(request.payload.template_id == request.template_id);
  FUZZ_CHECK(request.payload.locale == request.locale);
  if (request.ttl) FUZZ_CHECK(request.ttl->count() > 0);
  if (request.send_at) {
    std::string shown = omnigate::formatRfc3339(*request.send_at);
    auto again = omnigate::parseRfc3339(shown);
    if (!omnigate::fuzz::hitsYearOutsideFourDigits(shown)) {
      FUZZ_CHECK(again.ok() && *again == *request.send_at);
    }
  }
  for (const auto& [channel, content] : request.payload.content) {
    FUZZ_CHECK(omnigate::dispatch::isChannel(channel));
    if (channel == "email") {
      FUZZ_CHECK(!content.subject.empty());
      FUZZ_CHECK(!omnigate::fuzz::hasLineBreakOrNul(content.subject));  // a header line
      FUZZ_CHECK(!content.text.empty() || !content.html.empty());
    } else if (channel == "push") {
      FUZZ_CHECK(!content.title.empty() || !content.body.empty());
    } else {
      FUZZ_CHECK(!content.text.empty());
    }
  }
  for (const auto& target : request.payload.to.push) {
    FUZZ_CHECK(target.platform == "fcm" || target.platform == "apns");
    FUZZ_CHECK(!target.token.empty());
  }
  // Phones are stored as E.164, and normalizing one again changes nothing.
  const auto& phone = request.payload.to.phone;
  if (!phone.empty()) {
    FUZZ_CHECK(omnigate::channels::sms::isStrictE164(phone));
    auto again = omnigate::channels::sms::normalizePhoneNumber(phone, "");
    FUZZ_CHECK(again.ok() && again.value() == phone);
  }
  const auto& email = request.payload.to.email;
  if (!email.empty()) FUZZ_CHECK(std::count(email.begin(), email.end(), '@') == 1);
}

void checkPlan(const SendRequest& request, const std::map<std::string, ChannelContent>& content,
               const std::vector<std::string>& configured) {
  static const std::vector<std::string> kDefault = {"push", "sms", "email", "messenger"};
  std::string trace;
  auto plan = omnigate::api::planChannels(request, content, kDefault, configured, &trace);
  FUZZ_CHECK(!trace.empty());
  const auto& wanted = request.channels.empty() ? kDefault : request.channels;
  // The plan is the wanted order with channels left out, never added or reordered.
  std::size_t next = 0;
  for (const auto& channel : plan) {
    while (next < wanted.size() && wanted[next] != channel) ++next;
    FUZZ_CHECK(next < wanted.size());
    ++next;
    FUZZ_CHECK(contains(configured, channel));
    FUZZ_CHECK(omnigate::dispatch::hasContact(request.payload.to, channel));
    FUZZ_CHECK(content.count(channel) == 1);
  }
  // And every channel that could be used is used.
  for (const auto& channel : wanted) {
    bool usable = contains(configured, channel) &&
                  omnigate::dispatch::hasContact(request.payload.to, channel) &&
                  content.count(channel) == 1;
    FUZZ_CHECK(usable == contains(plan, channel));
  }
  // Without a trace the plan is the same.
  auto quiet = omnigate::api::planChannels(request, content, kDefault, configured, nullptr);
  FUZZ_CHECK(quiet == plan);
}

// The request a canonical re-serialization gives is the same, JSON-valued fields as values.
bool sameRequestPayload(const omnigate::dispatch::MessagePayload& a,
                        const omnigate::dispatch::MessagePayload& b) {
  auto a_copy = a;
  auto b_copy = b;
  if (!omnigate::fuzz::closeJsonText(a.data_json, b.data_json) ||
      !omnigate::fuzz::closeJsonText(a.metadata_json, b.metadata_json)) {
    return false;
  }
  b_copy.data_json = a.data_json;
  b_copy.metadata_json = a.metadata_json;
  for (auto& [channel, content] : b_copy.content) {
    auto original = a.content.find(channel);
    if (original == a.content.end()) return false;
    if (!omnigate::fuzz::closeJsonText(original->second.data_json, content.data_json)) return false;
    content.data_json = original->second.data_json;
  }
  return omnigate::fuzz::samePayload(a_copy, b_copy);
}

// KNOWN BUG (fuzz report 5): Boost.JSON 1.81 parses a number beyond double's range ("1e400")
// as infinity and serializes it as "Infinity", which is not JSON. parseSendRequest accepts such
// a body, and the stored data / metadata / push data text then fails to parse at send time
// (renderContent: corrupt_payload; the push providers refuse the data): a 202 for a message
// that can never be delivered. Such bodies are skipped until it is fixed.
bool hitsNonFiniteNumber(std::string_view body) {
  if (!omnigate::fuzz::filterKnownBugs()) return false;
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 32;
  auto value = boost::json::parse(body, ec, {}, options);
  return !ec && omnigate::fuzz::hasNonFiniteNumber(value);
}

// send_at goes to parseRfc3339, which has known undefined behaviour (fuzz_support.h); such
// inputs are skipped until it is fixed, so that the rest of the parser still gets fuzzed.
bool sendAtHitsKnownBug(std::string_view body) {
  if (!omnigate::fuzz::filterKnownBugs() || !omnigate::fuzz::contains(body, "send_at")) {
    return false;
  }
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return false;
  const auto* send_at = value.as_object().if_contains("send_at");
  if (send_at == nullptr || !send_at->is_string()) return false;
  std::string_view text = send_at->as_string();
  return omnigate::fuzz::hitsDanglingOffsetSign(text) ||
         omnigate::fuzz::hitsUnreadableSeconds(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body = omnigate::fuzz::asView(data, size);
  if (sendAtHitsKnownBug(body) || hitsNonFiniteNumber(body)) return -1;
  // Numbers without a country code need [defaults] phone_region; try both configurations.
  if (omnigate::fuzz::contains(body, "phone")) {
    auto regional = omnigate::api::parseSendRequest(body, nullptr, "RU");
    if (regional) checkRequest(regional.value());
  }
  boost::json::value parsed;
  auto request = omnigate::api::parseSendRequest(body, &parsed);
  if (!request) {
    const auto& error = request.error();
    FUZZ_LOG("rejected: %s: %s", error.code.c_str(), error.message.c_str());
    FUZZ_CHECK(error.code == "invalid_json" || error.code == "invalid_request");
    FUZZ_CHECK(!error.message.empty());
    return 0;
  }
  FUZZ_LOG("accepted: template '%s', %zu content parts, %zu channels", request->template_id.c_str(),
           request->payload.content.size(), request->channels.size());
  checkRequest(request.value());
  FUZZ_CHECK(parsed.is_object());

  // The request is a function of the JSON value, not of its spelling: the canonical form (which
  // idempotent replay compares) parses to the same request.
  std::string canonical = boost::json::serialize(parsed);
  auto again = omnigate::api::parseSendRequest(canonical);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(sameRequestPayload(request->payload, again->payload));
  FUZZ_CHECK(again->customer_id == request->customer_id);
  FUZZ_CHECK(again->channels == request->channels);
  FUZZ_CHECK(again->category == request->category);
  FUZZ_CHECK(again->dedupe_key == request->dedupe_key);
  FUZZ_CHECK(again->cancel_keys == request->cancel_keys);
  FUZZ_CHECK(again->send_at == request->send_at);
  FUZZ_CHECK(again->ttl == request->ttl);

  // The payload is stored as toJson and read back by the dispatcher.
  auto stored = omnigate::dispatch::payloadFromJson(omnigate::dispatch::toJson(request->payload));
  FUZZ_CHECK(stored.ok());
  FUZZ_CHECK(omnigate::fuzz::samePayload(request->payload, stored.value()));

  // Inline content plans from itself; a template request plans from its rendering, stood in for
  // here by "every channel has a part" and "no channel has one".
  std::map<std::string, ChannelContent> everything;
  for (const char* channel : omnigate::dispatch::kChannels) everything[channel] = {};
  const std::vector<std::vector<std::string>> configured = {
      {"email", "sms", "push", "messenger"}, {"email", "sms"}, {}};
  for (const auto& channels : configured) {
    if (request->template_id.empty()) {
      checkPlan(request.value(), request->payload.content, channels);
    } else {
      checkPlan(request.value(), everything, channels);
      checkPlan(request.value(), {}, channels);
    }
  }
  return 0;
}
