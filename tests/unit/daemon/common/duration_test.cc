#include "daemon/common/duration.h"

#include <gtest/gtest.h>

namespace omnigate {
namespace {

TEST(ParseDuration, AcceptsUnitsAndCombinations) {
  struct Case {
    const char* text;
    std::int64_t ms;
  } cases[] = {{"250ms", 250},   {"90s", 90'000},         {"15m", 900'000},
               {"2h", 7'200'000}, {"7d", 604'800'000},    {"1h30m", 5'400'000},
               {"0s", 0},         {"1d2h3m4s5ms", 93'784'005}};
  for (const auto& c : cases) {
    auto parsed = parseDuration(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed->count(), c.ms) << c.text;
  }
}

TEST(ParseDuration, RejectsMalformed) {
  for (const char* text : {"", "90", "s", "-5s", "5x", "1.5h", "5 s", "999999999999999999d"}) {
    auto parsed = parseDuration(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code, "invalid_duration");
    }
  }
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
  EXPECT_EQ(formatDuration(Millis(0)), "0s");
  EXPECT_EQ(formatDuration(Millis(1500)), "1500ms");
  EXPECT_EQ(formatDuration(Millis(120'000)), "2m");
  EXPECT_EQ(formatDuration(Millis(86'400'000)), "1d");
}

TEST(Rfc3339, ParsesZuluOffsetsAndFractions) {
  struct Case {
    const char* text;
    std::int64_t unix_ms;
  } cases[] = {{"2026-11-23T10:00:00Z", 1795428000000},
               {"2026-11-23T13:00:00+03:00", 1795428000000},
               {"2026-11-23T10:00:00.250Z", 1795428000250},
               {"2026-11-23t10:00:00.2509999z", 1795428000250},
               {"2026-11-23T05:30:00-04:30", 1795428000000},
               {"2024-02-29T00:00:00Z", 1709164800000},
               {"1970-01-01T00:00:00Z", 0}};
  for (const auto& c : cases) {
    auto parsed = parseRfc3339(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text;
    EXPECT_EQ(toUnixMillis(*parsed), c.unix_ms) << c.text;
  }
}

TEST(Rfc3339, RejectsMalformed) {
  // The sign-only offset and the bad seconds field were undefined behaviour in date::parse.
  for (const char* text :
       {"", "2026-11-23", "2026-11-23 10:00:00Z", "2026-13-01T00:00:00Z", "2026-11-23T10:00:00",
        "2026-11-23T10:00:00Zjunk", "tomorrow", "2026-11-23T10:00:00-", "2026-11-23T13:00:xxZ",
        "-026-11-23T13:00:00Z", "2026-11-23T13:00:00+3", "2026-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z", "2026-11-23T10:00:60Z", "2026-11-23T10:00:00.Z",
        "9999-12-31T23:59:59-00:30", "2026-11-23T10:00:00+24:00"}) {
    EXPECT_FALSE(parseRfc3339(text).ok()) << text;
  }
}

TEST(Rfc3339, FormatRoundTrips) {
  auto t = fromUnixMillis(1795428000250);
  EXPECT_EQ(formatRfc3339(t), "2026-11-23T10:00:00.250Z");
  EXPECT_EQ(formatRfc3339(fromUnixMillis(1795428000000)), "2026-11-23T10:00:00Z");
  EXPECT_EQ(toUnixMillis(*parseRfc3339(formatRfc3339(t))), 1795428000250);
}

}  // namespace
}  // namespace omnigate
