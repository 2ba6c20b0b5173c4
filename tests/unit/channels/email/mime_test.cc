#include "channels/email/mime.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "tests/unit/channels/email/mime_reader.h"

namespace omnigate::channels::email {
namespace {

using testing::boundaryOf;
using testing::decodeBody;
using testing::decodeEncodedWords;
using testing::Entity;
using testing::readEntity;
using testing::readMultipart;
using testing::splitCrlfLines;

MimeMessage baseMessage() {
  MimeMessage message;
  message.from_name = "Shop";
  message.from_address = "noreply@shop.example";
  message.to_address = "petya@example.net";
  message.subject = "Your order A-17 has shipped";
  message.text = "Hello\nyour order is on its way.\n";
  message.html = "<p>Hello</p>";
  message.message_id = "01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example";
  message.date_unix_ms = 1503411323999;
  return message;
}

std::string mustBuild(const MimeMessage& message) {
  auto built = buildMimeMessage(message);
  if (!built.ok()) {
    ADD_FAILURE() << built.error().code << ": " << built.error().message;
    return "";
  }
  return built.value();
}

// Every line ends in CRLF (no bare CR or LF) and none is longer than `limit` octets.
void expectWellFormedLines(const std::string& message, std::size_t limit) {
  ASSERT_GE(message.size(), 2u);
  EXPECT_EQ(message.substr(message.size() - 2), "\r\n");
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') {
      ASSERT_TRUE(i > 0 && message[i - 1] == '\r') << "bare LF at " << i;
    }
    if (message[i] == '\r') {
      ASSERT_TRUE(i + 1 < message.size() && message[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  for (const auto& line : splitCrlfLines(message)) {
    EXPECT_LE(line.size(), limit) << line;
  }
}

TEST(MimeTest, CarriesEveryRequiredHeaderExactlyOnce) {
  MimeMessage message = baseMessage();
  message.reply_to = "support@shop.example";
  message.reply_to_name = "Support";
  std::string built = mustBuild(message);
  expectWellFormedLines(built, 78);
  Entity entity = readEntity(built);
  for (const char* name : {"Date", "From", "To", "Subject", "Message-ID", "MIME-Version",
                           "Content-Type", "Reply-To"}) {
    EXPECT_EQ(entity.all(name).size(), 1u) << name;
  }
  EXPECT_EQ(entity.get("Date"), "Tue, 22 Aug 2017 14:15:23 +0000");
  EXPECT_EQ(entity.get("From"), "Shop <noreply@shop.example>");
  EXPECT_EQ(entity.get("To"), "petya@example.net");
  EXPECT_EQ(entity.get("Reply-To"), "Support <support@shop.example>");
  EXPECT_EQ(entity.get("Subject"), "Your order A-17 has shipped");
  EXPECT_EQ(entity.get("Message-ID"), "<01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example>");
  EXPECT_EQ(entity.get("MIME-Version"), "1.0");
  EXPECT_TRUE(entity.all("List-Unsubscribe").empty());
  EXPECT_TRUE(entity.all("List-Unsubscribe-Post").empty());
  EXPECT_TRUE(entity.all("Bcc").empty());
}

TEST(MimeTest, AlternativePartsDecodeToTheInputAndTheBoundaryIsStable) {
  MimeMessage message = baseMessage();
  std::string first = mustBuild(message);
  Entity entity = readEntity(first);
  std::string content_type = entity.get("Content-Type");
  ASSERT_EQ(content_type.rfind("multipart/alternative;", 0), 0u) << content_type;
  std::string boundary = boundaryOf(content_type);
  ASSERT_FALSE(boundary.empty());

  auto parts = readMultipart(entity.body, boundary);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].get("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(decodeBody(parts[0]), "Hello\r\nyour order is on its way.\r\n");
  EXPECT_EQ(parts[1].get("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(decodeBody(parts[1]), "<p>Hello</p>");
  EXPECT_NE(entity.body.find("--" + boundary + "--\r\n"), std::string::npos);

  // A retry an hour later is recognisably the same message.
  message.date_unix_ms += 3'600'000;
  Entity retry = readEntity(mustBuild(message));
  EXPECT_EQ(retry.get("Message-ID"), entity.get("Message-ID"));
  EXPECT_EQ(retry.get("Content-Type"), content_type);
  EXPECT_NE(retry.get("Date"), entity.get("Date"));
}

TEST(MimeTest, ContentThatLooksLikeTheBoundaryCannotBreakTheStructure) {
  MimeMessage message = baseMessage();
  std::string boundary = boundaryOf(readEntity(mustBuild(message)).get("Content-Type"));
  message.text = "--" + boundary + "\r\n--" + boundary + "--\r\n";
  message.html = message.text;
  Entity entity = readEntity(mustBuild(message));
  auto parts = readMultipart(entity.body, boundaryOf(entity.get("Content-Type")));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(decodeBody(parts[0]), message.text);
  EXPECT_EQ(decodeBody(parts[1]), message.text);
}

struct SinglePartCase {
  std::string text;
  std::string html;
  std::string content_type;
  std::string decoded;  // the message must end in CRLF, so content without one gains it
};

void PrintTo(const SinglePartCase& c, std::ostream* out) { *out << c.content_type; }

class SinglePartTest : public ::testing::TestWithParam<SinglePartCase> {};

TEST_P(SinglePartTest, OnePartNeedsNoMultipart) {
  MimeMessage message = baseMessage();
  message.text = GetParam().text;
  message.html = GetParam().html;
  Entity entity = readEntity(mustBuild(message));
  EXPECT_EQ(entity.get("Content-Type"), GetParam().content_type);
  std::string decoded = decodeBody(entity);
  EXPECT_EQ(decoded, GetParam().decoded);
}

INSTANTIATE_TEST_SUITE_P(
    Parts, SinglePartTest,
    ::testing::Values(
        SinglePartCase{"only text", "", "text/plain; charset=utf-8", "only text\r\n"},
        SinglePartCase{"", "<b>only html</b>", "text/html; charset=utf-8", "<b>only html</b>\r\n"},
        SinglePartCase{"a\nb\n", "", "text/plain; charset=utf-8", "a\r\nb\r\n"},
        SinglePartCase{"a\n\n", "", "text/plain; charset=utf-8", "a\r\n\r\n"},
        SinglePartCase{"Привет\n", "", "text/plain; charset=utf-8", "Привет\r\n"}));

TEST(MimeTest, NoBodyIsAnError) {
  MimeMessage message = baseMessage();
  message.text.clear();
  message.html.clear();
  auto built = buildMimeMessage(message);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code, "empty_body");
}

// ---- bodies ------------------------------------------------------------------------------------

struct BodyCase {
  std::string name;
  std::string text;
  std::string expected_encoding;
};

class BodyTest : public ::testing::TestWithParam<BodyCase> {};

std::string toCrlf(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    if (text[i] == '\n' || text[i] == '\r') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

TEST_P(BodyTest, SurvivesEncodingIntactWithShortCrlfLines) {
  MimeMessage message = baseMessage();
  message.text = GetParam().text;
  message.html = "<p>" + GetParam().text + "</p>";
  std::string built = mustBuild(message);
  // Headers aim for 78; body lines are at most 76 whatever the content.
  expectWellFormedLines(built, 78);
  Entity entity = readEntity(built);
  auto parts = readMultipart(entity.body, boundaryOf(entity.get("Content-Type")));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].get("Content-Transfer-Encoding"), GetParam().expected_encoding);
  EXPECT_EQ(decodeBody(parts[0]), toCrlf(GetParam().text));
  EXPECT_EQ(decodeBody(parts[1]), toCrlf(message.html));
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, BodyTest,
    ::testing::Values(
        // libcurl dot-stuffs; the builder must leave dots alone for the decode to match.
        BodyCase{"DotLines", ".\n..\n. leading\nend\n.", "quoted-printable"},
        BodyCase{"LongLine", std::string(5000, 'x') + "\n" + std::string(3000, '=') + "\nend",
                 "quoted-printable"},
        BodyCase{"TrailingWhitespace", "space \ntab\t\nboth \t \n", "quoted-printable"},
        BodyCase{"MboxFrom", "From here on\nFrom\n", "quoted-printable"},
        BodyCase{"BareCrAndCrlf", "a\rb\r\nc\n\nd", "quoted-printable"},
        BodyCase{"SomeUtf8", "Price: 10 \xE2\x82\xAC, caf\xC3\xA9, long text in ASCII mostly",
                 "quoted-printable"},
        BodyCase{"Cyrillic",
                 "Здравствуйте!\nВаш заказ уже в пути.\n" + std::string(2000, 'z') + "ы",
                 "quoted-printable"},
        BodyCase{"MostlyCyrillic", "Здравствуйте! Ваш заказ уже в пути. Спасибо за покупку.\n",
                 "base64"},
        BodyCase{"ControlBytes", std::string("nul\0 and \x01 among plenty of plain text", 37),
                 "quoted-printable"}),
    [](const ::testing::TestParamInfo<BodyCase>& info) { return info.param.name; });

// ---- headers -----------------------------------------------------------------------------------

struct SubjectCase {
  std::string name;
  std::string subject;
  bool expect_encoded;
};

class SubjectTest : public ::testing::TestWithParam<SubjectCase> {};

TEST_P(SubjectTest, DecodesBackToTheSubjectWithinLineLimits) {
  MimeMessage message = baseMessage();
  message.subject = GetParam().subject;
  std::string built = mustBuild(message);
  expectWellFormedLines(built, 998);
  Entity entity = readEntity(built);
  std::string value = entity.get("Subject");
  EXPECT_EQ(value.find("=?UTF-8?B?") != std::string::npos, GetParam().expect_encoded) << value;
  EXPECT_EQ(GetParam().expect_encoded ? decodeEncodedWords(value) : value, GetParam().subject);

  // The raw Subject lines: within 76 with encoded words (RFC 2047), within 78 otherwise, and no
  // encoded word longer than 75.
  auto head = built.substr(0, built.find("\r\n\r\n"));
  auto lines = splitCrlfLines(head);
  bool in_subject = false;
  for (const auto& line : lines) {
    if (line.rfind("Subject:", 0) == 0) {
      in_subject = true;
    } else if (line.empty() || (line[0] != ' ' && line[0] != '\t')) {
      in_subject = false;
    }
    if (!in_subject) continue;
    EXPECT_LE(line.size(), GetParam().expect_encoded ? 76u : 78u) << line;
    for (std::size_t at = line.find("=?"); at != std::string::npos; at = line.find("=?", at + 2)) {
      auto end = line.find("?=", at + 10);
      ASSERT_NE(end, std::string::npos);
      EXPECT_LE(end + 2 - at, 75u);
      at = end;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Subjects, SubjectTest,
    ::testing::Values(
        SubjectCase{"Ascii", "Your order has shipped", false},
        SubjectCase{"LongAsciiFolds",
                    "This subject is long enough that it has to be folded onto a second line "
                    "and maybe a third one as well, at spaces only",
                    false},
        SubjectCase{"CyrillicShort", "Заказ A-17 отправлен", true},
        SubjectCase{"CyrillicLong",
                    "Ваш заказ A-17 отправлен и будет доставлен в течение трёх рабочих дней, "
                    "спасибо, что выбрали наш магазин — ждём вас снова!",
                    true},
        SubjectCase{"Emoji",
                    "Shipped \xF0\x9F\x93\xA6\xF0\x9F\x93\xA6\xF0\x9F\x93\xA6 "
                    "\xF0\x9F\x9A\x9A\xF0\x9F\x9A\x9A\xF0\x9F\x9A\x9A\xF0\x9F\x9A\x9A"
                    "\xF0\x9F\x9A\x9A\xF0\x9F\x9A\x9A\xF0\x9F\x9A\x9A\xF0\x9F\x9A\x9A",
                    true},
        SubjectCase{"LooksEncoded", "literal =?UTF-8?B?SGk=?= stays literal", true},
        SubjectCase{"UnbreakableWord", std::string(300, 'w'), true},
        SubjectCase{"ControlCharacter", "tab\there", true}, SubjectCase{"Empty", "", false}),
    [](const ::testing::TestParamInfo<SubjectCase>& info) { return info.param.name; });

// An encoded word must decode on its own: no UTF-8 sequence may be split between two words.
TEST(MimeTest, EncodedWordsSplitOnCharacterBoundaries) {
  MimeMessage message = baseMessage();
  for (std::string filler : {"", "a", "ab"}) {
    message.subject = filler;
    for (int i = 0; i < 40; ++i) message.subject += "\xE2\x82\xAC";  // €, three octets
    std::string value = readEntity(mustBuild(message)).get("Subject");
    std::size_t at = 0;
    while ((at = value.find("=?UTF-8?B?", at)) != std::string::npos) {
      auto end = value.find("?=", at + 10);
      std::string word = testing::decodeBase64(value.substr(at + 10, end - at - 10));
      ASSERT_FALSE(word.empty());
      EXPECT_NE(static_cast<unsigned char>(word.front()) & 0xC0, 0x80u) << filler;
      std::size_t i = word.size();
      while (i > 0 && (static_cast<unsigned char>(word[i - 1]) & 0xC0) == 0x80) --i;
      ASSERT_GT(i, 0u);
      auto lead = static_cast<unsigned char>(word[i - 1]);
      std::size_t expected = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      EXPECT_EQ(word.size() - (i - 1), expected) << "word ends inside a character";
      at = end;
    }
    EXPECT_EQ(decodeEncodedWords(value), message.subject);
  }
}

TEST(MimeTest, EncodedWordsBreakAtSpacesWhenTheTextHasThem) {
  MimeMessage message = baseMessage();
  message.from_name = "Интернет-магазин бытовой техники и электроники «Пример»";
  std::string from = readEntity(mustBuild(message)).get("From");
  std::vector<std::string> words;
  for (std::size_t at = from.find("=?UTF-8?B?"); at != std::string::npos;
       at = from.find("=?UTF-8?B?", at + 1)) {
    auto end = from.find("?=", at + 10);
    words.push_back(testing::decodeBase64(from.substr(at + 10, end - at - 10)));
  }
  ASSERT_GE(words.size(), 2u) << from;
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    EXPECT_EQ(words[i].back(), ' ') << words[i];
  }
}

struct NameCase {
  std::string name;
  std::string display;
  std::string expected_raw;  // empty: encoded, check by decoding
};

class DisplayNameTest : public ::testing::TestWithParam<NameCase> {};

TEST_P(DisplayNameTest, RoundTripsThroughTheFromHeader) {
  MimeMessage message = baseMessage();
  message.from_name = GetParam().display;
  Entity entity = readEntity(mustBuild(message));
  std::string from = entity.get("From");
  if (!GetParam().expected_raw.empty()) {
    EXPECT_EQ(from, GetParam().expected_raw);
  } else {
    EXPECT_EQ(from.find(GetParam().display), std::string::npos) << from;
    EXPECT_EQ(decodeEncodedWords(from), GetParam().display + " <noreply@shop.example>");
  }
  EXPECT_EQ(entity.all("From").size(), 1u);
  EXPECT_TRUE(entity.all("Bcc").empty());
}

INSTANTIATE_TEST_SUITE_P(
    Names, DisplayNameTest,
    ::testing::Values(
        NameCase{"Atoms", "Shop Team", "Shop Team <noreply@shop.example>"},
        NameCase{"Specials", "Shop, Inc. \"Best\"",
                 R"("Shop, Inc. \"Best\"" <noreply@shop.example>)"},
        NameCase{"HeaderLookalike", "Bcc: x@evil", R"("Bcc: x@evil" <noreply@shop.example>)"},
        NameCase{"Cyrillic", "Магазин", ""},
        NameCase{"LongCyrillic", "Интернет-магазин бытовой техники и электроники «Пример»", ""}),
    [](const ::testing::TestParamInfo<NameCase>& info) { return info.param.name; });

struct InjectionCase {
  std::string name;
  void (*poison)(MimeMessage&);
  std::string code;
};

class InjectionTest : public ::testing::TestWithParam<InjectionCase> {};

TEST_P(InjectionTest, NoInputCanAddAHeaderLine) {
  MimeMessage message = baseMessage();
  GetParam().poison(message);
  auto built = buildMimeMessage(message);
  if (built.ok()) {
    // Accepted only if it produced no header of its own.
    Entity entity = readEntity(built.value());
    EXPECT_TRUE(entity.all("Bcc").empty()) << built.value();
  } else {
    EXPECT_EQ(built.error().code, GetParam().code);
  }
  EXPECT_FALSE(built.ok()) << "expected " << GetParam().code;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, InjectionTest,
    ::testing::Values(
        InjectionCase{"SubjectCrlf", [](MimeMessage& m) { m.subject = "Hi\r\nBcc: x@evil"; },
                      "invalid_header"},
        InjectionCase{"SubjectLf", [](MimeMessage& m) { m.subject = "Hi\nBcc: x@evil"; },
                      "invalid_header"},
        InjectionCase{"SubjectCr", [](MimeMessage& m) { m.subject = "Hi\rBcc: x@evil"; },
                      "invalid_header"},
        InjectionCase{"SubjectNul",
                      [](MimeMessage& m) { m.subject = std::string("Hi\0Bcc: x@evil", 15); },
                      "invalid_header"},
        InjectionCase{"FromName", [](MimeMessage& m) { m.from_name = "Hi\r\nBcc: x@evil"; },
                      "invalid_header"},
        InjectionCase{"ToName", [](MimeMessage& m) { m.to_name = "Hi\r\nBcc: x@evil"; },
                      "invalid_header"},
        InjectionCase{"ReplyToName",
                      [](MimeMessage& m) {
                        m.reply_to = "a@b.example";
                        m.reply_to_name = "x\nBcc: x@evil";
                      },
                      "invalid_header"},
        InjectionCase{"ToAddress",
                      [](MimeMessage& m) { m.to_address = "a@b.example\r\nBcc: x@evil"; },
                      "invalid_header"},
        InjectionCase{"ToAddressAngle",
                      [](MimeMessage& m) { m.to_address = "a@b.example>, <x@evil"; },
                      "invalid_address"},
        InjectionCase{"MessageId", [](MimeMessage& m) { m.message_id = "a@b\r\nBcc: x@evil"; },
                      "invalid_header"},
        InjectionCase{
            "ListUnsubscribe",
            [](MimeMessage& m) { m.list_unsubscribe = {"https://u.example/x>\r\nBcc: x@evil"}; },
            "invalid_list_unsubscribe"}),
    [](const ::testing::TestParamInfo<InjectionCase>& info) { return info.param.name; });

struct MessageIdCase {
  std::string id;
  std::string expected;  // empty: invalid_message_id
};

class MessageIdTest : public ::testing::TestWithParam<MessageIdCase> {};

TEST_P(MessageIdTest, IsAlwaysOneBracketedIdLeftAtRight) {
  MimeMessage message = baseMessage();
  message.message_id = GetParam().id;
  auto built = buildMimeMessage(message);
  if (GetParam().expected.empty()) {
    ASSERT_FALSE(built.ok());
    EXPECT_EQ(built.error().code, "invalid_message_id");
  } else {
    ASSERT_TRUE(built.ok()) << built.error().message;
    EXPECT_EQ(readEntity(built.value()).get("Message-ID"), GetParam().expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Ids, MessageIdTest,
                         ::testing::Values(MessageIdCase{"a.b@c.d", "<a.b@c.d>"},
                                           MessageIdCase{"<a@c>", "<a@c>"},
                                           MessageIdCase{"no-at-sign", ""},
                                           MessageIdCase{"a b@c", ""}, MessageIdCase{"a@b@c", ""},
                                           MessageIdCase{"a@", ""}, MessageIdCase{".a@b", ""}));

TEST(MimeTest, DateIsRfc5322InUtc) {
  struct Case {
    std::int64_t unix_ms;
    const char* expected;
  };
  for (const auto& [unix_ms, expected] : {Case{0, "Thu, 01 Jan 1970 00:00:00 +0000"},
                                          Case{1503411323999, "Tue, 22 Aug 2017 14:15:23 +0000"},
                                          Case{951782400000, "Tue, 29 Feb 2000 00:00:00 +0000"},
                                          Case{4102444799000, "Thu, 31 Dec 2099 23:59:59 +0000"},
                                          Case{-1, "Wed, 31 Dec 1969 23:59:59 +0000"}}) {
    EXPECT_EQ(formatRfc5322Date(unix_ms), expected) << unix_ms;
  }
}

TEST(MimeTest, ListUnsubscribeWithOneClick) {
  MimeMessage message = baseMessage();
  message.list_unsubscribe = {"https://shop.example/unsubscribe/01J9ZQ4N3V6Y7W8X9A0B1C2D3E",
                              "mailto:unsubscribe+01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example"};
  message.one_click = true;
  std::string built = mustBuild(message);
  expectWellFormedLines(built, 78);
  Entity entity = readEntity(built);
  EXPECT_EQ(entity.get("List-Unsubscribe"),
            "<https://shop.example/unsubscribe/01J9ZQ4N3V6Y7W8X9A0B1C2D3E>, "
            "<mailto:unsubscribe+01J9ZQ4N3V6Y7W8X9A0B1C2D3E@shop.example>");
  EXPECT_EQ(entity.get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
}

TEST(MimeTest, ListUnsubscribeRules) {
  struct Case {
    std::vector<std::string> uris;
    bool one_click;
    bool ok;
  };
  for (const auto& [uris, one_click, ok] : {
           Case{{"mailto:u@shop.example"}, false, true},
           Case{{"mailto:u@shop.example"}, true, false},  // one-click needs https
           Case{{}, true, false},
           Case{{"HTTPS://shop.example/u"}, true, true},
           Case{{"javascript:alert(1)"}, false, false},
           Case{{"https://shop.example/a,b"}, false, false},
           Case{{"https://shop.example/a b"}, false, false},
       }) {
    MimeMessage message = baseMessage();
    message.list_unsubscribe = uris;
    message.one_click = one_click;
    auto built = buildMimeMessage(message);
    EXPECT_EQ(built.ok(), ok) << (uris.empty() ? "(none)" : uris[0]);
    if (!ok && !built.ok()) {
      EXPECT_EQ(built.error().code, "invalid_list_unsubscribe");
    }
  }
}

TEST(QuotedPrintableTest, KnownEncodings) {
  EXPECT_EQ(encodeQuotedPrintable("a=b"), "a=3Db");
  EXPECT_EQ(encodeQuotedPrintable("caf\xC3\xA9"), "caf=C3=A9");
  EXPECT_EQ(encodeQuotedPrintable("end \r\nnext\t"), "end=20\r\nnext=09");
  EXPECT_EQ(encodeQuotedPrintable("From me"), "=46rom me");
  EXPECT_EQ(encodeQuotedPrintable(std::string(80, 'a')),
            std::string(75, 'a') + "=\r\n" + std::string(5, 'a'));
  // An escape is never split by a soft break.
  EXPECT_EQ(encodeQuotedPrintable(std::string(74, 'a') + "="), std::string(74, 'a') + "=\r\n=3D");
}

TEST(Base64LinesTest, WrapsAt76) {
  EXPECT_EQ(encodeBase64Lines(""), "");
  EXPECT_EQ(encodeBase64Lines("hi"), "aGk=\r\n");
  std::string wrapped = encodeBase64Lines(std::string(60, 'x'));
  EXPECT_EQ(wrapped.find("\r\n"), 76u);
  EXPECT_EQ(testing::decodeBase64(wrapped), std::string(60, 'x'));
}

}  // namespace
}  // namespace omnigate::channels::email
