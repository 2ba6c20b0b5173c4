#include "templates/template_value.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace omnigate::templates {
namespace {

std::string formatNumber(double number) {
  if (!std::isfinite(number)) return "";
  char buffer[64];
  // Shortest text that reads back as the same double: 2.5 → "2.5", 3.0 → "3", 1e21 → "1e+21".
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), number);
  if (error != std::errc()) return "";
  return std::string(buffer, end);
}

}  // namespace

TemplateValue::TemplateValue(double number) : value_(formatNumber(number)) {}

TemplateValue::TemplateValue(Fields fields) : value_(Fields{}) {
  for (auto& [key, value] : fields) set(std::move(key), std::move(value));
}

TemplateValue& TemplateValue::set(std::string key, TemplateValue value) {
  if (!isObject()) value_ = Fields{};
  auto& fields = std::get<Fields>(value_);
  for (auto& [existing, slot] : fields) {
    if (existing == key) {
      slot = std::move(value);
      return *this;
    }
  }
  fields.emplace_back(std::move(key), std::move(value));
  return *this;
}

const TemplateValue* TemplateValue::find(std::string_view key) const {
  if (!isObject()) return nullptr;
  for (const auto& [existing, value] : std::get<Fields>(value_)) {
    if (existing == key) return &value;
  }
  return nullptr;
}

TemplateValue withCustomer(TemplateValue data, TemplateValue customer) {
  if (!data.isObject()) data = TemplateValue::object();
  data.set("customer", std::move(customer));
  return data;
}

}  // namespace omnigate::templates
