#include "channels/email/mime.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "channels/email/address.h"

namespace omnigate::channels::email {
namespace {

constexpr std::size_t kFoldAt = 78;       // RFC 5322: lines SHOULD stay within 78
constexpr std::size_t kEncodedLine = 76;  // RFC 2047: a line with encoded words ≤ 76
constexpr std::size_t kMaxLine = 998;     // RFC 5322: lines MUST stay within 998
constexpr std::size_t kQuotedPrintableLine = 76;
constexpr std::size_t kBase64Line = 76;
// An encoded word is at most 75 characters: "=?UTF-8?B?" + 60 base64 characters (45 bytes) +
// "?=" is 72.
constexpr std::size_t kMaxEncodedWordBytes = 45;
constexpr std::string_view kEncodedWordPrefix = "=?UTF-8?B?";
constexpr std::string_view kEncodedWordSuffix = "?=";
constexpr std::size_t kLongestPlainName = 60;
constexpr char kHex[] = "0123456789ABCDEF";

bool hasLineBreakOrNul(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool isPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

bool isAtextOrSpace(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view(" !#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16 |
                 static_cast<unsigned char>(bytes[i + 1]) << 8 |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// One header field, folded as it is built: each token goes on the current line after a space, or
// on a new continuation line when it would pass the limit.
class HeaderField {
 public:
  explicit HeaderField(std::string_view name)
      : text_(std::string(name) + ":"), column_(text_.size()), name_width_(column_) {}

  void token(std::string_view word, std::size_t limit = kFoldAt) {
    bool too_long = !word.empty() && column_ + 1 + word.size() > limit;
    // Folding right after the field name only helps when the token then fits.
    bool can_fold = column_ > name_width_ || 1 + word.size() <= limit;
    if (too_long && can_fold) {
      text_ += "\r\n ";
      column_ = 1;
    } else {
      text_ += ' ';
      ++column_;
    }
    text_ += word;
    column_ += word.size();
  }

  // Words split at spaces, so the field folds only where the text had a space.
  void words(std::string_view text) {
    std::size_t start = 0;
    while (true) {
      auto space = text.find(' ', start);
      token(text.substr(start, space == std::string_view::npos ? space : space - start));
      if (space == std::string_view::npos) return;
      start = space + 1;
    }
  }

  // RFC 2047 B-encoded words, cut on UTF-8 character boundaries so that each decodes alone.
  void encodedWords(std::string_view utf8) {
    constexpr std::size_t kOverhead = kEncodedWordPrefix.size() + kEncodedWordSuffix.size();
    auto bytesFitting = [](std::size_t column) -> std::size_t {
      std::size_t used = column + 1 + kOverhead;
      std::size_t free = used < kEncodedLine ? kEncodedLine - used : 0;
      return std::min(free / 4 * 3, kMaxEncodedWordBytes);
    };
    std::size_t position = 0;
    while (position < utf8.size()) {
      std::size_t budget = bytesFitting(column_);
      if (budget < 12) budget = bytesFitting(1);  // token() will start a new line for it
      std::size_t take = std::min(budget, utf8.size() - position);
      if (position + take < utf8.size()) {
        std::size_t cut = take;
        while (cut > 0 && (static_cast<unsigned char>(utf8[position + cut]) & 0xC0) == 0x80) {
          --cut;
        }
        if (cut > 0) take = cut;  // not UTF-8 after all: cut anywhere rather than loop
        // Decoders that join adjacent words with a space (Python's address parser does) then
        // only double a space instead of splitting a word in two.
        auto space = utf8.substr(position, take).rfind(' ');
        if (space != std::string_view::npos && space + 1 > take / 3) take = space + 1;
      }
      std::string word(kEncodedWordPrefix);
      word += base64(utf8.substr(position, take));
      word += kEncodedWordSuffix;
      token(word, kEncodedLine);
      position += take;
    }
  }

  // A display name: atoms when it can be, a quoted string when short and ASCII, otherwise
  // encoded words. Text that merely looks like an encoded word ("=?") is encoded so that readers
  // do not decode it.
  void phrase(std::string_view name) {
    if (name.empty()) return;
    bool ascii = isPrintableAscii(name) && name.find("=?") == std::string_view::npos;
    if (ascii && std::all_of(name.begin(), name.end(), isAtextOrSpace)) {
      words(name);
    } else if (ascii && name.size() <= kLongestPlainName) {
      std::string quoted = "\"";
      for (char c : name) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
      }
      quoted += '"';
      token(quoted);
    } else {
      encodedWords(name);
    }
  }

  void mailbox(std::string_view name, std::string_view address) {
    phrase(name);
    token(name.empty() ? std::string(address) : "<" + std::string(address) + ">");
  }

  std::string finish() && { return std::move(text_) + "\r\n"; }

 private:
  std::string text_;
  std::size_t column_;
  std::size_t name_width_;
};

std::string unstructuredField(std::string_view name, std::string_view value) {
  HeaderField field(name);
  bool plain = isPrintableAscii(value) && value.find("=?") == std::string_view::npos;
  // A word longer than a line cannot be folded; encoded words can be cut anywhere.
  std::size_t start = 0;
  while (plain && start <= value.size()) {
    auto space = value.find(' ', start);
    if (space == std::string_view::npos) space = value.size();
    plain = space - start < kFoldAt - 1;
    start = space + 1;
  }
  if (plain) {
    field.words(value);
  } else {
    field.encodedWords(value);
  }
  return std::move(field).finish();
}

std::string toCrlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

// Quoted-printable costs 3 octets per non-ASCII octet, base64 4 per 3 of everything: for text
// that is mostly non-Latin (Cyrillic is two non-ASCII octets per letter) base64 is far smaller.
bool preferBase64(std::string_view text) {
  auto escaped = std::count_if(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte >= 0x80 || (byte < 0x20 && c != '\r' && c != '\n' && c != '\t');
  });
  return static_cast<std::size_t>(escaped) * 5 > text.size();
}

struct EncodedBody {
  std::string transfer_encoding;
  std::string data;  // ends with CRLF
};

EncodedBody encodeBody(std::string_view content) {
  std::string crlf = toCrlf(content);
  if (preferBase64(crlf)) return {"base64", encodeBase64Lines(crlf)};
  // The line break that ends the encoded text belongs to the boundary delimiter that follows,
  // so a final line break of the content survives.
  return {"quoted-printable", encodeQuotedPrintable(crlf) + "\r\n"};
}

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// "=_" never occurs in quoted-printable ('=' is followed by a hex digit or a line break) nor in
// base64, so no encoded part can contain the boundary. Derived from the Message-ID, it is the
// same on every retry of the message.
std::string boundaryFor(std::string_view message_id) {
  std::uint64_t hash = fnv1a(message_id);
  std::string boundary = "=_og_";
  for (int shift = 60; shift >= 0; shift -= 4) boundary += kHex[(hash >> shift) & 0xf];
  return boundary;
}

Result<std::string> normalizeMessageId(std::string_view id) {
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  auto at = id.find('@');
  auto dotAtom = [](std::string_view part) {
    if (part.empty() || part.front() == '.' || part.back() == '.') return false;
    if (part.find("..") != std::string_view::npos) return false;
    return std::all_of(part.begin(), part.end(), [](char c) {
      return c != ' ' && c != '"' && c != '(' && c != ')' && c != ',' && c != ':' && c != ';' &&
             c != '<' && c != '>' && c != '@' && c != '[' && c != ']' && c != '\\' && c > 0x20 &&
             c < 0x7f;
    });
  };
  if (at == std::string_view::npos || !dotAtom(id.substr(0, at)) || !dotAtom(id.substr(at + 1)) ||
      id.size() > 250) {
    return makeError("invalid_message_id",
                     "a Message-ID is <left@right> of dot-atoms, got '" + std::string(id) + "'");
  }
  return "<" + std::string(id) + ">";
}

Result<std::string> listUnsubscribeField(const std::vector<std::string>& uris, bool one_click) {
  HeaderField field("List-Unsubscribe");
  bool has_https = false;
  for (std::size_t i = 0; i < uris.size(); ++i) {
    const std::string& uri = uris[i];
    std::string lower(uri.substr(0, 8));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    bool https = lower.rfind("https://", 0) == 0;
    bool known = https || lower.rfind("http://", 0) == 0 || lower.rfind("mailto:", 0) == 0;
    // RFC 2369 delimits URIs with <> and separates them with commas; a literal one would be
    // ambiguous, so it must be percent-encoded.
    bool clean = std::all_of(uri.begin(), uri.end(), [](char c) {
      return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != ',';
    });
    if (!known || !clean || uri.size() > 900) {
      return makeError("invalid_list_unsubscribe",
                       "List-Unsubscribe takes https:, http: or mailto: URIs without spaces, "
                       "commas or angle brackets; got '" +
                           uri + "'");
    }
    has_https = has_https || https;
    field.token("<" + uri + ">" + (i + 1 < uris.size() ? "," : ""));
  }
  if (one_click && !has_https) {
    return makeError("invalid_list_unsubscribe",
                     "one-click unsubscribe (RFC 8058) needs an https: List-Unsubscribe URI");
  }
  std::string out = std::move(field).finish();
  if (one_click) out += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
  return out;
}

Status checkLines(const std::string& message) {
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') {
      if (i == 0 || message[i - 1] != '\r') return makeError("invalid_header", "bare LF");
      if (i - 1 - line_start > kMaxLine) return makeError("invalid_header", "line over 998");
      line_start = i + 1;
    } else if (message[i] == '\r' && (i + 1 == message.size() || message[i + 1] != '\n')) {
      return makeError("invalid_header", "bare CR");
    }
  }
  return Ok{};
}

}  // namespace

std::string formatRfc5322Date(std::int64_t unix_ms) {
  using namespace std::chrono;
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  sys_time<milliseconds> time{milliseconds(unix_ms)};
  auto day = floor<days>(time);
  year_month_day date{day};
  hh_mm_ss clock{floor<seconds>(time - day)};
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%s, %02u %s %04d %02d:%02d:%02d +0000",
                kDays[weekday(day).c_encoding()], static_cast<unsigned>(date.day()),
                kMonths[static_cast<unsigned>(date.month()) - 1], static_cast<int>(date.year()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return buffer;
}

std::string encodeQuotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t column = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "\r\n") == 0) {
      out += "\r\n";
      column = 0;
      ++i;
      continue;
    }
    auto byte = static_cast<unsigned char>(text[i]);
    bool line_end = i + 1 == text.size() || text.compare(i + 1, 2, "\r\n") == 0;
    bool literal =
        (byte >= 33 && byte <= 126 && byte != '=') || ((byte == ' ' || byte == '\t') && !line_end);
    std::size_t width = literal ? 1 : 3;
    // Leave room for the '=' of a soft line break.
    if (column + width > kQuotedPrintableLine - 1) {
      out += "=\r\n";
      column = 0;
    }
    // mbox writers turn a line starting "From " into ">From "; an encoded F survives that.
    if (column == 0 && byte == 'F') {
      literal = false;
      width = 3;
    }
    if (literal) {
      out += static_cast<char>(byte);
    } else {
      out += '=';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
    column += width;
  }
  return out;
}

std::string encodeBase64Lines(std::string_view bytes) {
  std::string encoded = base64(bytes);
  std::string out;
  out.reserve(encoded.size() + encoded.size() / kBase64Line * 2 + 2);
  for (std::size_t i = 0; i < encoded.size(); i += kBase64Line) {
    out.append(encoded, i, kBase64Line);
    out += "\r\n";
  }
  return out;
}

Result<std::string> buildMimeMessage(const MimeMessage& message) {
  for (const std::string* field :
       {&message.from_name, &message.to_name, &message.reply_to_name, &message.subject,
        &message.from_address, &message.to_address, &message.reply_to, &message.message_id}) {
    if (hasLineBreakOrNul(*field)) {
      return makeError("invalid_header", "a header value contains CR, LF or NUL");
    }
  }
  if (!isValidAddress(message.from_address)) {
    return makeError("invalid_address", "from address '" + message.from_address + "' is invalid");
  }
  if (!isValidAddress(message.to_address)) {
    return makeError("invalid_address", "to address '" + message.to_address + "' is invalid");
  }
  if (!message.reply_to.empty() && !isValidAddress(message.reply_to)) {
    return makeError("invalid_address", "reply-to address '" + message.reply_to + "' is invalid");
  }
  if (message.text.empty() && message.html.empty()) {
    return makeError("empty_body", "an email needs a text or an html part");
  }
  auto message_id = normalizeMessageId(message.message_id);
  if (!message_id) return message_id.error();

  std::string out;
  out += "Date: " + formatRfc5322Date(message.date_unix_ms) + "\r\n";
  HeaderField from("From");
  from.mailbox(message.from_name, message.from_address);
  out += std::move(from).finish();
  HeaderField to("To");
  to.mailbox(message.to_name, message.to_address);
  out += std::move(to).finish();
  if (!message.reply_to.empty()) {
    HeaderField reply_to("Reply-To");
    reply_to.mailbox(message.reply_to_name, message.reply_to);
    out += std::move(reply_to).finish();
  }
  out += unstructuredField("Subject", message.subject);
  out += "Message-ID: " + message_id.value() + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  if (!message.list_unsubscribe.empty()) {
    auto list = listUnsubscribeField(message.list_unsubscribe, message.one_click);
    if (!list) return list.error();
    out += list.value();
  } else if (message.one_click) {
    return makeError("invalid_list_unsubscribe", "one-click unsubscribe needs a URI");
  }

  struct Part {
    const char* type;
    EncodedBody body;
  };
  std::vector<Part> parts;
  if (!message.text.empty()) parts.push_back({"text/plain", encodeBody(message.text)});
  if (!message.html.empty()) parts.push_back({"text/html", encodeBody(message.html)});

  auto partHeaders = [](const Part& part) {
    return std::string("Content-Type: ") + part.type + "; charset=utf-8\r\n" +
           "Content-Transfer-Encoding: " + part.body.transfer_encoding + "\r\n";
  };
  if (parts.size() == 1) {
    std::string_view data = parts[0].body.data;
    // Without a boundary after it, the line break encodeBody adds for one is not needed when
    // the content's own final line break already ends the message.
    if (parts[0].body.transfer_encoding == "quoted-printable" && data.size() >= 4 &&
        data.substr(data.size() - 4) == "\r\n\r\n") {
      data.remove_suffix(2);
    }
    out += partHeaders(parts[0]) + "\r\n";
    out += data;
  } else {
    std::string boundary = boundaryFor(message_id.value());
    for (const auto& part : parts) {
      if (part.body.data.find(boundary) != std::string::npos) {
        return makeError("invalid_header", "MIME boundary collision");  // cannot happen, see above
      }
    }
    out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
    for (const auto& part : parts) {
      out += "--" + boundary + "\r\n" + partHeaders(part) + "\r\n" + part.body.data;
    }
    out += "--" + boundary + "--\r\n";
  }
  if (auto lines = checkLines(out); !lines) return lines.error();
  return out;
}

}  // namespace omnigate::channels::email
