#include "channels/sms/phone_number.h"

#include <gtest/gtest.h>

#include <string>

namespace omnigate::channels::sms {
namespace {

struct PhoneCase {
  const char* input;
  const char* region;
  const char* expected;  // nullptr: refused
};

// Cases both implementations agree on: canonical E.164 passes unchanged, garbage is refused.
class PhoneAlways : public ::testing::TestWithParam<PhoneCase> {};

TEST_P(PhoneAlways, Normalizes) {
  const PhoneCase& c = GetParam();
  auto result = normalizePhoneNumber(c.input, c.region);
  if (c.expected == nullptr) {
    ASSERT_FALSE(result.ok()) << c.input << " -> " << result.value();
    EXPECT_EQ(result.error().code, "invalid_phone");
    EXPECT_NE(result.error().message.find("not a valid phone number"), std::string::npos);
  } else {
    ASSERT_TRUE(result.ok()) << c.input << ": " << result.error().message;
    EXPECT_EQ(result.value(), c.expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Numbers, PhoneAlways,
    ::testing::Values(PhoneCase{"+79161234567", "RU", "+79161234567"},
                      PhoneCase{"+16502530000", "", "+16502530000"},
                      PhoneCase{"+442079460958", "US", "+442079460958"},
                      PhoneCase{"", "RU", nullptr}, PhoneCase{"hello", "RU", nullptr},
                      PhoneCase{"+", "RU", nullptr}, PhoneCase{"+0123456789", "", nullptr},
                      PhoneCase{"+1234567890123456", "", nullptr},
                      PhoneCase{"+7916123456789012345678901234567890123456789012345678901234567890",
                                "RU", nullptr}));

// The build decides which behaviour applies; each test asserts the one this build promises.
TEST(PhoneNumber, NationalFormatsFollowTheLibrary) {
  auto national = normalizePhoneNumber("8 (916) 123-45-67", "RU");
  auto spaced = normalizePhoneNumber("+1 650 253 0000", "");
  if (phoneNumberLibraryAvailable()) {
    ASSERT_TRUE(national.ok()) << national.error().message;
    EXPECT_EQ(national.value(), "+79161234567");
    ASSERT_TRUE(spaced.ok());
    EXPECT_EQ(spaced.value(), "+16502530000");
    // Right length, no such number range.
    EXPECT_FALSE(normalizePhoneNumber("+7 000 123 45 67", "RU").ok());
    auto region = normalizePhoneNumber("9161234567", "XX");
    ASSERT_FALSE(region.ok());
    EXPECT_EQ(region.error().code, "invalid_region");
  } else {
    ASSERT_FALSE(national.ok());
    EXPECT_NE(national.error().message.find("E.164"), std::string::npos);
    EXPECT_FALSE(spaced.ok());
  }
}

TEST(PhoneNumber, StrictE164) {
  EXPECT_TRUE(isStrictE164("+79161234567"));
  EXPECT_TRUE(isStrictE164("+2901234"));          // 7 digits: Saint Helena
  EXPECT_TRUE(isStrictE164("+123456789012345"));  // 15 digits, the E.164 maximum
  EXPECT_FALSE(isStrictE164("+1234567890123456"));
  EXPECT_FALSE(isStrictE164("+290123"));
  EXPECT_FALSE(isStrictE164("79161234567"));
  EXPECT_FALSE(isStrictE164("+7 916 123 45 67"));
  EXPECT_FALSE(isStrictE164("+09161234567"));
}

}  // namespace
}  // namespace omnigate::channels::sms
