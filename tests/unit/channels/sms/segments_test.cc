#include "channels/sms/segments.h"

#include <gtest/gtest.h>

#include <string>

namespace omnigate::channels::sms {
namespace {

std::string repeat(const std::string& piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

struct SegmentCase {
  const char* name;
  std::string text;
  SmsEncoding encoding;
  std::size_t units;
  int segments;
};

class SegmentTable : public ::testing::TestWithParam<SegmentCase> {};

TEST_P(SegmentTable, CountsEncodingUnitsAndSegments) {
  const SegmentCase& c = GetParam();
  SegmentCount count = countSegments(c.text);
  EXPECT_EQ(count.encoding, c.encoding) << c.name;
  EXPECT_EQ(count.units, c.units) << c.name;
  EXPECT_EQ(count.segments, c.segments) << c.name;
}

// Boundaries from providers.md §6: 160/161/306/307 GSM-7, 70/71/134/135 UCS-2.
INSTANTIATE_TEST_SUITE_P(
    Texts, SegmentTable,
    ::testing::Values(
        SegmentCase{"empty", "", SmsEncoding::Gsm7, 0, 0},
        SegmentCase{"one char", "a", SmsEncoding::Gsm7, 1, 1},
        SegmentCase{"gsm 160", repeat("a", 160), SmsEncoding::Gsm7, 160, 1},
        SegmentCase{"gsm 161", repeat("a", 161), SmsEncoding::Gsm7, 161, 2},
        SegmentCase{"gsm 306", repeat("a", 306), SmsEncoding::Gsm7, 306, 2},
        SegmentCase{"gsm 307", repeat("a", 307), SmsEncoding::Gsm7, 307, 3},
        SegmentCase{"basic-table accents and greek", "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà@$_",
                    SmsEncoding::Gsm7, 42, 1},
        SegmentCase{"extension chars cost two", "{}[]~|^\\€", SmsEncoding::Gsm7, 18, 1},
        SegmentCase{"80 euro signs fill one segment", repeat("€", 80), SmsEncoding::Gsm7, 160, 1},
        SegmentCase{"159 plus an escape pair overflows", repeat("a", 159) + "€", SmsEncoding::Gsm7,
                    161, 2},
        // 152 + € would straddle the 153 boundary, so the pair moves: 152 | €+151 | 1.
        SegmentCase{"escape pair never split", repeat("a", 152) + "€" + repeat("a", 152),
                    SmsEncoding::Gsm7, 306, 3},
        SegmentCase{"backtick is not gsm", "a`b", SmsEncoding::Ucs2, 3, 1},
        SegmentCase{"cyrillic 70", repeat("ж", 70), SmsEncoding::Ucs2, 70, 1},
        SegmentCase{"cyrillic 71", repeat("ж", 71), SmsEncoding::Ucs2, 71, 2},
        SegmentCase{"cyrillic 134", repeat("ж", 134), SmsEncoding::Ucs2, 134, 2},
        SegmentCase{"cyrillic 135", repeat("ж", 135), SmsEncoding::Ucs2, 135, 3},
        SegmentCase{"one non-gsm char switches all", repeat("a", 100) + "ж", SmsEncoding::Ucs2, 101,
                    2},
        SegmentCase{"astral emoji is two units", "😀", SmsEncoding::Ucs2, 2, 1},
        SegmentCase{"35 emoji fill one segment", repeat("😀", 35), SmsEncoding::Ucs2, 70, 1},
        SegmentCase{"36 emoji", repeat("😀", 36), SmsEncoding::Ucs2, 72, 2},
        // 66 units then a surrogate pair that must not straddle 67: 66 | pair+65 | ...
        SegmentCase{"surrogate pair never split", repeat("ж", 66) + "😀" + repeat("ж", 66),
                    SmsEncoding::Ucs2, 134, 3},
        SegmentCase{"tab is not gsm", "a\tb", SmsEncoding::Ucs2, 3, 1},
        SegmentCase{"newlines are gsm", "a\r\nb", SmsEncoding::Gsm7, 4, 1},
        SegmentCase{"malformed utf-8 forces ucs2", std::string("ab\xC3", 3), SmsEncoding::Ucs2, 3,
                    1},
        SegmentCase{"overlong encoding is malformed", std::string("\xC0\xAF", 2), SmsEncoding::Ucs2,
                    2, 1}),
    [](const auto& info) {
      std::string name = info.param.name;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(Gsm7Septets, ClassifiesTables) {
  EXPECT_EQ(gsm7Septets(U'A'), 1);
  EXPECT_EQ(gsm7Septets(U'@'), 1);
  EXPECT_EQ(gsm7Septets(U'€'), 2);
  EXPECT_EQ(gsm7Septets(U'\f'), 2);
  EXPECT_EQ(gsm7Septets(U'`'), 0);
  EXPECT_EQ(gsm7Septets(U'ж'), 0);
  EXPECT_EQ(gsm7Septets(U'\x1B'), 0);  // ESC itself is not a character
}

TEST(Utf16Length, CountsSurrogatePairs) {
  EXPECT_EQ(utf16Length(""), 0u);
  EXPECT_EQ(utf16Length("abc"), 3u);
  EXPECT_EQ(utf16Length("жж"), 2u);
  EXPECT_EQ(utf16Length("a😀"), 3u);
}

TEST(CountSegments, ReportsCodePoints) {
  SegmentCount count = countSegments("a😀ж€");
  EXPECT_EQ(count.characters, 4u);
  EXPECT_EQ(count.units, 5u);
}

}  // namespace
}  // namespace omnigate::channels::sms
