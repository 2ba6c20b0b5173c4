#include "daemon/common/ulid.h"

#include <string_view>

namespace omnigate {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

}  // namespace

std::string UlidGenerator::next() {
  std::int64_t ms = toUnixMillis(clock_.now());
  if (ms <= last_ms_) {
    // Same (or earlier, if the wall clock stepped back) millisecond: stay monotonic.
    ms = last_ms_;
    for (int i = 9; i >= 0; --i) {
      if (++last_random_[i] != 0) break;
      if (i == 0) ++ms;  // 80-bit overflow: borrow the next millisecond
    }
  } else {
    for (int i = 0; i < 10; i += 8) {
      std::uint64_t r = random_.next64();
      for (int j = 0; j < 8 && i + j < 10; ++j) last_random_[i + j] = (r >> (8 * j)) & 0xff;
    }
    last_random_[0] &= 0x7f;  // headroom so increments rarely overflow
  }
  last_ms_ = ms;

  std::array<std::uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i) bytes[i] = (static_cast<std::uint64_t>(ms) >> (8 * (5 - i))) & 0xff;
  for (int i = 0; i < 10; ++i) bytes[6 + i] = last_random_[i];

  // 128 bits as 26 base32 digits: two zero bits of padding in front, so the first digit
  // holds the top 3 bits.
  auto bit = [&bytes](int k) -> unsigned {
    if (k < 2) return 0;
    k -= 2;
    return (bytes[k / 8] >> (7 - k % 8)) & 1u;
  };
  std::string out(26, '0');
  for (int i = 0; i < 26; ++i) {
    unsigned digit = 0;
    for (int b = 0; b < 5; ++b) digit = (digit << 1) | bit(i * 5 + b);
    out[i] = kCrockford[digit];
  }
  return out;
}

bool isUlid(std::string_view text) {
  if (text.size() != 26 || text[0] > '7') return false;
  for (char c : text) {
    if (std::string_view(kCrockford).find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace omnigate
