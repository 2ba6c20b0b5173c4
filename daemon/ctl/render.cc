#include "daemon/ctl/render.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <utility>

namespace omnigate::ctl {

namespace json = boost::json;

namespace {

void writePretty(const json::value& value, int depth, std::string& out) {
  const std::string pad(2 * (depth + 1), ' ');
  const std::string close_pad(2 * depth, ' ');
  if (value.is_object()) {
    const auto& object = value.get_object();
    if (object.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& [key, member] : object) {
      if (!first) out += ",\n";
      first = false;
      out += pad + json::serialize(json::value(key)) + ": ";
      writePretty(member, depth + 1, out);
    }
    out += "\n" + close_pad + "}";
  } else if (value.is_array()) {
    const auto& array = value.get_array();
    if (array.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    bool first = true;
    for (const auto& element : array) {
      if (!first) out += ",\n";
      first = false;
      out += pad;
      writePretty(element, depth + 1, out);
    }
    out += "\n" + close_pad + "]";
  } else {
    out += json::serialize(value);
  }
}

bool isScalar(const json::value& value) { return !value.is_object() && !value.is_array(); }

bool allObjects(const json::array& array) {
  return !array.empty() &&
         std::all_of(array.begin(), array.end(), [](const auto& v) { return v.is_object(); });
}

bool allObjectValues(const json::object& object) {
  return !object.empty() && std::all_of(object.begin(), object.end(),
                                        [](const auto& kv) { return kv.value().is_object(); });
}

// Turns control characters into spaces so one value stays on one line of the table.
std::string oneLine(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text;
}

struct Sections {
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<std::pair<std::string, std::vector<std::vector<std::string>>>> tables;
};

std::vector<std::vector<std::string>> tableOf(const std::vector<const json::object*>& rows,
                                              const std::vector<std::string>& names) {
  std::vector<std::string> columns;
  for (const auto* row : rows) {
    for (const auto& [key, value] : *row) {
      std::string k(key);
      if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
    }
  }
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> header;
  if (!names.empty()) header.push_back("NAME");
  for (const auto& column : columns) {
    std::string upper = column;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    header.push_back(upper);
  }
  table.push_back(std::move(header));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<std::string> line;
    if (!names.empty()) line.push_back(names[i]);
    for (const auto& column : columns) {
      const auto* found = rows[i]->if_contains(column);
      line.push_back(found ? oneLine(scalarText(*found)) : "");
    }
    table.push_back(std::move(line));
  }
  return table;
}

void collect(const json::object& object, const std::string& prefix, Sections& out) {
  for (const auto& [key, value] : object) {
    const std::string name = prefix + std::string(key);
    if (isScalar(value)) {
      out.fields.emplace_back(name, scalarText(value));
    } else if (value.is_array()) {
      const auto& array = value.get_array();
      if (allObjects(array)) {
        std::vector<const json::object*> rows;
        for (const auto& element : array) rows.push_back(&element.get_object());
        out.tables.emplace_back(name, tableOf(rows, {}));
      } else {
        std::string joined;
        for (const auto& element : array) {
          if (!joined.empty()) joined += ", ";
          joined += scalarText(element);
        }
        out.fields.emplace_back(name, array.empty() ? "-" : joined);
      }
    } else {
      const auto& inner = value.get_object();
      if (allObjectValues(inner) && std::all_of(inner.begin(), inner.end(), [](const auto& kv) {
            const auto& o = kv.value().get_object();
            return std::all_of(o.begin(), o.end(),
                               [](const auto& m) { return isScalar(m.value()); });
          })) {
        std::vector<const json::object*> rows;
        std::vector<std::string> names;
        for (const auto& [k, v] : inner) {
          names.emplace_back(k);
          rows.push_back(&v.get_object());
        }
        out.tables.emplace_back(name, tableOf(rows, names));
      } else if (inner.empty()) {
        out.fields.emplace_back(name, "-");
      } else {
        collect(inner, name + ".", out);
      }
    }
  }
}

}  // namespace

std::string prettyJson(const json::value& value) {
  std::string out;
  writePretty(value, 0, out);
  out += "\n";
  return out;
}

std::string scalarText(const json::value& value) {
  if (value.is_string()) return std::string(value.get_string());
  if (value.is_null()) return "-";
  return json::serialize(value);
}

std::string renderTable(const std::vector<std::vector<std::string>>& rows,
                        const std::string& indent) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string renderObject(const json::object& object) {
  Sections sections;
  collect(object, "", sections);
  std::size_t width = 0;
  for (const auto& [key, value] : sections.fields) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : sections.fields) {
    out += key + std::string(width - key.size() + 2, ' ') + oneLine(value) + "\n";
  }
  for (const auto& [title, table] : sections.tables) {
    out += "\n" + title + ":\n" + renderTable(table, "  ");
  }
  return out;
}

}  // namespace omnigate::ctl
