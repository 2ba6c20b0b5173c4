// The RFC 5322/MIME builder behind the SMTP provider. Subjects, display names and bodies come
// from callers and templates, so no input may break the message's framing: the output is 7-bit,
// CRLF-only, no line over 998 octets, and its header block holds only the fields the builder
// writes, each once (no input can start a header line of its own: Bcc injection). What it
// encodes must decode back to the input, read by the independent reader the unit tests use.
//
// Input, fields separated by "\n%%\n" lines:
//   subject, from name, from address, to name, to address, reply-to name, reply-to address,
//   Message-ID, text, html, List-Unsubscribe URIs (one per line), "<date ms> [one_click]".
// An empty address or Message-ID field stands for a valid default, so most inputs get past
// address validation to the encoders.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "channels/email/address.h"
#include "channels/email/mime.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/unit/channels/email/mime_reader.h"

namespace {

namespace email = omnigate::channels::email;
namespace reader = omnigate::channels::email::testing;
using omnigate::fuzz::contains;

constexpr std::size_t kMaxLine = 998;

// The fields buildMimeMessage writes; anything else at the start of a header line was injected.
const std::vector<std::string>& knownFields() {
  static const std::vector<std::string> fields = {"Date",
                                                  "From",
                                                  "To",
                                                  "Reply-To",
                                                  "Subject",
                                                  "Message-ID",
                                                  "MIME-Version",
                                                  "List-Unsubscribe",
                                                  "List-Unsubscribe-Post",
                                                  "Content-Type",
                                                  "Content-Transfer-Encoding"};
  return fields;
}

std::string toCrlf(const std::string& text) {
  std::string out;
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

std::string leftTrimmed(const std::string& text) {
  return text.substr(std::min(text.size(), text.find_first_not_of(" \t")));
}

void checkFraming(const std::string& message) {
  for (std::size_t i = 0; i < message.size(); ++i) {
    auto byte = static_cast<unsigned char>(message[i]);
    FUZZ_CHECK(byte != 0 && byte < 0x80);  // 7-bit, no NUL
    if (message[i] == '\n') FUZZ_CHECK(i > 0 && message[i - 1] == '\r');
    if (message[i] == '\r') FUZZ_CHECK(i + 1 < message.size() && message[i + 1] == '\n');
  }
  FUZZ_CHECK(message.size() >= 2 && message.compare(message.size() - 2, 2, "\r\n") == 0);
  for (const auto& line : reader::splitCrlfLines(message)) FUZZ_CHECK(line.size() <= kMaxLine);
}

// Every header line is a known field's first line or a continuation; returns the fields seen.
std::map<std::string, int> checkHeaderBlock(const std::string& message) {
  auto end = message.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos);
  std::map<std::string, int> seen;
  for (const auto& line : reader::splitCrlfLines(message.substr(0, end + 2))) {
    FUZZ_CHECK(!line.empty());
    if (line[0] == ' ' || line[0] == '\t') {
      // A whitespace-only line reads as the end of the header block to some parsers.
      FUZZ_CHECK(line.find_first_not_of(" \t") != std::string::npos);
      FUZZ_CHECK(!seen.empty());
      continue;
    }
    auto colon = line.find(':');
    FUZZ_CHECK(colon != std::string::npos);
    std::string name = line.substr(0, colon);
    bool known = false;
    for (const auto& field : knownFields()) known = known || field == name;
    if (!known) std::fprintf(stderr, "injected header line: %s\n", line.c_str());
    FUZZ_CHECK(known);
    ++seen[name];
  }
  return seen;
}

// The display name as the reader decodes it from "From"/"To"/"Reply-To".
void checkMailbox(const std::string& value, const std::string& name, const std::string& address) {
  if (name.empty()) {
    FUZZ_CHECK(value == address);
    return;
  }
  std::string angle = "<" + address + ">";
  FUZZ_CHECK(value.size() >= angle.size() &&
             value.compare(value.size() - angle.size(), angle.size(), angle) == 0);
  std::string phrase = value.substr(0, value.size() - angle.size());
  if (!phrase.empty()) {
    FUZZ_CHECK(phrase.back() == ' ');  // the space (or unfolded fold) before the address
    phrase.pop_back();
  }
  if (contains(phrase, "=?UTF-8?B?")) {
    FUZZ_CHECK(reader::decodeEncodedWords(phrase) == name);
  } else if (!phrase.empty() && phrase.front() == '"') {
    FUZZ_CHECK(phrase.size() >= 2 && phrase.back() == '"');
    std::string unquoted;
    for (std::size_t i = 1; i + 1 < phrase.size(); ++i) {
      if (phrase[i] == '\\' && i + 2 < phrase.size()) ++i;
      unquoted += phrase[i];
    }
    FUZZ_CHECK(unquoted == name);
  } else {
    FUZZ_CHECK(phrase == leftTrimmed(name));
  }
}

void checkBody(const reader::Entity& entity, const email::MimeMessage& input) {
  std::vector<std::string> expected;
  if (!input.text.empty()) expected.push_back(toCrlf(input.text));
  if (!input.html.empty()) expected.push_back(toCrlf(input.html));
  std::string content_type = entity.get("Content-Type");
  if (expected.size() == 1) {
    FUZZ_CHECK(!contains(content_type, "multipart"));
    std::string decoded = reader::decodeBody(entity);
    // Quoted-printable text that does not end with a line break gets one to end the message.
    bool qp = entity.get("Content-Transfer-Encoding") == "quoted-printable";
    bool ends_with_break =
        expected[0].size() >= 2 && expected[0].compare(expected[0].size() - 2, 2, "\r\n") == 0;
    FUZZ_CHECK(decoded == expected[0] + (qp && !ends_with_break ? "\r\n" : ""));
    return;
  }
  std::string boundary = reader::boundaryOf(content_type);
  FUZZ_CHECK(!boundary.empty());
  auto parts = reader::readMultipart(entity.body, boundary);
  FUZZ_CHECK(parts.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    FUZZ_CHECK(reader::decodeBody(parts[i]) == expected[i]);
    for (const auto& line : reader::splitCrlfLines(parts[i].body)) FUZZ_CHECK(line.size() <= 76);
  }
}

void checkBuilt(const std::string& message, const email::MimeMessage& input) {
  checkFraming(message);
  auto seen = checkHeaderBlock(message);
  for (const char* once :
       {"Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"}) {
    FUZZ_CHECK(seen[once] == 1);
  }
  FUZZ_CHECK(seen["Reply-To"] == (input.reply_to.empty() ? 0 : 1));
  FUZZ_CHECK(seen["List-Unsubscribe"] == (input.list_unsubscribe.empty() ? 0 : 1));
  FUZZ_CHECK(seen["List-Unsubscribe-Post"] == (input.one_click ? 1 : 0));
  for (const auto& [name, count] : seen) FUZZ_CHECK(count <= 1);

  reader::Entity entity = reader::readEntity(message);
  std::string subject = entity.get("Subject");
  if (contains(subject, "=?UTF-8?B?")) {
    FUZZ_CHECK(reader::decodeEncodedWords(subject) == input.subject);
    // RFC 2047: a line holding encoded words stays within 76 characters.
    auto start = message.find("\r\nSubject:") + 2;
    auto end = message.find("\r\n", start);
    while (true) {
      FUZZ_CHECK(end - start <= 76);
      if (message.compare(end + 2, 1, " ") != 0) break;
      start = end + 2;
      end = message.find("\r\n", start);
    }
  } else {
    FUZZ_CHECK(subject == leftTrimmed(input.subject));
  }
  checkMailbox(entity.get("From"), input.from_name, input.from_address);
  checkMailbox(entity.get("To"), input.to_name, input.to_address);
  if (!input.reply_to.empty()) {
    checkMailbox(entity.get("Reply-To"), input.reply_to_name, input.reply_to);
  }
  checkBody(entity, input);

  // The same message built again (a retry) is byte-for-byte the same.
  auto again = email::buildMimeMessage(input);
  FUZZ_CHECK(again.ok() && again.value() == message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto fields = omnigate::fuzz::splitFields(omnigate::fuzz::asView(data, size), 12);
  email::MimeMessage message;
  message.subject = fields[0];
  message.from_name = fields[1];
  message.from_address = fields[2].empty() ? "noreply@shop.example" : fields[2];
  message.to_name = fields[3];
  message.to_address = fields[4].empty() ? "petya@example.net" : fields[4];
  message.reply_to_name = fields[5];
  message.reply_to = fields[6];
  message.message_id = fields[7].empty() ? "01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example" : fields[7];
  message.text = fields[8];
  message.html = fields[9];
  message.list_unsubscribe = omnigate::fuzz::splitLines(fields[10]);
  message.date_unix_ms = omnigate::fuzz::leadingNumber(fields[11], 1'503'411'323'999);
  message.one_click = contains(fields[11], "one_click");

  // A mailbox as an admin writes it in the `from` setting.
  if (auto mailbox = email::parseMailbox(fields[2]); mailbox) {
    FUZZ_CHECK(email::isValidAddress(mailbox->address));
  }

  auto built = email::buildMimeMessage(message);
  if (built) {
    FUZZ_LOG("built %zu bytes:\n%s", built->size(), built->c_str());
    checkBuilt(built.value(), message);
    return 0;
  }
  const auto& code = built.error().code;
  FUZZ_LOG("refused: %s: %s", code.c_str(), built.error().message.c_str());
  FUZZ_CHECK(code == "invalid_header" || code == "invalid_address" ||
             code == "invalid_message_id" || code == "invalid_list_unsubscribe" ||
             code == "empty_body");
  if (code == "invalid_header") {
    // Only a line break or NUL in a header input is refused; anything else must be encoded.
    bool has_break = false;
    for (const std::string* field :
         {&message.subject, &message.from_name, &message.to_name, &message.reply_to_name,
          &message.from_address, &message.to_address, &message.reply_to, &message.message_id}) {
      has_break = has_break || omnigate::fuzz::hasLineBreakOrNul(*field);
    }
    if (!has_break) std::fprintf(stderr, "refused: %s\n", built.error().message.c_str());
    FUZZ_CHECK(has_break);
  }
  if (code == "empty_body") FUZZ_CHECK(message.text.empty() && message.html.empty());
  return 0;
}
