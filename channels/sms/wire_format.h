#pragma once

// Small wire-format pieces the SMS and messenger providers share: HTML-form encoding, the
// HMACs providers sign callbacks with, and lookups into JSON replies.

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "channels/provider.h"

namespace omnigate::channels::wire {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// application/x-www-form-urlencoded as browsers and Twilio/Kannel expect: unreserved
// characters kept, space as '+', everything else %XX (upper-case hex).
std::string formEscape(std::string_view text);
std::string formEncode(const FormFields& fields);
// Splits on '&' and '=', turns '+' into space and decodes %XX. Malformed escapes are an Error
// because a signature computed over a guessed decoding would be meaningless.
Result<FormFields> formDecode(std::string_view body);
// The query part of a URL (after '?', before '#'), or empty.
std::string_view queryOf(std::string_view url);

std::string base64Encode(std::string_view bytes);
std::string base64Decode(std::string_view text);  // ignores characters outside the alphabet
std::string hexEncode(std::string_view bytes);
std::string hmacSha1(std::string_view key, std::string_view message);
std::string hmacSha256(std::string_view key, std::string_view message);
// Compares without leaking where the first difference is.
bool constantTimeEquals(std::string_view a, std::string_view b);

std::string_view headerValue(const std::vector<Header>& headers, std::string_view name);

// Parses `body` as JSON; nullopt when it is not JSON.
std::optional<boost::json::value> parseJson(std::string_view body);
// Follows a dotted path ("messages.0.id") through objects and arrays; nullptr when absent.
const boost::json::value* jsonPath(const boost::json::value& root, std::string_view path);
// A scalar as text: strings as is, numbers and booleans printed; empty for anything else.
std::string jsonScalarText(const boost::json::value* value);

// The reply body shortened and with control characters blanked, for Verdict::detail.
std::string bodyExcerpt(std::string_view body);

// Appends `query` (already encoded) to `url`, with '?' or '&' as the URL needs.
std::string appendQuery(const std::string& url, std::string_view query);

}  // namespace omnigate::channels::wire
