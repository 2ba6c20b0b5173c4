#pragma once

// Durations as admins and callers write them: "250ms", "90s", "15m", "2h", "7d", or a
// combination such as "1h30m". Times are RFC 3339; the daemon always writes UTC with a "Z".

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/common/result.h"

namespace omnigate {

using Millis = std::chrono::milliseconds;
using SysTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

Result<Millis> parseDuration(std::string_view text);
std::string formatDuration(Millis duration);

// Accepts "2026-11-23T10:00:00Z", fractional seconds and numeric offsets ("+03:00").
Result<SysTime> parseRfc3339(std::string_view text);
std::string formatRfc3339(SysTime time);

inline std::int64_t toUnixMillis(SysTime t) { return t.time_since_epoch().count(); }
inline SysTime fromUnixMillis(std::int64_t ms) { return SysTime(Millis(ms)); }

}  // namespace omnigate
