#pragma once

// Builds the complete RFC 5322 / MIME message that the SMTP provider hands to the transport.
// The output is 7-bit, CRLF-only, no line longer than 998 octets (headers aim for 78, encoded
// words for 76, body lines are at most 76), and is NOT dot-stuffed: libcurl doubles a '.' that
// starts a line while uploading SMTP DATA and appends the final "CRLF.CRLF" itself, so stuffing
// here would corrupt every such line.
//
// Header safety: a CR, LF or NUL in any header input is an `invalid_header` error, so no input
// can start a header line of its own; other control and all non-ASCII characters in the subject
// and display names go out as RFC 2047 encoded words.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/common/result.h"

namespace omnigate::channels::email {

struct MimeMessage {
  std::string from_name;  // display names may be any UTF-8 text
  std::string from_address;
  std::string to_name;
  std::string to_address;
  std::string reply_to_name;
  std::string reply_to;  // address; no Reply-To header when empty
  std::string subject;   // UTF-8
  std::string text;      // UTF-8 plain text part; LF, CR or CRLF line breaks
  std::string html;      // UTF-8 HTML part; at least one of text and html is needed
  // "left@right" (angle brackets optional): stable per message, so that a retried message
  // carries the same Message-ID and receivers can spot the duplicate.
  std::string message_id;
  std::int64_t date_unix_ms = 0;
  // https:, http: or mailto: URIs for List-Unsubscribe (RFC 2369); none → no header.
  std::vector<std::string> list_unsubscribe;
  // Adds "List-Unsubscribe-Post: List-Unsubscribe=One-Click" (RFC 8058); needs an https: URI.
  bool one_click = false;
};

// Errors: `invalid_header`, `invalid_address`, `invalid_message_id`, `invalid_list_unsubscribe`,
// `empty_body`.
Result<std::string> buildMimeMessage(const MimeMessage& message);

// "Tue, 22 Aug 2017 14:08:43 +0000" (always UTC).
std::string formatRfc5322Date(std::int64_t unix_ms);

// Quoted-printable (RFC 2045 §6.7) of text whose line breaks are CRLF; output lines ≤ 76.
std::string encodeQuotedPrintable(std::string_view text);

// Base64 in lines of 76 characters, each ended by CRLF.
std::string encodeBase64Lines(std::string_view bytes);

}  // namespace omnigate::channels::email
