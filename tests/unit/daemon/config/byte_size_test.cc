#include "daemon/common/byte_size.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace omnigate {
namespace {

TEST(ParseByteSize, AcceptsCountsAndUnits) {
  struct Case {
    const char* text;
    std::size_t bytes;
  } cases[] = {
      {"0", 0},
      {"512", 512},
      {"512B", 512},
      {"1KiB", 1024},
      {"64KiB", 65'536},
      {"1MiB", 1'048'576},
      {"3GiB", std::size_t{3} << 30},
      {"64KB", 64'000},
      {"10MB", 10'000'000},
      {"2GB", 2'000'000'000},
      {"1 MiB", 1'048'576},
      {"007KiB", 7 * 1024},
  };
  for (const auto& c : cases) {
    auto parsed = parseByteSize(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, c.bytes) << c.text;
  }
}

TEST(ParseByteSize, RejectsMalformed) {
  for (const char* text : {"", " ", "MiB", "-1", "+1", " 1", "1.5MiB", "1mib", "1Mi", "1KiBB", "1 ",
                           "1  MiB", "1M", "1k", "1TiB", "0x10", "ten"}) {
    auto parsed = parseByteSize(text);
    EXPECT_FALSE(parsed.ok()) << "accepted '" << text << "'";
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code, "invalid_size") << text;
      EXPECT_NE(parsed.error().message.find(text), std::string::npos) << parsed.error().message;
    }
  }
}

TEST(ParseByteSize, RejectsOverflowInsteadOfWrapping) {
  const std::string max = std::to_string(std::numeric_limits<std::size_t>::max());
  ASSERT_TRUE(parseByteSize(max).ok());
  EXPECT_EQ(*parseByteSize(max), std::numeric_limits<std::size_t>::max());
  for (const std::string& text :
       {max + "0", max + "KiB", std::string("18014398509481984KiB"), std::string("17179869184GiB"),
        std::string("99999999999999999999999")}) {
    auto parsed = parseByteSize(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.error().message.find("too large"), std::string::npos) << text;
    }
  }
  // The largest whole number of GiB still fits.
  EXPECT_TRUE(parseByteSize("17179869183GiB").ok());
}

}  // namespace
}  // namespace omnigate
