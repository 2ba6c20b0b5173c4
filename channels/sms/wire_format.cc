#include "channels/sms/wire_format.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>

namespace omnigate::channels::wire {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";
constexpr char kLowerHexDigits[] = "0123456789abcdef";
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool isFormUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '*';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> formUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return makeError("bad_form", "truncated %-escape in form data");
      }
      int high = hexValue(text[i + 1]);
      int low = hexValue(text[i + 2]);
      if (high < 0 || low < 0) return makeError("bad_form", "invalid %-escape in form data");
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string hmac(const EVP_MD* digest, std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(digest, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

}  // namespace

std::string formEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (isFormUnreserved(byte)) {
      out.push_back(c);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHexDigits[byte >> 4]);
      out.push_back(kHexDigits[byte & 0x0F]);
    }
  }
  return out;
}

std::string formEncode(const FormFields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    out += formEscape(name);
    out.push_back('=');
    out += formEscape(value);
  }
  return out;
}

Result<FormFields> formDecode(std::string_view body) {
  FormFields fields;
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('&', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view pair = body.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    std::size_t equals = pair.find('=');
    auto name = formUnescape(pair.substr(0, equals));
    if (!name) return name.error();
    std::string_view raw_value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    auto value = formUnescape(raw_value);
    if (!value) return value.error();
    fields.emplace_back(std::move(name.value()), std::move(value.value()));
  }
  return fields;
}

std::string_view queryOf(std::string_view url) {
  std::size_t question = url.find('?');
  if (question == std::string_view::npos) return {};
  std::string_view query = url.substr(question + 1);
  return query.substr(0, query.find('#'));
}

std::string base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t group = (static_cast<unsigned char>(bytes[i]) << 16) |
                          (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                          static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kBase64Alphabet[(group >> 18) & 63]);
    out.push_back(kBase64Alphabet[(group >> 12) & 63]);
    out.push_back(kBase64Alphabet[(group >> 6) & 63]);
    out.push_back(kBase64Alphabet[group & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t group = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(kBase64Alphabet[(group >> 18) & 63]);
    out.push_back(kBase64Alphabet[(group >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(group >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string base64Decode(std::string_view text) {
  std::string out;
  std::uint32_t group = 0;
  int bits = 0;
  for (char c : text) {
    const char* found = std::char_traits<char>::find(kBase64Alphabet, 64, c);
    if (found == nullptr) continue;
    group = (group << 6) | static_cast<std::uint32_t>(found - kBase64Alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((group >> bits) & 0xFF));
    }
  }
  return out;
}

std::string hexEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    out.push_back(kLowerHexDigits[byte >> 4]);
    out.push_back(kLowerHexDigits[byte & 0x0F]);
  }
  return out;
}

std::string hmacSha1(std::string_view key, std::string_view message) {
  return hmac(EVP_sha1(), key, message);
}

std::string hmacSha256(std::string_view key, std::string_view message) {
  return hmac(EVP_sha256(), key, message);
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view headerValue(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < key.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(key[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return value;
  }
  return {};
}

std::optional<boost::json::value> parseJson(std::string_view body) {
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec) return std::nullopt;
  return value;
}

const boost::json::value* jsonPath(const boost::json::value& root, std::string_view path) {
  const boost::json::value* current = &root;
  while (!path.empty()) {
    std::size_t dot = path.find('.');
    std::string_view step = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (const auto* object = current->if_object()) {
      auto it = object->find(step);
      if (it == object->end()) return nullptr;
      current = &it->value();
    } else if (const auto* array = current->if_array()) {
      std::size_t index = 0;
      auto [end, ec] = std::from_chars(step.data(), step.data() + step.size(), index);
      if (ec != std::errc() || end != step.data() + step.size() || index >= array->size()) {
        return nullptr;
      }
      current = &(*array)[index];
    } else {
      return nullptr;
    }
  }
  return current;
}

std::string jsonScalarText(const boost::json::value* value) {
  if (value == nullptr) return {};
  if (const auto* text = value->if_string()) return std::string(*text);
  if (value->is_int64() || value->is_uint64() || value->is_double() || value->is_bool()) {
    return boost::json::serialize(*value);
  }
  return {};
}

std::string bodyExcerpt(std::string_view body) {
  constexpr std::size_t kMax = 200;
  std::string out(body.substr(0, kMax));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return body.size() > kMax ? out + "..." : out;
}

std::string appendQuery(const std::string& url, std::string_view query) {
  if (query.empty()) return url;
  std::size_t question = url.find('?');
  char separator = '?';
  if (question != std::string::npos) {
    separator = question + 1 == url.size() || url.back() == '&' ? '\0' : '&';
  }
  std::string out = url;
  if (separator != '\0') out.push_back(separator);
  out += query;
  return out;
}

}  // namespace omnigate::channels::wire
