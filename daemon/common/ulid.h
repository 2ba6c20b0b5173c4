#pragma once

// Message ids: ULIDs (48-bit millisecond time + 80 random bits, Crockford base32, 26 chars), so
// ids sort by creation time. Within one millisecond the random part is incremented, which keeps
// ids from one generator strictly increasing.

#include <array>
#include <cstdint>
#include <string>

#include "daemon/common/clock.h"

namespace omnigate {

class UlidGenerator {
 public:
  UlidGenerator(const Clock& clock, Random& random) : clock_(clock), random_(random) {}
  std::string next();

 private:
  const Clock& clock_;
  Random& random_;
  std::int64_t last_ms_ = -1;
  std::array<std::uint8_t, 10> last_random_{};
};

bool isUlid(std::string_view text);

}  // namespace omnigate
