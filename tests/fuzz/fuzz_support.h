#pragma once

// Helpers every fuzz target shares: splitting one input into fields, and invariant checks that
// stop the fuzzer with a readable message.
//
// Inputs that carry several fields separate them with a line holding only "%%" (the bytes
// "\n%%\n"), so that seed files stay readable text and a field may still contain any byte,
// line breaks included. The dictionaries in dict/ teach the fuzzer the separator.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace omnigate::fuzz {

inline constexpr std::string_view kSeparator = "\n%%\n";

// An invariant, not an input check: a violation is a bug in the code under test. The message
// names the broken property before the trap, because a bare SIGILL says nothing.
#define FUZZ_CHECK(condition)                                                                  \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #condition); \
      __builtin_trap();                                                                        \
    }                                                                                          \
  } while (false)

// OMNIGATE_FUZZ_VERBOSE=1 makes the targets say what each input led to (an error code, a
// built object), for checking that seeds reach past validation and for triaging a reproducer.
inline bool verbose() {
  static const bool on = [] {
    const char* value = std::getenv("OMNIGATE_FUZZ_VERBOSE");
    return value != nullptr && *value != '\0' && *value != '0';
  }();
  return on;
}

#define FUZZ_LOG(...)                             \
  do {                                            \
    if (::omnigate::fuzz::verbose()) {            \
      std::fprintf(stderr, "fuzz: " __VA_ARGS__); \
      std::fputc('\n', stderr);                   \
    }                                             \
  } while (false)

inline std::string_view asView(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits on kSeparator; always at least one field. Missing trailing fields read as empty, so a
// short input is still a complete one.
inline std::vector<std::string> splitFields(std::string_view input, std::size_t at_least = 0) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    auto end = input.find(kSeparator, start);
    if (end == std::string_view::npos) {
      fields.emplace_back(input.substr(start));
      break;
    }
    fields.emplace_back(input.substr(start, end - start));
    start = end + kSeparator.size();
  }
  if (fields.size() < at_least) fields.resize(at_least);
  return fields;
}

// "Name: value" lines (LF or CRLF); a line without a colon is a name with an empty value. The
// value keeps everything after ": " so that odd bytes reach the code under test.
inline std::vector<std::pair<std::string, std::string>> parseHeaderLines(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = end + 1;
    if (line.empty()) continue;
    auto colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.emplace_back(std::string(name), std::string(value));
  }
  return headers;
}

// Lines of a field, without their line breaks (LF or CRLF); empty lines dropped.
inline std::vector<std::string> splitLines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.emplace_back(line);
    start = end + 1;
  }
  return lines;
}

// A small number read from the front of a field ("404", "-3", "2"); `fallback` when there is
// none. Saturates instead of overflowing, so the harness itself has no undefined behaviour.
inline long leadingNumber(std::string_view text, long fallback) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  if (i == text.size() || text[i] < '0' || text[i] > '9') return fallback;
  long value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (value < 1'000'000'000'000L) value = value * 10 + (text[i] - '0');
  }
  return negative ? -value : value;
}

// Well-formed UTF-8 as RFC 3629 defines it (no overlong forms, surrogates or code points past
// U+10FFFF): what JSON parsers, Boost.JSON's included, accept in strings.
inline bool isValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    unsigned min = 0;
    unsigned code = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      length = 2, min = 0x80, code = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3, min = 0x800, code = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, code = byte & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

// ---- known bugs -------------------------------------------------------------------------------
// A reported bug that every run would hit again within seconds stops the fuzzer from finding
// anything else, so each gets a narrow filter here until it is fixed. Delete the filter with
// the fix; OMNIGATE_FUZZ_KNOWN=1 disables all of them, to check a fix with the reproducer.
// Reports 1-3 are filtered here; 4 and 6 in fuzz_provider_replies.cc, 5 in
// fuzz_send_request.cc and fuzz_provider_replies.cc.
inline bool filterKnownBugs() {
  static const bool on = [] {
    const char* value = std::getenv("OMNIGATE_FUZZ_KNOWN");
    return value == nullptr || *value == '\0' || *value == '0';
  }();
  return on;
}

// KNOWN BUG (fuzz report 1): parseRfc3339 hands "...T10:00:00-" (a '-' offset sign without
// digits) to date::parse("%Ez"), whose from_stream then negates its "no offset" sentinel,
// minutes::min(): signed overflow (UBSan: chrono.h "negation of -9223372036854775808").
inline bool hitsDanglingOffsetSign(std::string_view time) {
  if (!filterKnownBugs()) return false;
  for (std::size_t i = 11; i < time.size(); ++i) {
    if (time[i] == '-' && (i + 1 == time.size() || time[i + 1] < '0' || time[i + 1] > '9')) {
      return true;
    }
  }
  return false;
}

// KNOWN BUG (fuzz report 2): when the seconds of "%Y-%m-%dT%H:%M:%S" are not a number, date's
// from_stream still rounds its uninitialised `long double S` to milliseconds: converting a
// garbage value (NaN, huge) to an integer (UBSan: chrono.h "-nan is outside the range of
// representable values of type 'long'", only when the stack happens to hold such bits).
// The seconds are read after "T", 1-2 digits, ':', 1-2 digits, ':'.
inline bool hitsUnreadableSeconds(std::string_view time) {
  if (!filterKnownBugs() || time.size() < 11) return false;
  auto isDigit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 11;
  for (int field = 0; field < 2; ++field) {
    std::size_t start = i;
    while (i < time.size() && i - start < 2 && isDigit(time[i])) ++i;
    if (i == start || i == time.size() || time[i] != ':') return false;  // fails before %S
    ++i;
  }
  return i == time.size() || !isDigit(time[i]);
}

// KNOWN BUG (fuzz report 3): parseRfc3339 takes times whose UTC year is outside 0000-9999: a
// signed year ("-026-11-23T13:00:00Z", which RFC 3339 does not allow) or an offset that crosses
// a year boundary ("9999-12-31T23:59:59-00:30"). formatRfc3339 then writes "-0026-..." or
// "10000-...", which parseRfc3339 refuses: a time the daemon shows that it cannot read back.
// Takes formatRfc3339's output.
inline bool hitsYearOutsideFourDigits(std::string_view formatted) {
  return filterKnownBugs() &&
         (formatted.size() < 5 || formatted[4] != '-' || formatted[0] < '0' || formatted[0] > '9');
}

inline bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

inline bool hasLineBreakOrNul(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace omnigate::fuzz
