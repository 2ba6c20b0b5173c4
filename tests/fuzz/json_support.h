#pragma once

// JSON helpers for the targets that check JSON round trips (Boost.JSON, which they link).

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <string>

namespace omnigate::fuzz {

// A number beyond double's range ("1e400"), which Boost.JSON 1.81 reads as infinity and
// serializes as "Infinity": not JSON.
inline bool hasNonFiniteNumber(const boost::json::value& value, int depth = 0) {
  if (depth > 64) return false;
  if (value.is_double()) return !std::isfinite(value.get_double());
  if (value.is_array()) {
    for (const auto& item : value.get_array()) {
      if (hasNonFiniteNumber(item, depth + 1)) return true;
    }
  }
  if (value.is_object()) {
    for (const auto& field : value.get_object()) {
      if (hasNonFiniteNumber(field.value(), depth + 1)) return true;
    }
  }
  return false;
}

// Boost.JSON 1.81 does not round every decimal to the nearest double (exact parsing came in
// 1.83), so parse -> serialize -> parse may move a number by an ulp or two: "3.3333333333333334E31"
// reads back as 3.333333333333334E31. JSON texts are therefore compared as values, numbers
// within a relative 1e-14.
inline bool closeJson(const boost::json::value& a, const boost::json::value& b, int depth = 0) {
  if (depth > 64) return true;
  if (a.is_number() && b.is_number()) {
    double x = a.to_number<double>();
    double y = b.to_number<double>();
    return x == y || std::fabs(x - y) <= 1e-14 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& left = a.get_array();
    const auto& right = b.get_array();
    if (left.size() != right.size()) return false;
    for (std::size_t i = 0; i < left.size(); ++i) {
      if (!closeJson(left[i], right[i], depth + 1)) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& left = a.get_object();
    const auto& right = b.get_object();
    if (left.size() != right.size()) return false;
    for (const auto& field : left) {
      const auto* other = right.if_contains(field.key());
      if (other == nullptr || !closeJson(field.value(), *other, depth + 1)) return false;
    }
    return true;
  }
  return a == b;
}

inline bool closeJsonText(const std::string& a, const std::string& b) {
  if (a == b) return true;
  boost::system::error_code ec_a;
  boost::system::error_code ec_b;
  auto left = boost::json::parse(a, ec_a);
  auto right = boost::json::parse(b, ec_b);
  return !ec_a && !ec_b && closeJson(left, right);
}

}  // namespace omnigate::fuzz
