#pragma once

// Boost.JSON → TemplateValue, for the daemon, which holds a request's `data` and a customer's
// profile as Boost.JSON. Header-only on purpose: omnigate_templates does not link Boost.JSON, and
// this uses only the inline parts of its API (kind, iteration, accessors), so it costs the
// includer nothing beyond the Boost.JSON it already links.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "templates/template_value.h"

namespace omnigate::templates {

namespace json_data_detail {

inline constexpr int kMaxDepth = 64;

inline TemplateValue convert(const boost::json::value& value, int depth) {
  switch (value.kind()) {
    case boost::json::kind::null:
      return TemplateValue();
    case boost::json::kind::bool_:
      return TemplateValue(value.get_bool());
    case boost::json::kind::int64:
      return TemplateValue(value.get_int64());
    case boost::json::kind::uint64:
      return TemplateValue(value.get_uint64());
    case boost::json::kind::double_:
      return TemplateValue(value.get_double());
    case boost::json::kind::string: {
      const auto& text = value.get_string();
      return TemplateValue(std::string(text.data(), text.size()));
    }
    case boost::json::kind::array: {
      if (depth >= kMaxDepth) return TemplateValue();
      TemplateValue::List list;
      for (const auto& item : value.get_array()) list.push_back(convert(item, depth + 1));
      return TemplateValue(std::move(list));
    }
    case boost::json::kind::object: {
      if (depth >= kMaxDepth) return TemplateValue();
      TemplateValue object = TemplateValue::object();
      for (const auto& field : value.get_object()) {
        object.set(std::string(field.key().data(), field.key().size()),
                   convert(field.value(), depth + 1));
      }
      return object;
    }
  }
  return TemplateValue();
}

}  // namespace json_data_detail

// Numbers become their decimal text (2.50 → "2.5"); nesting deeper than 64 levels becomes null.
inline TemplateValue templateValueFromJson(const boost::json::value& value) {
  return json_data_detail::convert(value, 0);
}

inline TemplateValue templateValueFromJson(const boost::json::object& object) {
  TemplateValue out = TemplateValue::object();
  for (const auto& field : object) {
    out.set(std::string(field.key().data(), field.key().size()),
            json_data_detail::convert(field.value(), 1));
  }
  return out;
}

}  // namespace omnigate::templates
