#include "channels/sms/segments.h"

#include <algorithm>
#include <array>
#include <vector>

namespace omnigate::channels::sms {
namespace {

constexpr std::size_t kGsmSingle = 160;
constexpr std::size_t kGsmPerPart = 153;
constexpr std::size_t kUcs2Single = 70;
constexpr std::size_t kUcs2PerPart = 67;
constexpr char32_t kReplacement = 0xFFFD;

// The non-ASCII characters of the GSM 03.38 basic table, sorted for binary search.
constexpr std::array<char32_t, 39> kBasicNonAscii = {
    0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7,
    0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF, 0x00E0, 0x00E4, 0x00E5, 0x00E6,
    0x00E8, 0x00E9, 0x00EC, 0x00F1, 0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC, 0x0393,
    0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9};

bool inBasicAscii(char32_t c) {
  if (c == '\n' || c == '\r') return true;
  if (c < 0x20 || c > 0x7E) return false;
  switch (c) {
    case '[':
    case '\\':
    case ']':
    case '^':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return false;
    default:
      return true;
  }
}

bool inExtension(char32_t c) {
  switch (c) {
    case 0x0C:
    case '^':
    case '{':
    case '}':
    case '\\':
    case '[':
    case '~':
    case ']':
    case '|':
    case 0x20AC:
      return true;
    default:
      return false;
  }
}

// Fills parts of `per_part` units with items of cost 1 or 2; a 2-unit item never straddles.
int packParts(const std::vector<int>& costs, std::size_t per_part) {
  int parts = 1;
  std::size_t used = 0;
  for (int cost : costs) {
    auto size = static_cast<std::size_t>(cost);
    if (used + size > per_part) {
      ++parts;
      used = 0;
    }
    used += size;
  }
  return parts;
}

}  // namespace

const char* toString(SmsEncoding encoding) {
  return encoding == SmsEncoding::Gsm7 ? "gsm7" : "ucs2";
}

char32_t nextCodePoint(std::string_view text, std::size_t& pos) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  int length = 0;
  char32_t value = 0;
  char32_t minimum = 0;
  if (lead < 0x80) {
    ++pos;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, minimum = 0x10000;
  } else {
    ++pos;
    return kReplacement;
  }
  if (pos + static_cast<std::size_t>(length) > text.size()) {
    ++pos;
    return kReplacement;
  }
  for (int i = 1; i < length; ++i) {
    unsigned char next = byte(pos + static_cast<std::size_t>(i));
    if ((next & 0xC0) != 0x80) {
      ++pos;
      return kReplacement;
    }
    value = (value << 6) | (next & 0x3F);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    ++pos;
    return kReplacement;
  }
  pos += static_cast<std::size_t>(length);
  return value;
}

int gsm7Septets(char32_t c) {
  if (inBasicAscii(c)) return 1;
  if (inExtension(c)) return 2;
  if (std::binary_search(kBasicNonAscii.begin(), kBasicNonAscii.end(), c)) return 1;
  return 0;
}

std::size_t utf16Length(std::string_view text) {
  std::size_t units = 0;
  for (std::size_t pos = 0; pos < text.size();) units += nextCodePoint(text, pos) > 0xFFFF ? 2 : 1;
  return units;
}

SegmentCount countSegments(std::string_view text) {
  std::vector<int> septets;
  std::vector<int> utf16_units;
  bool gsm = true;
  for (std::size_t pos = 0; pos < text.size();) {
    char32_t c = nextCodePoint(text, pos);
    int cost = gsm7Septets(c);
    gsm = gsm && cost > 0;
    if (gsm) septets.push_back(cost);
    utf16_units.push_back(c > 0xFFFF ? 2 : 1);
  }
  SegmentCount count;
  count.characters = utf16_units.size();
  count.encoding = gsm ? SmsEncoding::Gsm7 : SmsEncoding::Ucs2;
  const std::vector<int>& costs = gsm ? septets : utf16_units;
  for (int cost : costs) count.units += static_cast<std::size_t>(cost);
  if (count.characters == 0) return count;
  std::size_t single = gsm ? kGsmSingle : kUcs2Single;
  std::size_t per_part = gsm ? kGsmPerPart : kUcs2PerPart;
  count.segments = count.units <= single ? 1 : packParts(costs, per_part);
  return count;
}

}  // namespace omnigate::channels::sms
