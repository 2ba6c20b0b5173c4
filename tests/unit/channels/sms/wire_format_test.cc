#include "channels/sms/wire_format.h"

#include <gtest/gtest.h>

namespace omnigate::channels::wire {
namespace {

TEST(FormEncoding, EscapesLikeBrowsers) {
  EXPECT_EQ(formEscape("Hello world"), "Hello+world");
  EXPECT_EQ(formEscape("+15551234567"), "%2B15551234567");
  EXPECT_EQ(formEscape("a-b_c.d*e~"), "a-b_c.d*e%7E");
  EXPECT_EQ(formEscape("https://gw/x?a=1&b=%d"), "https%3A%2F%2Fgw%2Fx%3Fa%3D1%26b%3D%25d");
  EXPECT_EQ(formEscape("жé"), "%D0%B6%C3%A9");
  EXPECT_EQ(formEncode({{"To", "+1"}, {"Body", "a&b"}}), "To=%2B1&Body=a%26b");
}

TEST(FormEncoding, DecodesAndRoundTrips) {
  auto fields = formDecode("a=1&b=x+y&c=%D0%B6&&d&e=");
  ASSERT_TRUE(fields.ok());
  FormFields expected{{"a", "1"}, {"b", "x y"}, {"c", "ж"}, {"d", ""}, {"e", ""}};
  EXPECT_EQ(fields.value(), expected);
  FormFields original{{"Body", "100% «ok» & done\n"}, {"To", "+7"}};
  auto round = formDecode(formEncode(original));
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round.value(), original);
}

TEST(FormEncoding, RefusesMalformedEscapes) {
  EXPECT_FALSE(formDecode("a=%4").ok());
  EXPECT_FALSE(formDecode("a=%zz").ok());
  EXPECT_FALSE(formDecode("a=%").ok());
}

TEST(Base64, MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64Encode(plain), encoded);
    EXPECT_EQ(base64Decode(encoded), plain);
  }
}

// RFC 2202 test case 2 (HMAC-SHA1) and RFC 4231 test case 2 (HMAC-SHA256).
TEST(Hmac, MatchesRfcVectors) {
  EXPECT_EQ(hexEncode(hmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(hexEncode(hmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "ab"));
  EXPECT_TRUE(constantTimeEquals("", ""));
}

TEST(JsonPath, WalksObjectsAndArrays) {
  auto json = parseJson(R"({"a":{"b":[{"id":"x"},{"id":7}]},"ok":true,"n":null})");
  ASSERT_TRUE(json);
  EXPECT_EQ(jsonScalarText(jsonPath(*json, "a.b.0.id")), "x");
  EXPECT_EQ(jsonScalarText(jsonPath(*json, "a.b.1.id")), "7");
  EXPECT_EQ(jsonScalarText(jsonPath(*json, "ok")), "true");
  EXPECT_EQ(jsonPath(*json, "a.b.2"), nullptr);
  EXPECT_EQ(jsonPath(*json, "a.b.x"), nullptr);
  EXPECT_EQ(jsonPath(*json, "a.c"), nullptr);
  EXPECT_EQ(jsonScalarText(jsonPath(*json, "a")), "");
  EXPECT_FALSE(parseJson("not json"));
}

TEST(Urls, AppendsQueriesAndFindsThem) {
  EXPECT_EQ(appendQuery("http://h/p", "a=1"), "http://h/p?a=1");
  EXPECT_EQ(appendQuery("http://h/p?x=2", "a=1"), "http://h/p?x=2&a=1");
  EXPECT_EQ(appendQuery("http://h/p?", "a=1"), "http://h/p?a=1");
  EXPECT_EQ(queryOf("http://h/p?a=1&b=2#frag"), "a=1&b=2");
  EXPECT_EQ(queryOf("http://h/p"), "");
}

TEST(Headers, LookUpIgnoringCase) {
  std::vector<Header> headers{{"Content-Type", "text/plain"}, {"x-twilio-signature", "sig"}};
  EXPECT_EQ(headerValue(headers, "X-Twilio-Signature"), "sig");
  EXPECT_EQ(headerValue(headers, "content-type"), "text/plain");
  EXPECT_EQ(headerValue(headers, "Missing"), "");
}

}  // namespace
}  // namespace omnigate::channels::wire
