#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/steps.h"

namespace omnigate::policy::detail {
namespace {

using Ms = std::int64_t;

Ms msOf(SysTime t) { return t.time_since_epoch().count(); }
SysTime timeOf(Ms ms) { return SysTime(Millis(ms)); }

bool ruleCovers(const CapRule& rule, const std::string& category, const std::string& channel) {
  return (!rule.category || *rule.category == category) &&
         (!rule.channel || *rule.channel == channel);
}

// A rule with the sends it counts, as sorted times.
struct CountedSends {
  const CapRule* rule;
  std::vector<Ms> times;

  bool countsWindow() const { return rule->limit > 0 && rule->window.count() > 0; }
  bool countsInterval() const { return rule->min_interval.count() > 0; }
};

CountedSends collect(const CapRule& rule, const std::vector<SendRecord>& sends) {
  CountedSends counted{&rule, {}};
  for (const auto& send : sends) {
    if (ruleCovers(rule, send.category, send.channel)) counted.times.push_back(msOf(send.at));
  }
  std::sort(counted.times.begin(), counted.times.end());
  return counted;
}

// The most sends in one window [s, s + window) that also contains t, so that sends already
// scheduled after t count as exactly as the past ones. Moving s to the right only loses sends on
// the left, except when a send after t enters on the right; the busiest windows therefore start
// just after t - window or just where a later send enters.
int busiestWindowAround(const std::vector<Ms>& times, Ms t, Ms window) {
  const auto first = std::upper_bound(times.begin(), times.end(), t - window);
  const auto last = std::lower_bound(first, times.end(), t + window);
  auto lo = first;
  auto hi = first;
  std::ptrdiff_t busiest = 0;
  // Binary searches rather than walking: deferral calls this once per candidate time, and a long
  // burst of counted sends would otherwise make that quadratic.
  auto windowFrom = [&](Ms s) {
    lo = std::lower_bound(lo, last, s);
    hi = std::lower_bound(std::max(hi, lo), last, s + window);
    busiest = std::max(busiest, hi - lo);
  };
  windowFrom(t - window + 1);
  for (auto later = std::upper_bound(first, last, t); later != last; ++later) {
    windowFrom(*later - window + 1);
  }
  return static_cast<int>(busiest);
}

// A counted send closer to t than the minimum interval, in either direction.
std::optional<Ms> sendWithinInterval(const std::vector<Ms>& times, Ms t, Ms interval) {
  auto it = std::upper_bound(times.begin(), times.end(), t - interval);
  if (it != times.end() && *it < t + interval) return *it;
  return std::nullopt;
}

struct RuleCheck {
  bool blocked = false;
  int count = 0;
  std::optional<Ms> too_close;
};

RuleCheck check(const CountedSends& counted, Ms t) {
  RuleCheck result;
  if (counted.countsWindow()) {
    result.count = busiestWindowAround(counted.times, t, counted.rule->window.count());
    result.blocked = result.count >= counted.rule->limit;
  }
  if (counted.countsInterval()) {
    result.too_close = sendWithinInterval(counted.times, t, counted.rule->min_interval.count());
    result.blocked = result.blocked || result.too_close.has_value();
  }
  return result;
}

bool anyBlocks(const std::vector<CountedSends>& rules, Ms t) {
  return std::any_of(rules.begin(), rules.end(),
                     [t](const CountedSends& counted) { return check(counted, t).blocked; });
}

// The first time after t at which every rule allows the send. A rule stops blocking only when a
// counted send leaves its window or its interval ends, so those moments are the only candidates.
Ms earliestAllowed(const std::vector<CountedSends>& rules, Ms t) {
  std::vector<Ms> candidates;
  for (const auto& counted : rules) {
    for (Ms at : counted.times) {
      if (counted.countsWindow() && at + counted.rule->window.count() > t) {
        candidates.push_back(at + counted.rule->window.count());
      }
      if (counted.countsInterval() && at + counted.rule->min_interval.count() > t) {
        candidates.push_back(at + counted.rule->min_interval.count());
      }
    }
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (Ms candidate : candidates) {
    if (!anyBlocks(rules, candidate)) return candidate;
  }
  // Unreachable: after the last candidate no counted send is visible to any rule.
  return candidates.empty() ? t : candidates.back();
}

std::string describe(const CountedSends& counted, const RuleCheck& result) {
  const CapRule& rule = *counted.rule;
  std::string text;
  if (counted.countsWindow()) {
    text = std::to_string(result.count) + " of " + std::to_string(rule.limit) + " in " +
           formatDuration(rule.window);
  }
  if (counted.countsInterval()) {
    if (!text.empty()) text += ", ";
    text += result.too_close
                ? "send at " + formatRfc3339(timeOf(*result.too_close)) + " is within the " +
                      formatDuration(rule.min_interval) + " minimum interval"
                : "none within " + formatDuration(rule.min_interval);
  }
  return text.empty() ? "sets no limit" : text;
}

}  // namespace

CapResult evaluateCaps(const std::vector<CapRule>& rules, const std::vector<SendRecord>& sends,
                       const std::string& category, const std::string& channel,
                       std::string_view bypass_reason, SysTime at, SysTime now,
                       std::vector<TraceStep>& trace) {
  const std::string when = at > now ? " at " + formatRfc3339(at) : "";
  std::vector<CountedSends> applicable;
  for (const auto& rule : rules) {
    if (!ruleCovers(rule, category, channel)) continue;
    if (!bypass_reason.empty() && !rule.applies_to_bypass) {
      trace.push_back(
          {"caps", rule.name + " (" + channel + "): bypassed, " + std::string(bypass_reason)});
      continue;
    }
    applicable.push_back(collect(rule, sends));
  }
  if (applicable.empty()) {
    trace.push_back({"caps", channel + ": no cap rule applies"});
    return {CapVerdict::Allow, at, {}};
  }

  const Ms t = msOf(at);
  std::vector<RuleCheck> results;
  results.reserve(applicable.size());
  const CountedSends* decider = nullptr;
  CapVerdict verdict = CapVerdict::Allow;
  // The harshest action among blocking rules wins; among equals, the first rule in config order.
  auto harshness = [](OnCap action) {
    switch (action) {
      case OnCap::Drop:
        return 3;
      case OnCap::NextChannel:
        return 2;
      case OnCap::Defer:
        return 1;
    }
    return 3;
  };
  for (const auto& counted : applicable) {
    results.push_back(check(counted, t));
    if (!results.back().blocked) continue;
    if (decider == nullptr || harshness(counted.rule->on_cap) > harshness(decider->rule->on_cap)) {
      decider = &counted;
    }
  }

  SysTime decided_at = at;
  std::string outcome;
  if (decider != nullptr) {
    switch (decider->rule->on_cap) {
      case OnCap::Drop:
        verdict = CapVerdict::Drop;
        outcome = "suppressed";
        break;
      case OnCap::NextChannel:
        verdict = CapVerdict::NextChannel;
        outcome = "next channel";
        break;
      case OnCap::Defer:
        verdict = CapVerdict::Defer;
        decided_at = timeOf(earliestAllowed(applicable, t));
        outcome = "deferred to " + formatRfc3339(decided_at);
        break;
    }
  }
  for (std::size_t i = 0; i < applicable.size(); ++i) {
    const CountedSends& counted = applicable[i];
    std::string verdict_text = !results[i].blocked   ? "ok"
                               : &counted == decider ? outcome
                                                     : "capped too";
    trace.push_back({"caps", counted.rule->name + " (" + channel + when +
                                 "): " + describe(counted, results[i]) + " → " + verdict_text});
  }
  return {verdict, decided_at, decider != nullptr ? decider->rule->name : std::string()};
}

}  // namespace omnigate::policy::detail
