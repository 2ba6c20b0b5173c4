#include <charconv>
#include <chrono>
#include <exception>
#include <string>

#include "policy/policy.h"
#include "policy/steps.h"

namespace omnigate::policy {
namespace {

using LocalMillis = date::local_time<Millis>;

// Exactly "HH:MM", 00:00 to 23:59.
std::optional<int> parseClock(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  auto twoDigits = [](std::string_view digits) -> std::optional<int> {
    int value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return value;
  };
  if (text[0] < '0' || text[0] > '9' || text[3] < '0' || text[3] > '9') return std::nullopt;
  auto hours = twoDigits(text.substr(0, 2));
  auto minutes = twoDigits(text.substr(3, 2));
  if (!hours || !minutes || *hours > 23 || *minutes > 59) return std::nullopt;
  return *hours * 60 + *minutes;
}

std::string formatClock(int minute_of_day) {
  std::string text = "00:00";
  text[0] = static_cast<char>('0' + minute_of_day / 600);
  text[1] = static_cast<char>('0' + minute_of_day / 60 % 10);
  text[3] = static_cast<char>('0' + minute_of_day % 60 / 10);
  text[4] = static_cast<char>('0' + minute_of_day % 10);
  return text;
}

LocalMillis toLocal(const detail::LocalZone& zone, SysTime at) {
  if (zone.zone == nullptr) return LocalMillis(at.time_since_epoch());
  return zone.zone->to_local(at);
}

SysTime toSys(const detail::LocalZone& zone, LocalMillis local, date::choose choice) {
  if (zone.zone == nullptr) return SysTime(local.time_since_epoch());
  return zone.zone->to_sys(local, choice);
}

}  // namespace

Result<QuietHours> parseQuietHours(std::string_view start, std::string_view end) {
  auto start_minute = parseClock(start);
  auto end_minute = parseClock(end);
  if (!start_minute || !end_minute) {
    return makeError("invalid_quiet_hours", "quiet hours are \"HH:MM\" from 00:00 to 23:59, got '" +
                                                std::string(start) + "' to '" + std::string(end) +
                                                "'");
  }
  if (*start_minute == *end_minute) {
    return makeError("invalid_quiet_hours", "quiet hours start and end at the same time (" +
                                                std::string(start) + "); leave them unset instead");
  }
  return QuietHours{*start_minute, *end_minute};
}

std::string formatQuietHours(const QuietHours& hours) {
  return formatClock(hours.start_minute) + "-" + formatClock(hours.end_minute);
}

namespace detail {

LocalZone locateZoneOrUtc(const std::string& name, std::string* note) {
  if (name.empty()) {
    *note = "no time zone set, using UTC";
    return {};
  }
  try {
    return {date::locate_zone(name), name};
  } catch (const std::exception&) {
    // Unknown names and an unreadable zone database both land here.
    *note = "unknown time zone '" + name + "', using UTC";
    return {};
  }
}

std::optional<SysTime> quietWindowEnd(const QuietHours& hours, const LocalZone& zone, SysTime at) {
  constexpr std::int64_t kMinute = 60'000;
  const LocalMillis local = toLocal(zone, at);
  const date::local_days day = date::floor<date::days>(local);
  const std::int64_t time_of_day = (local - day).count();
  const std::int64_t start = hours.start_minute * kMinute;
  const std::int64_t end = hours.end_minute * kMinute;
  const bool crosses_midnight = hours.start_minute > hours.end_minute;
  const bool inside = crosses_midnight ? (time_of_day >= start || time_of_day < end)
                                       : (time_of_day >= start && time_of_day < end);
  if (!inside) return std::nullopt;
  const date::local_days end_day =
      crosses_midnight && time_of_day >= start ? day + date::days(1) : day;
  const LocalMillis local_end = end_day + std::chrono::minutes(hours.end_minute);
  SysTime ends = toSys(zone, local_end, date::choose::earliest);
  if (ends <= at) ends = toSys(zone, local_end, date::choose::latest);
  if (ends <= at) return std::nullopt;  // the clock cannot show the end again after `at`
  return ends;
}

std::string formatLocal(const LocalZone& zone, SysTime at) {
  return date::format("%Y-%m-%d %H:%M", date::floor<std::chrono::minutes>(toLocal(zone, at)));
}

}  // namespace detail
}  // namespace omnigate::policy
