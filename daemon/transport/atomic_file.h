#pragma once

// Durable whole-file replacement: readers see either the old contents or the new, never a torn
// file, and once this returns Ok the new contents survive a power loss.

#include <string>
#include <string_view>

#include "daemon/common/result.h"

namespace omnigate::transport {

// Creates missing parent directories, writes a sibling temporary file, fsyncs it, renames it over
// `path` and fsyncs the directory. On failure `path` is untouched and no temporary file remains.
Status writeFileAtomically(const std::string& path, std::string_view contents);

}  // namespace omnigate::transport
