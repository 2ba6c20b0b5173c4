#include "daemon/common/byte_size.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

namespace omnigate {
namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t multiplier;
};

constexpr Unit kUnits[] = {
    {"", 1},
    {"B", 1},
    {"KiB", std::uint64_t{1} << 10},
    {"MiB", std::uint64_t{1} << 20},
    {"GiB", std::uint64_t{1} << 30},
    {"KB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
};

}  // namespace

Result<std::size_t> parseByteSize(std::string_view text) {
  const std::string original(text);
  auto malformed = [&] {
    return makeError("invalid_size", "'" + original +
                                         "' is not a size like \"1048576\", \"512B\", \"64KiB\", "
                                         "\"1MiB\", \"1GiB\", \"64KB\", \"10MB\" or \"1GB\"");
  };
  // from_chars would accept neither a sign nor whitespace, but checking first keeps "-1" and
  // " 1" from being reported as something else.
  if (text.empty() || text.front() < '0' || text.front() > '9') return malformed();
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc::result_out_of_range) {
    return makeError("invalid_size", "'" + original + "' is too large");
  }
  if (ec != std::errc()) return malformed();
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  if (!text.empty() && text.front() == ' ') {
    text.remove_prefix(1);
    if (text.empty()) return malformed();
  }
  for (const auto& unit : kUnits) {
    if (text != unit.suffix) continue;
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max());
    if (number > kMax / unit.multiplier) {
      return makeError("invalid_size", "'" + original + "' is too large");
    }
    return static_cast<std::size_t>(number * unit.multiplier);
  }
  return malformed();
}

}  // namespace omnigate
