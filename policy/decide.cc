#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "policy/policy.h"
#include "policy/steps.h"

namespace omnigate::policy {
namespace {

using detail::CapVerdict;
using detail::joinNames;

// Caps deferral and quiet hours can push each other forward (a deferred send lands in the night,
// the morning is capped again). Each round moves time forward, and real histories settle in two or
// three; the bound only stops a pathological history from spinning.
constexpr int kMaxSchedulingRounds = 16;

const CategoryPolicy& resolveCategory(const std::string& name, const PolicyConfig& config,
                                      CategoryPolicy& fallback, std::vector<TraceStep>& trace) {
  auto it = config.categories.find(name);
  if (it != config.categories.end()) {
    const CategoryPolicy& category = it->second;
    std::string traits = category.bypass_caps ? "bypasses caps" : "caps apply";
    traits += category.quiet_hours
                  ? (category.quiet_action == QuietAction::Drop ? ", quiet hours drop"
                                                                : ", quiet hours defer")
                  : ", no quiet hours";
    traits += ", dedupe window " + formatDuration(category.dedupe_window);
    trace.push_back({"category", name + ": " + traits});
    return category;
  }
  fallback.name = name;
  // An unconfigured "transactional" still behaves as the word promises.
  fallback.bypass_caps = name == "transactional";
  trace.push_back({"category", name + ": not configured, using defaults" +
                                   std::string(fallback.bypass_caps ? " (bypasses caps)" : "")});
  return fallback;
}

Decision suppress(Decision decision, std::string reason, std::string rule, std::string why) {
  decision.outcome = Outcome::Suppress;
  decision.trace.push_back({"outcome", "suppressed: " + why});
  decision.reason = std::move(reason);
  decision.rule = std::move(rule);
  return decision;
}

// Quiet hours as they apply to this request; `hours` unset means they do not.
struct QuietContext {
  std::optional<QuietHours> hours;
  QuietAction action = QuietAction::Defer;
  detail::LocalZone zone;
  std::string label;  // "22:00-08:00 Europe/Moscow"
};

QuietContext prepareQuietHours(const SendRequest& request, const CustomerProfile& profile,
                               const CategoryPolicy& category, const PolicyConfig& config,
                               std::vector<TraceStep>& trace) {
  QuietContext quiet;
  if (!category.quiet_hours) {
    trace.push_back({"quiet_hours", "not used by category " + category.name});
    return quiet;
  }
  if (category.bypass_caps || request.priority == "high") {
    trace.push_back({"quiet_hours", category.bypass_caps ? "bypassed: category " + category.name +
                                                               " bypasses caps and quiet hours"
                                                         : "bypassed: priority high"});
    return quiet;
  }
  const std::optional<QuietHours>& hours =
      profile.quiet_hours ? profile.quiet_hours : config.default_quiet_hours;
  if (!hours) {
    trace.push_back({"quiet_hours", "none set"});
    return quiet;
  }
  std::string note;
  quiet.zone = detail::locateZoneOrUtc(profile.timezone, &note);
  if (!note.empty()) trace.push_back({"quiet_hours", note});
  quiet.hours = hours;
  quiet.action = category.quiet_action;
  quiet.label =
      formatQuietHours(*hours) + " " + quiet.zone.name + (profile.quiet_hours ? "" : " (default)");
  return quiet;
}

}  // namespace

Decision decide(const SendRequest& request, const CustomerProfile& profile,
                const CustomerState& state, const PolicyConfig& config, SysTime now) {
  Decision decision;
  std::vector<TraceStep>& trace = decision.trace;
  CategoryPolicy fallback;
  const CategoryPolicy& category = resolveCategory(request.category, config, fallback, trace);

  if (profile.opt_out.contains(request.category)) {
    trace.push_back({"opt_out", "customer opted out of " + request.category});
    return suppress(std::move(decision), "opted_out", request.category,
                    "opted out of " + request.category);
  }
  trace.push_back({"opt_out", "not opted out of " + request.category});

  detail::ChannelPlan plan = detail::planChannels(request, profile, category, config, trace);
  if (plan.channels.empty()) {
    return plan.opt_out_removed_a_channel
               ? suppress(std::move(decision), "opted_out", "", "every usable channel is opted out")
               : suppress(std::move(decision), "no_channel", "",
                          "no channel can reach the customer");
  }
  decision.plan = plan.channels;

  if (request.dedupe_key) {
    const std::string& key = *request.dedupe_key;
    const DedupeRecord* earlier =
        detail::findDuplicate(state.dedupe, key, category.dedupe_window, now);
    if (earlier != nullptr) {
      trace.push_back({"dedupe", "key '" + key + "' taken by message " + earlier->message_id +
                                     " at " + formatRfc3339(earlier->at) + " (window " +
                                     formatDuration(category.dedupe_window) + ") → suppressed"});
      decision.duplicate_of = earlier->message_id;
      return suppress(std::move(decision), "duplicate", key,
                      "duplicate of message " + earlier->message_id);
    }
    trace.push_back(
        {"dedupe", "key '" + key + "' not seen within " + formatDuration(category.dedupe_window)});
  } else {
    trace.push_back({"dedupe", "no dedupe key"});
  }

  SysTime start = now;
  std::string start_reason;
  if (request.send_at) {
    if (*request.send_at > now) {
      start = *request.send_at;
      start_reason = "send_at";
      trace.push_back({"schedule", "send_at " + formatRfc3339(start)});
    } else {
      trace.push_back(
          {"schedule", "send_at " + formatRfc3339(*request.send_at) + " has passed; sending now"});
    }
  }

  const QuietContext quiet = prepareQuietHours(request, profile, category, config, trace);
  // Moves `at` to the end of the quiet window it falls in; false when the category drops instead.
  auto clearQuietHours = [&](SysTime& at, std::string& reason) {
    if (!quiet.hours) return true;
    const std::string local = detail::formatLocal(quiet.zone, at);
    std::optional<SysTime> ends = detail::quietWindowEnd(*quiet.hours, quiet.zone, at);
    if (!ends) {
      trace.push_back({"quiet_hours", quiet.label + ": local " + local + " is outside"});
      return true;
    }
    if (quiet.action == QuietAction::Drop) {
      trace.push_back(
          {"quiet_hours", quiet.label + ": local " + local + " is inside → suppressed"});
      return false;
    }
    trace.push_back({"quiet_hours", quiet.label + ": local " + local + " is inside → deferred to " +
                                        formatRfc3339(*ends) + " (local " +
                                        detail::formatLocal(quiet.zone, *ends) + ")"});
    at = *ends;
    reason = "quiet_hours";
    return true;
  };

  std::string base_reason = start_reason;
  SysTime base = start;
  if (!clearQuietHours(base, base_reason)) {
    return suppress(std::move(decision), "quiet_hours", formatQuietHours(*quiet.hours),
                    "inside quiet hours " + quiet.label);
  }

  std::string bypass_reason;
  if (category.bypass_caps) {
    bypass_reason = "category " + category.name + " bypasses caps";
  } else if (request.priority == "high") {
    bypass_reason = "priority high";
  }

  std::string last_cap_rule;
  for (std::size_t index = 0; index < plan.channels.size(); ++index) {
    const std::string& channel = plan.channels[index];
    SysTime at = base;
    std::string reason = base_reason;
    std::string rule = reason == "quiet_hours" ? formatQuietHours(*quiet.hours) : "";
    bool next_channel = false;
    for (int round = 0; round < kMaxSchedulingRounds && !next_channel; ++round) {
      detail::CapResult caps = detail::evaluateCaps(config.caps, state.sends, category.name,
                                                    channel, bypass_reason, at, now, trace);
      switch (caps.verdict) {
        case CapVerdict::Allow: {
          decision.plan.assign(plan.channels.begin() + static_cast<std::ptrdiff_t>(index),
                               plan.channels.end());
          decision.channel = channel;
          const std::vector<std::string> fallbacks(decision.plan.begin() + 1, decision.plan.end());
          const std::string fallback_note =
              fallbacks.empty() ? "" : "; then " + joinNames(fallbacks);
          if (at > now) {
            decision.outcome = Outcome::Schedule;
            decision.not_before = at;
            decision.reason = reason;
            decision.rule = rule;
            trace.push_back({"outcome", "scheduled via " + channel + " at " + formatRfc3339(at) +
                                            " (" + reason + ")" + fallback_note});
          } else {
            decision.outcome = Outcome::Send;
            trace.push_back({"outcome", "send now via " + channel + fallback_note});
          }
          return decision;
        }
        case CapVerdict::Drop:
          return suppress(std::move(decision), "capped", caps.rule,
                          "capped by " + caps.rule + " on " + channel);
        case CapVerdict::NextChannel:
          last_cap_rule = caps.rule;
          next_channel = true;
          break;
        case CapVerdict::Defer:
          at = caps.at;
          reason = "capped";
          rule = caps.rule;
          if (!clearQuietHours(at, reason)) {
            return suppress(std::move(decision), "quiet_hours", formatQuietHours(*quiet.hours),
                            "capped until quiet hours " + quiet.label);
          }
          if (reason == "quiet_hours") rule = formatQuietHours(*quiet.hours);
          break;
      }
    }
    if (!next_channel) {
      return suppress(std::move(decision), "capped", rule,
                      "no time found that both caps and quiet hours allow on " + channel);
    }
  }
  return suppress(std::move(decision), "capped", last_cap_rule,
                  "every planned channel is capped (last: " + last_cap_rule + ")");
}

void recordSend(CustomerState& state, const Decision& decision, const SendRequest& request,
                const std::string& message_id, SysTime now) {
  if (decision.outcome == Outcome::Suppress) return;
  const SysTime at = decision.not_before.value_or(now);
  auto by_time = [](SysTime t, const auto& record) { return t < record.at; };
  state.sends.insert(std::upper_bound(state.sends.begin(), state.sends.end(), at, by_time),
                     SendRecord{at, request.category, decision.channel, message_id});
  if (request.dedupe_key) {
    state.dedupe.insert(std::upper_bound(state.dedupe.begin(), state.dedupe.end(), at, by_time),
                        DedupeRecord{*request.dedupe_key, at, message_id});
  }
}

void pruneState(CustomerState& state, const PolicyConfig& config, SysTime now) {
  Millis send_horizon{0};
  for (const auto& rule : config.caps) {
    send_horizon = std::max({send_horizon, rule.window, rule.min_interval});
  }
  // Unconfigured categories dedupe with the default window.
  Millis dedupe_horizon = CategoryPolicy{}.dedupe_window;
  for (const auto& [name, category] : config.categories) {
    dedupe_horizon = std::max(dedupe_horizon, category.dedupe_window);
  }
  // Decisions are made at `now` or later, so a record whose window closed by `now` is invisible.
  std::erase_if(state.sends,
                [&](const SendRecord& record) { return record.at + send_horizon <= now; });
  std::erase_if(state.dedupe,
                [&](const DedupeRecord& record) { return record.at + dedupe_horizon <= now; });
}

CustomerState mergeStates(const CustomerState& a, const CustomerState& b) {
  CustomerState merged;
  merged.sends = a.sends;
  merged.sends.insert(merged.sends.end(), b.sends.begin(), b.sends.end());
  auto send_key = [](const SendRecord& r) {
    return std::tie(r.at, r.message_id, r.channel, r.category);
  };
  std::sort(merged.sends.begin(), merged.sends.end(),
            [&](const auto& x, const auto& y) { return send_key(x) < send_key(y); });
  merged.sends.erase(
      std::unique(merged.sends.begin(), merged.sends.end(),
                  [&](const auto& x, const auto& y) { return send_key(x) == send_key(y); }),
      merged.sends.end());

  merged.dedupe = a.dedupe;
  merged.dedupe.insert(merged.dedupe.end(), b.dedupe.begin(), b.dedupe.end());
  auto dedupe_key = [](const DedupeRecord& r) { return std::tie(r.at, r.key, r.message_id); };
  std::sort(merged.dedupe.begin(), merged.dedupe.end(),
            [&](const auto& x, const auto& y) { return dedupe_key(x) < dedupe_key(y); });
  merged.dedupe.erase(
      std::unique(merged.dedupe.begin(), merged.dedupe.end(),
                  [&](const auto& x, const auto& y) { return dedupe_key(x) == dedupe_key(y); }),
      merged.dedupe.end());
  return merged;
}

Result<OnCap> parseOnCap(std::string_view text) {
  if (text == "drop") return OnCap::Drop;
  if (text == "defer") return OnCap::Defer;
  if (text == "next_channel") return OnCap::NextChannel;
  return makeError("invalid_on_cap", "on_cap is \"drop\", \"defer\" or \"next_channel\", got '" +
                                         std::string(text) + "'");
}

Result<QuietAction> parseQuietAction(std::string_view text) {
  if (text == "defer") return QuietAction::Defer;
  if (text == "drop") return QuietAction::Drop;
  return makeError("invalid_quiet_action",
                   "quiet hours action is \"defer\" or \"drop\", got '" + std::string(text) + "'");
}

std::string_view toString(Outcome outcome) {
  switch (outcome) {
    case Outcome::Send:
      return "send";
    case Outcome::Schedule:
      return "schedule";
    case Outcome::Suppress:
      return "suppress";
  }
  return "suppress";
}

}  // namespace omnigate::policy
