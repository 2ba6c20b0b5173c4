// Output of the CLI: pretty JSON for scripts, aligned key-value text and tables for people.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

namespace omnigate::ctl {

// Indented JSON with a trailing newline (keys in the API's order).
std::string prettyJson(const boost::json::value& value);

// A scalar as a person reads it: strings unquoted, null as "-", anything nested as compact JSON.
std::string scalarText(const boost::json::value& value);

// An object as text: its scalar fields (nested objects flattened to dotted keys, arrays of
// scalars joined by commas) aligned as "key  value" lines, then every array of objects and every
// object of objects (like "providers") as a titled table.
std::string renderObject(const boost::json::object& object);

// Columns padded to the widest cell; the first row is the header.
std::string renderTable(const std::vector<std::vector<std::string>>& rows,
                        const std::string& indent = "");

}  // namespace omnigate::ctl
