#pragma once

// The data a template is rendered with: a JSON-shaped tree that belongs to this library, so that
// templates/ stays free of any JSON library. `templates/json_data.h` converts Boost.JSON values.

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace omnigate::templates {

class TemplateValue {
 public:
  using List = std::vector<TemplateValue>;
  // Insertion-ordered; set() keeps keys unique.
  using Fields = std::vector<std::pair<std::string, TemplateValue>>;

  TemplateValue() = default;                  // null: renders as nothing and is false in sections
  TemplateValue(bool flag) : value_(flag) {}  // NOLINT: implicit by design
  TemplateValue(std::string text) : value_(std::move(text)) {}         // NOLINT
  TemplateValue(std::string_view text) : value_(std::string(text)) {}  // NOLINT
  TemplateValue(const char* text) : value_(std::string(text)) {}       // NOLINT
  // Numbers render as their decimal text; they are not bools, whatever C++ would prefer.
  template <std::integral Number>
  requires(!std::same_as<Number, bool>) TemplateValue(Number number)
      : value_(std::to_string(number)) {}                // NOLINT
  TemplateValue(double number);                          // NOLINT
  TemplateValue(List list) : value_(std::move(list)) {}  // NOLINT
  TemplateValue(Fields fields);                          // NOLINT

  static TemplateValue object() { return TemplateValue(Fields{}); }

  bool isNull() const { return std::holds_alternative<std::monostate>(value_); }
  bool isBool() const { return std::holds_alternative<bool>(value_); }
  bool isString() const { return std::holds_alternative<std::string>(value_); }
  bool isList() const { return std::holds_alternative<List>(value_); }
  bool isObject() const { return std::holds_alternative<Fields>(value_); }

  bool asBool() const { return std::get<bool>(value_); }
  const std::string& asString() const { return std::get<std::string>(value_); }
  const List& asList() const { return std::get<List>(value_); }
  const Fields& asObject() const { return std::get<Fields>(value_); }

  // Adds or replaces `key`; a non-object value becomes an empty object first.
  TemplateValue& set(std::string key, TemplateValue value);
  const TemplateValue* find(std::string_view key) const;

 private:
  std::variant<std::monostate, bool, std::string, List, Fields> value_;
};

// The render data for one message: the caller's `data` with the customer's profile placed under
// `customer`, replacing anything the caller put there (the profile is the authority).
TemplateValue withCustomer(TemplateValue data, TemplateValue customer);

}  // namespace omnigate::templates
