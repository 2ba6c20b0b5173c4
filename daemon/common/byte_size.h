#pragma once

// Sizes as admins write them: a plain byte count ("1048576") or a number with a unit. Binary
// units (KiB, MiB, GiB) are powers of 1024; decimal ones (KB, MB, GB) are powers of 1000, as
// their SI prefixes say, so "64KB" is not silently 65536.

#include <cstddef>
#include <string_view>

#include "daemon/common/result.h"

namespace omnigate {

// Accepts "0", "512", "512B", "64KiB", "1MiB", "2GiB", "64KB", "10MB", "1GB"; one optional space
// between number and unit ("1 MiB"). Error code "invalid_size".
Result<std::size_t> parseByteSize(std::string_view text);

}  // namespace omnigate
