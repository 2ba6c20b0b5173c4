#pragma once

// The admission policy: given a send request, the customer's profile and history, and the admin's
// configuration, decide whether a message goes out now, later, or not at all, on which channels,
// and why.
//
// The library is pure. It reads no clock and does no I/O: `now` and every piece of state come in as
// arguments, and the daemon applies the result (recordSend) on the customer's strand, so decisions
// for one customer are exact whatever the concurrency.
//
// Times are half-open: a record made at T counts in a window W during [T, T + W). A send exactly
// one window ago no longer counts; one a millisecond later still does.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/common/duration.h"
#include "daemon/common/result.h"

namespace omnigate::policy {

// Channel names as the API spells them. "messenger" is reached through the telegram contact.
inline constexpr std::string_view kEmail = "email";
inline constexpr std::string_view kSms = "sms";
inline constexpr std::string_view kPush = "push";
inline constexpr std::string_view kMessenger = "messenger";

struct PushToken {
  std::string platform;  // "fcm", "apns", ...
  std::string token;
};

struct Contacts {
  std::optional<std::string> email;
  std::optional<std::string> phone;
  std::optional<std::string> telegram;
  std::vector<PushToken> push;
  // Contacts a provider reported dead: "email", "phone", "telegram", "push" (every token) or
  // "push:<token>".
  std::set<std::string> invalid;
};

// Minutes after local midnight. The window is [start, end); start > end crosses midnight.
struct QuietHours {
  int start_minute = 0;
  int end_minute = 0;
};

// Per-channel engagement, counted per attempt. `delivered` includes attempts later read.
struct ChannelStats {
  std::int64_t attempts = 0;
  std::int64_t delivered = 0;
  std::int64_t read = 0;
};

struct CustomerProfile {
  std::string id;
  Contacts contacts;
  std::vector<std::string> preferred_channels;
  // "<category>" stops that category on every channel, "<channel>" stops every category on that
  // channel, "<category>:<channel>" stops one category on one channel.
  std::set<std::string> opt_out;
  std::optional<QuietHours> quiet_hours;  // unset: the config's default_quiet_hours
  std::string timezone;                   // IANA name; empty or unknown means UTC
  std::string locale;
  std::map<std::string, ChannelStats> stats;  // by channel
};

enum class QuietAction { Defer, Drop };
enum class OnCap { Drop, Defer, NextChannel };

struct CategoryPolicy {
  std::string name;
  std::vector<std::string> channels;  // default order; empty: the global default
  bool quiet_hours = false;
  QuietAction quiet_action = QuietAction::Defer;
  // Transactional categories: skip caps (unless a rule says applies_to_bypass) and quiet hours.
  bool bypass_caps = false;
  Millis dedupe_window = std::chrono::hours(24);
  std::vector<std::string> stop_on;  // event names that cancel pending messages (daemon's job)
};

// At most `limit` sends in any rolling `window`, and none closer than `min_interval` to another
// counted send. `limit` 0 means the rule only enforces the interval. Sends of every category and
// priority count when they match the filters; bypass only exempts the message being decided.
struct CapRule {
  std::string name;
  std::optional<std::string> category;
  std::optional<std::string> channel;
  int limit = 0;
  Millis window{0};
  Millis min_interval{0};
  OnCap on_cap = OnCap::Drop;
  bool applies_to_bypass = false;
};

struct PolicyConfig {
  std::vector<std::string> default_channels;
  std::map<std::string, CategoryPolicy> categories;
  std::vector<CapRule> caps;  // evaluated in this order; the first blocking rule is named
  std::set<std::string> configured_channels;  // channels with at least one provider
  std::optional<QuietHours> default_quiet_hours;
  int min_history_attempts = 3;  // attempts a channel needs before its history ranks it
};

// A message accepted for a channel, at the time it goes (or is scheduled to go) out.
struct SendRecord {
  SysTime at;
  std::string category;
  std::string channel;
  std::string message_id;
};

struct DedupeRecord {
  std::string key;
  SysTime at;
  std::string message_id;
};

// The customer's history that policy needs. Keep it pruned (pruneState) so decisions stay cheap.
struct CustomerState {
  std::vector<SendRecord> sends;  // ordered by `at`
  std::vector<DedupeRecord> dedupe;
};

struct SendRequest {
  std::string category = "transactional";
  std::vector<std::string> channels;  // explicit order from the caller; empty: choose
  // Channels the message has content for. Empty: every channel (a template renders them all).
  std::set<std::string> content_channels;
  std::string priority = "normal";  // "low" | "normal" | "high"; high bypasses caps and quiet hours
  std::optional<std::string> dedupe_key;  // the daemon fills in defaultDedupeKey when none is given
  std::optional<SysTime> send_at;
};

enum class Outcome { Send, Schedule, Suppress };

struct TraceStep {
  std::string step;
  std::string result;

  bool operator==(const TraceStep&) const = default;
};

struct Decision {
  Outcome outcome = Outcome::Suppress;
  // Channels to try in order, starting with `channel`. When suppressed after planning, the plan
  // that was considered; empty when suppressed before planning.
  std::vector<std::string> plan;
  std::string channel;
  std::optional<SysTime> not_before;  // set when scheduled
  // Why it was scheduled or suppressed: "send_at", "quiet_hours", "capped", "duplicate",
  // "opted_out", "no_channel". Empty for an immediate send.
  std::string reason;
  std::string rule;          // the cap rule, opt-out entry or dedupe key that decided
  std::string duplicate_of;  // the earlier message id when reason is "duplicate"
  std::vector<TraceStep> trace;
};

// The whole decision. Never throws; an unusable time zone falls back to UTC and says so.
Decision decide(const SendRequest& request, const CustomerProfile& profile,
                const CustomerState& state, const PolicyConfig& config, SysTime now);

// Applies an accepted (sent or scheduled) decision so the next decision for this customer sees it:
// the send counts against caps at its send time and the dedupe key is remembered from then. A
// suppressed decision changes nothing.
void recordSend(CustomerState& state, const Decision& decision, const SendRequest& request,
                const std::string& message_id, SysTime now);

// Drops records that no window in `config` can see any more.
void pruneState(CustomerState& state, const PolicyConfig& config, SysTime now);

// One person, one history: the union of both customers' sends and dedupe keys.
CustomerState mergeStates(const CustomerState& a, const CustomerState& b);

// Orders `channels` by this customer's delivery rate (delivered / attempts), read rate breaking
// ties. Only channels with at least `min_attempts` attempts are compared; they are reordered among
// the positions they held, and channels with too little history stay where they were. Equal rates
// keep their original order.
std::vector<std::string> rankChannelsByHistory(const std::vector<std::string>& channels,
                                               const std::map<std::string, ChannelStats>& stats,
                                               int min_attempts);

// "22:00", "08:00" → {1320, 480}. Error code "invalid_quiet_hours".
Result<QuietHours> parseQuietHours(std::string_view start, std::string_view end);
std::string formatQuietHours(const QuietHours& hours);  // "22:00-08:00"

// A stable fingerprint (FNV-1a 64, 16 lowercase hex digits) of the template and its data, for
// messages sent without a dedupe_key. The data must be canonical JSON (sorted keys, no spaces), so
// equal data gives equal keys.
std::string defaultDedupeKey(std::string_view template_id, std::string_view canonical_data);

// Config spellings: "drop" | "defer" | "next_channel" and "defer" | "drop".
Result<OnCap> parseOnCap(std::string_view text);
Result<QuietAction> parseQuietAction(std::string_view text);
std::string_view toString(Outcome outcome);  // "send" | "schedule" | "suppress"

}  // namespace omnigate::policy
