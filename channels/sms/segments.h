#pragma once

// SMS encoding choice and segment counting (3GPP TS 23.038 / 23.040). Pure functions of the text.

#include <cstddef>
#include <string_view>

namespace omnigate::channels::sms {

enum class SmsEncoding {
  Gsm7,  // every character is in the GSM 03.38 basic or extension table
  Ucs2,  // anything else; sent as UTF-16 (astral characters take two units)
};

const char* toString(SmsEncoding encoding);

struct SegmentCount {
  SmsEncoding encoding = SmsEncoding::Gsm7;
  std::size_t characters = 0;  // Unicode code points
  std::size_t units = 0;       // GSM-7 septets (extension characters cost 2) or UTF-16 units
  int segments = 0;            // 0 only for empty text
};

// Single messages hold 160 septets / 70 units. Concatenated ones lose the UDH's room (153 / 67
// per segment) and a segment boundary never splits an escape pair or a surrogate pair, so the
// count is found by packing, which is sometimes one more than ceil(units / 153).
// Malformed UTF-8 counts as U+FFFD, which forces UCS-2 (the provider would do no better).
SegmentCount countSegments(std::string_view utf8_text);

// The septets one code point costs in GSM-7: 1 (basic table), 2 (extension table), 0 (absent).
int gsm7Septets(char32_t code_point);

// UTF-16 code units in a UTF-8 string (malformed bytes count one each, as U+FFFD would).
std::size_t utf16Length(std::string_view utf8_text);

// Decodes one code point starting at `pos` and advances `pos`; malformed input yields U+FFFD
// and advances by one byte.
char32_t nextCodePoint(std::string_view utf8_text, std::size_t& pos);

}  // namespace omnigate::channels::sms
