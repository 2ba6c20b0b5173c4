#include <cstdint>
#include <string>

#include "policy/policy.h"
#include "policy/steps.h"

namespace omnigate::policy {
namespace {

constexpr std::uint64_t kFnvOffsetBasis = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) {
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= kFnvPrime;
  }
  return hash;
}

}  // namespace

std::string defaultDedupeKey(std::string_view template_id, std::string_view canonical_data) {
  // The separator keeps ("ab", "c") and ("a", "bc") apart; template ids never contain NUL.
  std::uint64_t hash = fnv1a(kFnvOffsetBasis, template_id);
  hash = fnv1a(hash, std::string_view("\0", 1));
  hash = fnv1a(hash, canonical_data);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key(16, '0');
  for (int i = 15; i >= 0; --i) {
    key[static_cast<std::size_t>(i)] = kHex[hash & 0xf];
    hash >>= 4;
  }
  return key;
}

namespace detail {

const DedupeRecord* findDuplicate(const std::vector<DedupeRecord>& records, std::string_view key,
                                  Millis window, SysTime now) {
  const DedupeRecord* earliest = nullptr;
  for (const auto& record : records) {
    if (record.key != key || record.at + window <= now) continue;
    if (earliest == nullptr || record.at < earliest->at) earliest = &record;
  }
  return earliest;
}

}  // namespace detail
}  // namespace omnigate::policy
