// Durations, RFC 3339 times and byte sizes: what admins write in the config and callers send as
// "ttl" and "send_at". Every parser sees the whole input; whatever parses must format back to
// text that parses to the same value, since the daemon stores and shows the formatted form.

#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/common/byte_size.h"
#include "daemon/common/duration.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using omnigate::fuzz::asView;

constexpr std::int64_t kHundredYearsMs = std::int64_t{100} * 365 * 86'400'000;

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

void checkDuration(std::string_view text) {
  auto parsed = omnigate::parseDuration(text);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == "invalid_duration");
    FUZZ_CHECK(!parsed.error().message.empty());
    return;
  }
  FUZZ_LOG("duration %lld ms", static_cast<long long>(parsed->count()));
  FUZZ_CHECK(!text.empty());
  FUZZ_CHECK(parsed->count() >= 0 && parsed->count() <= kHundredYearsMs);
  std::string formatted = omnigate::formatDuration(*parsed);
  auto again = omnigate::parseDuration(formatted);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *parsed);
  FUZZ_CHECK(omnigate::formatDuration(*again) == formatted);
}

void checkTime(std::string_view text) {
  if (omnigate::fuzz::hitsDanglingOffsetSign(text)) return;
  if (omnigate::fuzz::hitsUnreadableSeconds(text)) return;
  auto parsed = omnigate::parseRfc3339(text);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == "invalid_time");
    return;
  }
  // The daemon always writes UTC with a "Z"; what it writes must read back as the same instant.
  std::string formatted = omnigate::formatRfc3339(*parsed);
  FUZZ_LOG("time %s", formatted.c_str());
  FUZZ_CHECK(!formatted.empty() && formatted.back() == 'Z');
  if (omnigate::fuzz::hitsYearOutsideFourDigits(formatted)) return;
  auto again = omnigate::parseRfc3339(formatted);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *parsed);
  FUZZ_CHECK(omnigate::formatRfc3339(*again) == formatted);
  FUZZ_CHECK(omnigate::fromUnixMillis(omnigate::toUnixMillis(*parsed)) == *parsed);
}

void checkByteSize(std::string_view text) {
  auto parsed = omnigate::parseByteSize(text);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == "invalid_size");
    return;
  }
  // Accepted text is digits, one optional space, then a unit: never a sign or leading space.
  FUZZ_LOG("size %zu", *parsed);
  FUZZ_CHECK(!text.empty() && isAsciiDigit(text.front()));
  FUZZ_CHECK(text.back() != ' ');
  // Without a unit the value is the number itself.
  bool digits_only = true;
  for (char c : text) digits_only = digits_only && isAsciiDigit(c);
  if (digits_only) {
    auto again = omnigate::parseByteSize(std::to_string(*parsed));
    FUZZ_CHECK(again.ok() && *again == *parsed);
  }
  // Adding a unit of bytes changes nothing.
  if (digits_only) {
    auto with_unit = omnigate::parseByteSize(std::string(text) + "B");
    FUZZ_CHECK(with_unit.ok() && *with_unit == *parsed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = asView(data, size);
  checkDuration(text);
  checkTime(text);
  checkByteSize(text);
  // Config values arrive one per line in practice; each line on its own is a parser input too.
  for (const auto& line : omnigate::fuzz::splitLines(text)) {
    checkDuration(line);
    checkTime(line);
    checkByteSize(line);
  }
  return 0;
}
