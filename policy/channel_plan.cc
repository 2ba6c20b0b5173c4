#include <algorithm>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/steps.h"

namespace omnigate::policy {
namespace {

bool hasEnoughHistory(const std::map<std::string, ChannelStats>& stats, const std::string& channel,
                      int min_attempts) {
  auto it = stats.find(channel);
  return it != stats.end() && it->second.attempts >= min_attempts;
}

// Exact fractions of equal value divide to the same double, so equal rates compare equal and keep
// their order.
double rate(std::int64_t part, std::int64_t attempts) {
  return static_cast<double>(part) / static_cast<double>(attempts);
}

std::string describeStats(const std::string& channel, const ChannelStats& s) {
  return channel + " " + std::to_string(s.delivered) + "/" + std::to_string(s.attempts) +
         " delivered, " + std::to_string(s.read) + " read";
}

}  // namespace

std::vector<std::string> rankChannelsByHistory(const std::vector<std::string>& channels,
                                               const std::map<std::string, ChannelStats>& stats,
                                               int min_attempts) {
  min_attempts = std::max(min_attempts, 1);
  std::vector<std::size_t> slots;
  std::vector<std::string> proven;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (hasEnoughHistory(stats, channels[i], min_attempts)) {
      slots.push_back(i);
      proven.push_back(channels[i]);
    }
  }
  std::stable_sort(proven.begin(), proven.end(), [&stats](const auto& a, const auto& b) {
    const ChannelStats& x = stats.at(a);
    const ChannelStats& y = stats.at(b);
    double delivered_x = rate(x.delivered, x.attempts);
    double delivered_y = rate(y.delivered, y.attempts);
    if (delivered_x != delivered_y) return delivered_x > delivered_y;
    return rate(x.read, x.attempts) > rate(y.read, y.attempts);
  });
  std::vector<std::string> ranked = channels;
  for (std::size_t i = 0; i < slots.size(); ++i) ranked[slots[i]] = proven[i];
  return ranked;
}

namespace detail {

bool hasValidContact(const Contacts& contacts, std::string_view channel) {
  auto usable = [&contacts](const std::optional<std::string>& value, const char* name) {
    return value && !value->empty() && !contacts.invalid.contains(name);
  };
  if (channel == kEmail) return usable(contacts.email, "email");
  if (channel == kSms) return usable(contacts.phone, "phone");
  if (channel == kMessenger) return usable(contacts.telegram, "telegram");
  if (channel == kPush) {
    if (contacts.invalid.contains("push")) return false;
    return std::any_of(contacts.push.begin(), contacts.push.end(), [&contacts](const auto& p) {
      return !p.token.empty() && !contacts.invalid.contains("push:" + p.token);
    });
  }
  return false;
}

ChannelPlan planChannels(const SendRequest& request, const CustomerProfile& profile,
                         const CategoryPolicy& category, const PolicyConfig& config,
                         std::vector<TraceStep>& trace) {
  std::vector<std::string> wanted;
  std::string origin;
  bool explicit_choice = true;
  if (!request.channels.empty()) {
    wanted = request.channels;
    origin = "requested";
  } else if (!profile.preferred_channels.empty()) {
    wanted = profile.preferred_channels;
    origin = "customer preference";
  } else if (!category.channels.empty()) {
    wanted = category.channels;
    origin = "category " + category.name + " default";
    explicit_choice = false;
  } else {
    wanted = config.default_channels;
    origin = "global default";
    explicit_choice = false;
  }
  trace.push_back({"plan", origin + ": " + (wanted.empty() ? "none" : joinNames(wanted))});

  if (!explicit_choice && wanted.size() > 1) {
    std::vector<std::string> ranked =
        rankChannelsByHistory(wanted, profile.stats, config.min_history_attempts);
    std::string evidence;
    for (const auto& channel : wanted) {
      if (hasEnoughHistory(profile.stats, channel, std::max(config.min_history_attempts, 1))) {
        evidence +=
            (evidence.empty() ? "" : "; ") + describeStats(channel, profile.stats.at(channel));
      }
    }
    if (evidence.empty()) {
      trace.push_back({"rank", "no channel has " + std::to_string(config.min_history_attempts) +
                                   " attempts yet; default order kept"});
    } else if (ranked == wanted) {
      trace.push_back({"rank", evidence + " → order kept"});
    } else {
      trace.push_back({"rank", evidence + " → " + joinNames(ranked)});
    }
    wanted = std::move(ranked);
  }

  ChannelPlan plan;
  const std::string& cat = category.name;
  for (const auto& channel : wanted) {
    if (std::find(plan.channels.begin(), plan.channels.end(), channel) != plan.channels.end()) {
      continue;
    }
    std::string why;
    if (!config.configured_channels.contains(channel)) {
      why = "no provider configured";
    } else if (!hasValidContact(profile.contacts, channel)) {
      why = "no valid contact";
    } else if (!request.content_channels.empty() && !request.content_channels.contains(channel)) {
      why = "no content for this channel";
    } else if (profile.opt_out.contains(channel)) {
      why = "customer opted out of " + channel;
      plan.opt_out_removed_a_channel = true;
    } else if (profile.opt_out.contains(cat + ":" + channel)) {
      why = "customer opted out of " + cat + " on " + channel;
      plan.opt_out_removed_a_channel = true;
    }
    if (why.empty()) {
      plan.channels.push_back(channel);
    } else {
      trace.push_back({"plan", channel + " skipped: " + why});
    }
  }
  trace.push_back({"plan", plan.channels.empty() ? "no channel left" : joinNames(plan.channels)});
  return plan;
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : ", ") + name;
  return joined;
}

}  // namespace detail
}  // namespace omnigate::policy
