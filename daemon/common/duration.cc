#include "daemon/common/duration.h"

#include <date/date.h>

#include <charconv>

namespace omnigate {

Result<Millis> parseDuration(std::string_view text) {
  if (text.empty()) return makeError("invalid_duration", "empty duration");
  const std::string original(text);
  std::int64_t total_ms = 0;
  while (!text.empty()) {
    std::int64_t number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc() || end == text.data() || number < 0) {
      return makeError("invalid_duration",
                       "'" + original + "' is not a duration like \"90s\", \"15m\", \"2h\", \"7d\"");
    }
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    std::int64_t unit_ms = 0;
    if (text.substr(0, 2) == "ms") {
      unit_ms = 1;
      text.remove_prefix(2);
    } else if (!text.empty() && text[0] == 's') {
      unit_ms = 1000;
    } else if (!text.empty() && text[0] == 'm') {
      unit_ms = 60'000;
    } else if (!text.empty() && text[0] == 'h') {
      unit_ms = 3'600'000;
    } else if (!text.empty() && text[0] == 'd') {
      unit_ms = 86'400'000;
    } else {
      return makeError("invalid_duration", "'" + original +
                                               "' needs a unit after each number: ms, s, m, h or d");
    }
    if (unit_ms != 1) text.remove_prefix(1);
    constexpr std::int64_t kMaxMs = std::int64_t{100} * 365 * 86'400'000;
    if (number > kMaxMs / unit_ms || total_ms + number * unit_ms > kMaxMs) {
      return makeError("invalid_duration", "'" + original + "' is longer than 100 years");
    }
    total_ms += number * unit_ms;
  }
  return Millis(total_ms);
}

std::string formatDuration(Millis duration) {
  auto ms = duration.count();
  if (ms == 0) return "0s";
  if (ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// Parsed by hand: date::parse overflows on a bare sign where the offset should be and reads an
// uninitialised seconds value when the field is malformed (both found by fuzz_duration).
// Accepted: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), 'T'/'Z' in either case, years
// 0000-9999, any number of fraction digits (kept to the millisecond), no leap seconds.
Result<SysTime> parseRfc3339(std::string_view text) {
  auto fail = [&] {
    return makeError("invalid_time", "'" + std::string(text.substr(0, 64)) +
                                         "' is not an RFC 3339 time like \"2026-11-23T10:00:00Z\"");
  };
  std::size_t pos = 0;
  auto digits = [&](std::size_t count, int& out) {
    if (pos + count > text.size()) return false;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      char c = text[pos + i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    pos += count;
    out = value;
    return true;
  };
  auto literal = [&](char a, char b = 0) {
    if (pos >= text.size() || (text[pos] != a && (b == 0 || text[pos] != b))) return false;
    ++pos;
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(4, year) || !literal('-') || !digits(2, month) || !literal('-') ||
      !digits(2, day) || !literal('T', 't') || !digits(2, hour) || !literal(':') ||
      !digits(2, minute) || !literal(':') || !digits(2, second)) {
    return fail();
  }
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t first = pos;
    int scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == first) return fail();
  }
  int offset_minutes = 0;
  if (literal('Z', 'z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hours = 0, offset_mins = 0;
    if (!digits(2, offset_hours) || !literal(':') || !digits(2, offset_mins) ||
        offset_hours > 23 || offset_mins > 59) {
      return fail();
    }
    offset_minutes = sign * (offset_hours * 60 + offset_mins);
  } else {
    return fail();
  }
  if (pos != text.size()) return fail();
  date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                           date::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 59) return fail();
  SysTime time = date::sys_days{ymd} + std::chrono::hours(hour) + std::chrono::minutes(minute) +
                 std::chrono::seconds(second) + std::chrono::milliseconds(millis) -
                 std::chrono::minutes(offset_minutes);
  // Only times formatRfc3339 can write back (years 0000-9999 in UTC).
  const auto utc_year = date::year_month_day{date::floor<date::days>(time)}.year();
  if (utc_year < date::year{0} || utc_year > date::year{9999}) return fail();
  return time;
}

std::string formatRfc3339(SysTime time) {
  auto ms = time.time_since_epoch().count() % 1000;
  if (ms == 0) {
    return date::format("%Y-%m-%dT%H:%M:%SZ", date::floor<std::chrono::seconds>(time));
  }
  return date::format("%Y-%m-%dT%H:%M:%SZ", time);
}

}  // namespace omnigate
