#pragma once

// A small, independent reader for the messages the MIME builder writes, so that tests check the
// output by decoding it the way a mail client would rather than by comparing against the
// builder's own encoders.

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace omnigate::channels::email::testing {

struct Header {
  std::string name;
  std::string value;  // unfolded, leading space removed
};

struct Entity {
  std::vector<Header> headers;
  std::string body;

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& header : headers) {
      if (header.name.size() == name.size() &&
          std::equal(name.begin(), name.end(), header.name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        values.push_back(header.value);
      }
    }
    return values;
  }
  std::string get(std::string_view name) const {
    auto values = all(name);
    return values.empty() ? std::string() : values.front();
  }
};

inline std::vector<std::string> splitCrlfLines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find("\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 2;
  }
  return lines;
}

// Headers up to the first empty line, then the body.
inline Entity readEntity(std::string_view text) {
  Entity entity;
  auto split = text.find("\r\n\r\n");
  std::string_view head = text.substr(0, split);
  entity.body = split == std::string_view::npos ? "" : std::string(text.substr(split + 4));
  for (const auto& line : splitCrlfLines(head)) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !entity.headers.empty()) {
      entity.headers.back().value += line;  // unfolding removes only the CRLF
      continue;
    }
    auto colon = line.find(':');
    entity.headers.push_back(
        {line.substr(0, colon), colon == std::string::npos ? "" : line.substr(colon + 1)});
  }
  for (auto& header : entity.headers) {  // a value may start on the line after the name
    header.value.erase(0, header.value.find_first_not_of(" \t"));
  }
  return entity;
}

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

inline std::string decodeQuotedPrintable(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      out += text[i];
    } else if (text.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;  // soft line break
    } else if (i + 2 < text.size() && hexValue(text[i + 1]) >= 0 && hexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2]));
      i += 2;
    } else {
      out += "<BAD-QP>";
    }
  }
  return out;
}

inline std::string decodeBase64(std::string_view text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\r' || c == '\n') continue;
    auto value = kAlphabet.find(c);
    if (value == std::string::npos) return "<BAD-BASE64>";
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// RFC 2047: decodes =?charset?B|Q?text?= words; whitespace between two adjacent encoded words
// is dropped, as the RFC says.
inline std::string decodeEncodedWords(std::string_view value) {
  std::string out;
  std::string pending_space;
  bool previous_was_word = false;
  std::size_t i = 0;
  while (i < value.size()) {
    if (value.compare(i, 2, "=?") == 0) {
      auto q1 = value.find('?', i + 2);
      auto q2 = q1 == std::string_view::npos ? q1 : value.find('?', q1 + 1);
      auto end = q2 == std::string_view::npos ? q2 : value.find("?=", q2 + 1);
      if (end != std::string_view::npos) {
        char encoding = static_cast<char>(std::toupper(value[q1 + 1]));
        std::string_view payload = value.substr(q2 + 1, end - q2 - 1);
        std::string decoded;
        if (encoding == 'B') {
          decoded = decodeBase64(payload);
        } else {
          std::string q(payload);
          for (char& c : q) {
            if (c == '_') c = ' ';
          }
          decoded = decodeQuotedPrintable(q);
        }
        if (!previous_was_word) out += pending_space;
        pending_space.clear();
        out += decoded;
        previous_was_word = true;
        i = end + 2;
        continue;
      }
    }
    if (value[i] == ' ' || value[i] == '\t') {
      pending_space += value[i];
    } else {
      out += pending_space;
      pending_space.clear();
      out += value[i];
      previous_was_word = false;
    }
    ++i;
  }
  return out + pending_space;
}

// The parts of a multipart body, between "--boundary" lines.
inline std::vector<Entity> readMultipart(const std::string& body, const std::string& boundary) {
  std::vector<Entity> parts;
  std::string delimiter = "--" + boundary;
  std::size_t at = body.rfind(delimiter, 0) == 0 ? 0 : body.find("\r\n" + delimiter);
  while (at != std::string::npos) {
    std::size_t line_end = body.find("\r\n", at + (at == 0 ? 0 : 2));
    if (line_end == std::string::npos) break;
    if (body.compare(line_end - 2, 2, "--") == 0) break;  // the closing delimiter
    std::size_t next = body.find("\r\n" + delimiter, line_end);
    if (next == std::string::npos) break;
    parts.push_back(readEntity(body.substr(line_end + 2, next - line_end - 2)));
    at = next;
  }
  return parts;
}

inline std::string decodeBody(const Entity& entity) {
  std::string encoding = entity.get("Content-Transfer-Encoding");
  if (encoding == "quoted-printable") return decodeQuotedPrintable(entity.body);
  if (encoding == "base64") return decodeBase64(entity.body);
  return entity.body;
}

// The boundary parameter of a Content-Type value.
inline std::string boundaryOf(std::string_view content_type) {
  auto at = content_type.find("boundary=");
  if (at == std::string_view::npos) return "";
  auto value = content_type.substr(at + 9);
  if (!value.empty() && value.front() == '"') {
    return std::string(value.substr(1, value.find('"', 1) - 1));
  }
  return std::string(value.substr(0, value.find(';')));
}

}  // namespace omnigate::channels::email::testing
