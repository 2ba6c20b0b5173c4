#include "daemon/common/duration.h"

// date::parse's seconds field trips GCC 12's -Wmaybe-uninitialized after inlining; the value is
// always written before use when the stream did not fail.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <date/date.h>

#include <charconv>
#include <sstream>

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

Result<SysTime> parseRfc3339(std::string_view text) {
  const std::string input(text);
  auto fail = [&] {
    return makeError("invalid_time",
                     "'" + input + "' is not an RFC 3339 time like \"2026-11-23T10:00:00Z\"");
  };
  if (input.size() < 20 || (input[10] != 'T' && input[10] != 't')) return fail();
  std::istringstream in(input);
  date::sys_time<std::chrono::milliseconds> tp;
  if (input.back() == 'Z' || input.back() == 'z') {
    in >> date::parse("%Y-%m-%dT%H:%M:%S", tp);
    if (in.fail()) return fail();
    char z = 0;
    in >> z;
    if (z != 'Z' && z != 'z') return fail();
  } else {
    in >> date::parse("%Y-%m-%dT%H:%M:%S%Ez", tp);
    if (in.fail()) return fail();
  }
  if (in.peek() != std::char_traits<char>::eof()) return fail();
  return SysTime(tp.time_since_epoch());
}

std::string formatRfc3339(SysTime time) {
  auto ms = time.time_since_epoch().count() % 1000;
  if (ms == 0) {
    return date::format("%Y-%m-%dT%H:%M:%SZ", date::floor<std::chrono::seconds>(time));
  }
  return date::format("%Y-%m-%dT%H:%M:%SZ", time);
}

}  // namespace omnigate
