#include "daemon/common/log.h"

#include <gtest/gtest.h>

namespace omnigate {
namespace {

TEST(MaskEmail, KeepsFirstLetterAndDomain) {
  EXPECT_EQ(maskEmail("alice@example.com"), "a***@example.com");
  EXPECT_EQ(maskEmail("a@example.com"), "a***@example.com");
  EXPECT_EQ(maskEmail("@example.com"), "***@example.com");
  // The last '@' separates the domain (quoted local parts may hold one).
  EXPECT_EQ(maskEmail("\"x@y\"@example.com"), "\"***@example.com");
}

TEST(MaskEmail, WithoutAtIsMaskedLikeAToken) {
  EXPECT_EQ(maskEmail("not-an-address"), "not-***");
  EXPECT_EQ(maskEmail("short"), "***");
}

TEST(MaskPhone, KeepsCountryAreaAndLastFour) {
  EXPECT_EQ(maskPhone("+79161234567"), "+7916***4567");
  EXPECT_EQ(maskPhone("+14155550100"), "+1415***0100");
}

TEST(MaskPhone, ShortNumbersKeepLess) {
  EXPECT_EQ(maskPhone("+123456"), "+1***56");
  EXPECT_EQ(maskPhone("1234"), "***");
  EXPECT_EQ(maskPhone(""), "***");
}

TEST(MaskToken, KeepsOnlyTheStartOfLongTokens) {
  EXPECT_EQ(maskToken("fcm-token-abcdefghijklmnop"), "fcm-***");
  EXPECT_EQ(maskToken("123456789012"), "***");
  EXPECT_EQ(maskToken("1234567890123"), "1234***");
  EXPECT_EQ(maskToken(""), "***");
}

TEST(MaskContact, PicksTheMaskByShape) {
  EXPECT_EQ(maskContact("bob@example.org"), "b***@example.org");
  EXPECT_EQ(maskContact("+79161234567"), "+7916***4567");
  EXPECT_EQ(maskContact("79161234567"), "79161***4567");
  EXPECT_EQ(maskContact("a1b2c3d4e5f6a7b8c9d0"), "a1b2***");
  EXPECT_EQ(maskContact("@channelname"), "***@channelname");
}

TEST(Masks, NeverContainTheWholeSecret) {
  for (std::string secret : {"alice@example.com", "+79161234567", "dGhpcyBpcyBhIHRva2Vu"}) {
    EXPECT_EQ(maskContact(secret).find(secret), std::string::npos) << secret;
  }
}

}  // namespace
}  // namespace omnigate
