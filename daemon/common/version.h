#pragma once

// The version GET /v1/stats reports: CMake passes the project's version as OMNIGATE_VERSION.

namespace omnigate {

#ifdef OMNIGATE_VERSION
inline constexpr const char* kVersion = OMNIGATE_VERSION;
#else
inline constexpr const char* kVersion = "unknown";
#endif

}  // namespace omnigate
