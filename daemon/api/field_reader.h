#pragma once

// Validation of JSON request bodies, shared by every /v1 endpoint that takes one: walks an object
// and records the first problem with the path of the field at fault (code "invalid_request"), so
// every endpoint reports errors alike ("to.push[1].token must be a string").

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/common/result.h"

namespace omnigate::api {

class FieldReader {
 public:
  explicit FieldReader(std::optional<Error>& error) : error_(error) {}

  bool failed() const { return error_.has_value(); }

  bool fail(const std::string& path, const std::string& what) {
    if (!error_) error_ = makeError("invalid_request", path + " " + what);
    return false;
  }

  bool checkKnown(const boost::json::object& object, const std::string& prefix,
                  std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : object) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        return fail(prefix + std::string(key), "is not a known field");
      }
    }
    return true;
  }

  // Reads an optional string; absent or null leaves `out` alone and returns true.
  bool string(const boost::json::object& object, std::string_view key, const std::string& path,
              std::string& out, std::size_t max_length = 4096, bool non_empty = true) {
    bool valid = true;
    const boost::json::string* s = stringAt(object, key, path, max_length, non_empty, valid);
    if (s == nullptr) return valid;
    out.assign(s->begin(), s->end());
    return true;
  }
  bool string(const boost::json::object& object, std::string_view key, const std::string& path,
              std::optional<std::string>& out, std::size_t max_length) {
    bool valid = true;
    const boost::json::string* s = stringAt(object, key, path, max_length, true, valid);
    if (s == nullptr) return valid;
    out.emplace(s->begin(), s->end());
    return true;
  }

  const boost::json::object* object(const boost::json::object& parent, std::string_view key,
                                    const std::string& path) {
    auto it = parent.find(key);
    if (it == parent.end() || it->value().is_null()) return nullptr;
    if (!it->value().is_object()) {
      fail(path, "must be an object");
      return nullptr;
    }
    return &it->value().as_object();
  }

  const boost::json::array* array(const boost::json::object& parent, std::string_view key,
                                  const std::string& path, std::size_t max_items) {
    auto it = parent.find(key);
    if (it == parent.end() || it->value().is_null()) return nullptr;
    if (!it->value().is_array()) {
      fail(path, "must be an array");
      return nullptr;
    }
    if (it->value().as_array().size() > max_items) {
      fail(path, "has more than " + std::to_string(max_items) + " items");
      return nullptr;
    }
    return &it->value().as_array();
  }

 private:
  // The string at `key`; nullptr when absent or null, or when invalid (then `valid` is false).
  const boost::json::string* stringAt(const boost::json::object& object, std::string_view key,
                                      const std::string& path, std::size_t max_length,
                                      bool non_empty, bool& valid) {
    auto it = object.find(key);
    if (it == object.end() || it->value().is_null()) return nullptr;
    const char* problem = nullptr;
    std::string too_long;
    if (!it->value().is_string()) {
      problem = "must be a string";
    } else if (non_empty && it->value().as_string().empty()) {
      problem = "must not be empty";
    } else if (it->value().as_string().size() > max_length) {
      too_long = "is longer than " + std::to_string(max_length) + " characters";
      problem = too_long.c_str();
    }
    if (problem != nullptr) {
      valid = fail(path, problem);
      return nullptr;
    }
    return &it->value().as_string();
  }

  std::optional<Error>& error_;
};

// One '@', something on both sides, no spaces, controls or characters that end an address.
inline bool looksLikeEmail(std::string_view s) {
  auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= s.size() ||
      s.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  return std::none_of(s.begin(), s.end(), [](unsigned char c) {
    return c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == '"';
  });
}

}  // namespace omnigate::api
