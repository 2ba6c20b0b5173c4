#pragma once

// The steps `decide` is made of. Internal to policy/: the daemon uses policy.h. Each step appends
// its explanation to the trace.

#include <date/tz.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"

namespace omnigate::policy::detail {

// --- channel plan ---------------------------------------------------------------------------

bool hasValidContact(const Contacts& contacts, std::string_view channel);

struct ChannelPlan {
  std::vector<std::string> channels;
  // Some channel was usable but for the customer's opt-out: an empty plan is then the customer's
  // choice ("opted_out"), not an unreachable request ("no_channel").
  bool opt_out_removed_a_channel = false;
};

ChannelPlan planChannels(const SendRequest& request, const CustomerProfile& profile,
                         const CategoryPolicy& category, const PolicyConfig& config,
                         std::vector<TraceStep>& trace);

// --- dedupe ---------------------------------------------------------------------------------

// The earliest record of `key` still inside `window` at `now`, if any.
const DedupeRecord* findDuplicate(const std::vector<DedupeRecord>& records, std::string_view key,
                                  Millis window, SysTime now);

// --- quiet hours ----------------------------------------------------------------------------

// A zone lookup that never fails: nullptr stands for UTC.
struct LocalZone {
  const date::time_zone* zone = nullptr;
  std::string name = "UTC";
};

// Empty or unknown names give UTC and a note saying so.
LocalZone locateZoneOrUtc(const std::string& name, std::string* note);

// When `at` falls inside the quiet window (local wall clock in `zone`), the instant the window
// ends; nullopt when outside.
//
// DST: the end is the first instant after `at` at which the wall clock shows the end time. An end
// that does not exist that day (clocks jump forward over it) is the instant of the jump, which is
// what date::choose gives for a nonexistent time either way. An end that occurs twice (clocks set
// back) is the earlier occurrence (choose::earliest) unless that has already passed, in which case
// it is the later one (choose::latest): the customer keeps the quiet time the clock promised.
std::optional<SysTime> quietWindowEnd(const QuietHours& hours, const LocalZone& zone, SysTime at);

std::string formatLocal(const LocalZone& zone, SysTime at);  // "2026-03-08 01:30"

// --- frequency caps -------------------------------------------------------------------------

enum class CapVerdict { Allow, Defer, NextChannel, Drop };

struct CapResult {
  CapVerdict verdict = CapVerdict::Allow;
  SysTime at;        // Allow: the time checked; Defer: the earliest time every rule allows
  std::string rule;  // the rule that decided a non-Allow verdict
};

// Caps for one send of `category` on `channel` at `at`. `bypass_reason` non-empty exempts the send
// from rules without applies_to_bypass.
CapResult evaluateCaps(const std::vector<CapRule>& rules, const std::vector<SendRecord>& sends,
                       const std::string& category, const std::string& channel,
                       std::string_view bypass_reason, SysTime at, SysTime now,
                       std::vector<TraceStep>& trace);

// --- text -----------------------------------------------------------------------------------

std::string joinNames(const std::vector<std::string>& names);  // "push, email"

}  // namespace omnigate::policy::detail
