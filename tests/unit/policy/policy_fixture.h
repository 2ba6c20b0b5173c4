#pragma once

// Shared fixtures for the policy tests: fixed times, a reachable customer and a small config.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/common/duration.h"
#include "policy/policy.h"

namespace omnigate::policy::testing {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

inline SysTime at(std::string_view rfc3339) {
  auto parsed = parseRfc3339(rfc3339);
  if (!parsed.ok()) {
    ADD_FAILURE() << "bad fixture time " << rfc3339;
    return SysTime{};
  }
  return *parsed;
}

// Every channel reachable; no quiet hours, no preference, UTC.
inline CustomerProfile reachableCustomer() {
  CustomerProfile profile;
  profile.id = "c-42";
  profile.contacts.email = "a@example.com";
  profile.contacts.phone = "+79161234567";
  profile.contacts.telegram = "123456";
  profile.contacts.push = {{"fcm", "token-1"}};
  profile.timezone = "UTC";
  profile.locale = "ru";
  return profile;
}

inline PolicyConfig baseConfig() {
  PolicyConfig config;
  config.default_channels = {"push", "email", "sms"};
  config.configured_channels = {"email", "sms", "push", "messenger"};
  config.categories["transactional"] = {.name = "transactional", .bypass_caps = true};
  config.categories["marketing"] = {.name = "marketing",
                                    .channels = {"push", "email"},
                                    .quiet_hours = true,
                                    .quiet_action = QuietAction::Defer,
                                    .stop_on = {"purchase"}};
  config.categories["digest"] = {.name = "digest",
                                 .channels = {"email"},
                                 .quiet_hours = true,
                                 .quiet_action = QuietAction::Drop,
                                 .dedupe_window = hours(1)};
  return config;
}

inline SendRequest marketing() {
  SendRequest request;
  request.category = "marketing";
  return request;
}

inline SendRecord sent(SysTime when, std::string category, std::string channel,
                       std::string message_id = "m-old") {
  return {when, std::move(category), std::move(channel), std::move(message_id)};
}

inline bool traceHas(const Decision& decision, std::string_view step, std::string_view result) {
  return std::any_of(decision.trace.begin(), decision.trace.end(),
                     [&](const TraceStep& s) { return s.step == step && s.result == result; });
}

inline bool traceMentions(const Decision& decision, std::string_view step,
                          std::string_view fragment) {
  return std::any_of(decision.trace.begin(), decision.trace.end(), [&](const TraceStep& s) {
    return s.step == step && s.result.find(fragment) != std::string::npos;
  });
}

inline std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

inline std::string dumpTrace(const Decision& decision) {
  std::string text;
  for (const auto& step : decision.trace) text += "  " + step.step + ": " + step.result + "\n";
  return text;
}

}  // namespace omnigate::policy::testing
