#include "templates/template_set.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace omnigate::templates {
namespace {

using Files = std::vector<TemplateFile>;

TemplateSet mustBuild(const Files& files) {
  auto set = TemplateSet::build(files);
  if (!set.ok()) {
    ADD_FAILURE() << set.error().code << ": " << set.error().message;
    return TemplateSet();
  }
  return std::move(set.value());
}

RenderedParts mustRender(const TemplateSet& set, const std::string& id, const std::string& locale,
                         const TemplateValue& data) {
  auto parts = set.render(id, locale, data);
  if (!parts.ok()) {
    ADD_FAILURE() << parts.error().code << ": " << parts.error().message;
    return {};
  }
  return std::move(parts.value());
}

// ---- locale fallback ---------------------------------------------------------------------------

Files greetingFiles() {
  return {
      {"greet/default/email.subject", "Hello {{name}}\n"},
      {"greet/default/email.txt", "Hello {{name}}\n{{> sig}}"},
      {"greet/default/sms.txt", "Hi {{name}}\n"},
      {"greet/default/push.body", "Hi {{name}}"},
      {"greet/ru/email.subject", "Привет, {{name}}"},
      {"greet/ru/email.txt", "Привет, {{name}}\n{{> sig}}"},
      {"greet/ru/sms.txt", "Привет"},
      {"greet/ru-RU/sms.txt", "Привет из России"},
      {"greet/pt-BR/email.subject", "Olá {{name}}"},
      {"greet/pt-BR/email.txt", "Olá\n{{> sig}}"},
      {"_partials/sig.mustache", "-- the shop"},
      {"_partials/sig.ru.mustache", "-- магазин"},
  };
}

struct FallbackCase {
  std::string requested;
  std::string subject;
  std::string text;
  std::string sms;
  std::string push_body;
  std::string resolved;
  friend void PrintTo(const FallbackCase& c, std::ostream* out) {
    *out << "locale '" << c.requested << "'";
  }
};

class LocaleFallbackTest : public ::testing::TestWithParam<FallbackCase> {};

TEST_P(LocaleFallbackTest, EachChannelComesFromTheMostSpecificVariantThatHasIt) {
  const auto& want = GetParam();
  TemplateSet set = mustBuild(greetingFiles());
  TemplateValue data = TemplateValue::Fields{{"name", "Petya"}};
  RenderedParts parts = mustRender(set, "greet", want.requested, data);
  EXPECT_EQ(parts.email_subject, want.subject);
  EXPECT_EQ(parts.email_text, want.text);
  EXPECT_EQ(parts.sms_text, want.sms);
  EXPECT_EQ(parts.push_body, want.push_body);
  EXPECT_EQ(parts.resolved_locale, want.resolved);
}

INSTANTIATE_TEST_SUITE_P(
    Locales, LocaleFallbackTest,
    ::testing::Values(
        // ru-RU has only an SMS: email comes from ru, push from default.
        FallbackCase{"ru-RU", "Привет, Petya", "Привет, Petya\n-- магазин", "Привет из России",
                     "Hi Petya", "ru-RU"},
        FallbackCase{"ru", "Привет, Petya", "Привет, Petya\n-- магазин", "Привет", "Hi Petya",
                     "ru"},
        FallbackCase{"ru_RU.UTF-8", "Привет, Petya", "Привет, Petya\n-- магазин",
                     "Привет из России", "Hi Petya", "ru-RU"},
        FallbackCase{"RU", "Привет, Petya", "Привет, Petya\n-- магазин", "Привет", "Hi Petya",
                     "ru"},
        FallbackCase{"ru-UA", "Привет, Petya", "Привет, Petya\n-- магазин", "Привет", "Hi Petya",
                     "ru"},
        // pt-BR has no pt-BR partial: the partial falls back to default, the text does not.
        FallbackCase{"pt-BR", "Olá Petya", "Olá\n-- the shop", "Hi Petya", "Hi Petya", "pt-BR"},
        FallbackCase{"pt", "Hello Petya", "Hello Petya\n-- the shop", "Hi Petya", "Hi Petya",
                     "default"},
        FallbackCase{"en-US", "Hello Petya", "Hello Petya\n-- the shop", "Hi Petya", "Hi Petya",
                     "default"},
        FallbackCase{"", "Hello Petya", "Hello Petya\n-- the shop", "Hi Petya", "Hi Petya",
                     "default"}));

TEST(LocaleChainTest, StripsSubtagsFromTheEnd) {
  EXPECT_EQ(localeFallbackChain("zh-Hant-TW"),
            (std::vector<std::string>{"zh-hant-tw", "zh-hant", "zh", "default"}));
  EXPECT_EQ(localeFallbackChain("default"), (std::vector<std::string>{"default"}));
  EXPECT_EQ(normalizeLocale("pt_BR.UTF-8@euro"), "pt-br");
}

// ---- escaping ----------------------------------------------------------------------------------

struct EscapeCase {
  std::string file;
  std::string source;
  std::string value;
  std::string expected;
  friend void PrintTo(const EscapeCase& c, std::ostream* out) {
    *out << c.file << " '" << c.source << "' with '" << c.value << "'";
  }
};

class EscapingTest : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(EscapingTest, EachPartEscapesForWhatItIs) {
  const auto& param = GetParam();
  Files files = {{"t/default/" + param.file, param.source}};
  if (param.file.rfind("email.", 0) == 0 && param.file != "email.subject") {
    files.push_back({"t/default/email.subject", "s"});
  }
  if (param.file == "email.subject") files.push_back({"t/default/email.txt", "body"});
  if (param.file == "push.title") files.push_back({"t/default/push.body", "body"});
  TemplateSet set = mustBuild(files);
  RenderedParts parts = mustRender(set, "t", "", TemplateValue::Fields{{"v", param.value}});
  std::string got = param.file == "email.html"       ? parts.email_html
                    : param.file == "email.txt"      ? parts.email_text
                    : param.file == "email.subject"  ? parts.email_subject
                    : param.file == "sms.txt"        ? parts.sms_text
                    : param.file == "push.title"     ? parts.push_title
                    : param.file == "push.data.json" ? parts.push_data_json
                                                     : parts.messenger_text;
  EXPECT_EQ(got, param.expected);
}

const std::string kNasty = R"(<b>"Tom" & 'Jerry'</b>)";

INSTANTIATE_TEST_SUITE_P(
    Parts, EscapingTest,
    ::testing::Values(EscapeCase{"email.html", "<p>{{v}}</p>", kNasty,
                                 "<p>&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;</p>"},
                      EscapeCase{"email.html", "<p>{{{v}}}</p>", kNasty, "<p>" + kNasty + "</p>"},
                      EscapeCase{"email.html", "<p>{{&v}}</p>", kNasty, "<p>" + kNasty + "</p>"},
                      EscapeCase{"email.txt", "{{v}}", kNasty, kNasty},
                      EscapeCase{"email.subject", "Re: {{v}}", kNasty, "Re: " + kNasty},
                      EscapeCase{"sms.txt", "{{v}}", kNasty, kNasty},
                      EscapeCase{"messenger.txt", "{{v}}", kNasty, kNasty},
                      EscapeCase{"push.data.json", R"({"k": "{{v}}"})", "say \"hi\"\\\n",
                                 R"({"k": "say \"hi\"\\\n"})"},
                      // A value is text, never a template: no second expansion anywhere.
                      EscapeCase{"email.txt", "{{v}}", "{{v}} {{#v}}x{{/v}} {{> p}}",
                                 "{{v}} {{#v}}x{{/v}} {{> p}}"},
                      EscapeCase{"email.html", "{{{v}}}", "{{v}}", "{{v}}"},
                      // One-line parts fold the line breaks a value brings.
                      EscapeCase{"email.subject", "Order {{v}}\n", "A-17\r\nBcc: x@evil",
                                 "Order A-17 Bcc: x@evil"},
                      EscapeCase{"push.title", "{{v}}", "two\nlines\t\x01", "two lines"}));

TEST(TemplateSetTest, DataNamedLikeAPartialIsNeverUsedAsOne) {
  TemplateSet set = mustBuild({{"t/default/sms.txt", "{{> footer}}|{{> footer}}"},
                               {"_partials/footer.mustache", "real footer"}});
  TemplateValue data = TemplateValue::Fields{{"footer", "{{secret}}"}, {"secret", "leaked"}};
  EXPECT_EQ(mustRender(set, "t", "", data).sms_text, "real footer|real footer");
}

TEST(TemplateSetTest, CustomerProfileIsAvailableAndAuthoritative) {
  TemplateSet set = mustBuild({{"t/default/sms.txt", "{{customer.name}} ({{customer.id}})"}});
  TemplateValue request =
      TemplateValue::Fields{{"customer", TemplateValue::Fields{{"name", "spoofed"}}}};
  TemplateValue profile = TemplateValue::Fields{{"name", "Petya"}, {"id", "c-42"}};
  EXPECT_EQ(mustRender(set, "t", "", withCustomer(request, profile)).sms_text, "Petya (c-42)");
}

TEST(TemplateSetTest, ListsSectionsNumbersAndNulls) {
  TemplateSet set = mustBuild(
      {{"t/default/sms.txt",
        "{{#items}}[{{name}} x{{qty}} {{price}}]{{/items}}{{^missing}} none{{/missing}}{{gone}}"}});
  TemplateValue data = TemplateValue::Fields{
      {"items",
       TemplateValue::List{TemplateValue::Fields{{"name", "a"}, {"qty", 2}, {"price", 2.5}},
                           TemplateValue::Fields{{"name", "b"}, {"qty", 1}, {"price", 3.0}}}},
      {"gone", TemplateValue()}};
  EXPECT_EQ(mustRender(set, "t", "", data).sms_text, "[a x2 2.5][b x1 3] none");
}

TEST(TemplateSetTest, SectionLinesLeaveNoBlankLinesWhetherRenderedOrNot) {
  TemplateSet set =
      mustBuild({{"t/default/email.subject", "s"},
                 {"t/default/email.txt",
                  "Hi\n{{#items}}\n- {{.}}\n{{/items}}\n{{^items}}\nnone\n{{/items}}\n"
                  "{{! a note for translators }}\n{{#url}}\nlink: {{url}}\n{{/url}}\nBye\n"}});
  struct Case {
    TemplateValue data;
    std::string expected;
  };
  for (const auto& [data, expected] : {
           Case{TemplateValue::object(), "Hi\nnone\nBye\n"},
           Case{TemplateValue::Fields{{"items", TemplateValue::List{"a", "b"}}, {"url", "u"}},
                "Hi\n- a\n- b\nlink: u\nBye\n"},
           Case{TemplateValue::Fields{{"items", TemplateValue::List{}}, {"url", false}},
                "Hi\nnone\nBye\n"},
           Case{TemplateValue::Fields{{"items", TemplateValue::List{"a"}}}, "Hi\n- a\nBye\n"},
       }) {
    EXPECT_EQ(mustRender(set, "t", "", data).email_text, expected);
  }
}

TEST(TemplateSetTest, BlankLinesAroundSectionsStay) {
  TemplateSet set = mustBuild({{"t/default/sms.txt", "A\n\n{{#s}}\n\nB\n\n{{/s}}\n\nC"}});
  EXPECT_EQ(mustRender(set, "t", "", TemplateValue::Fields{{"s", true}}).sms_text,
            "A\n\n\nB\n\n\nC");
  EXPECT_EQ(mustRender(set, "t", "", TemplateValue::Fields{{"s", false}}).sms_text, "A\n\n\nC");
}

TEST(TemplateSetTest, PartialsLoseTheirFinalNewline) {
  TemplateSet set = mustBuild({{"t/default/email.subject", "s"},
                               {"t/default/email.txt", "<{{> inline}}>\n{{> block}}\nend"},
                               {"_partials/inline.mustache", "in\n"},
                               {"_partials/block.mustache", "line 1\r\nline 2\r\n"}});
  EXPECT_EQ(mustRender(set, "t", "", TemplateValue::object()).email_text,
            "<in>\nline 1\r\nline 2\nend");
}

TEST(TemplateSetTest, VeryDeepDataIsCutOffInsteadOfOverflowing) {
  TemplateValue deep = "bottom";
  for (int i = 0; i < 300; ++i) deep = TemplateValue::Fields{{"a", std::move(deep)}};
  TemplateSet set = mustBuild({{"t/default/sms.txt", "x{{a.a.a}}"}});
  EXPECT_EQ(mustRender(set, "t", "", deep).sms_text, "x");
}

TEST(TemplateSetTest, LayoutWrapsThePartAndEscapesNothingTwice) {
  TemplateSet set = mustBuild({
      {"t/default/email.subject", "s"},
      {"t/default/email.html", "{{! layout: main }}\n<p>{{v}}</p>\n"},
      {"t/default/email.txt", "{{! layout: plain }}\n{{v}}"},
      {"_layouts/main.mustache", "<body>{{{content}}}<i>{{> foot}}</i></body>"},
      {"_layouts/plain.mustache", "{{content}}\n--\n{{> foot}}"},
      {"_partials/foot.mustache", "{{v}}"},
  });
  RenderedParts parts = mustRender(set, "t", "", TemplateValue::Fields{{"v", "a&b"}});
  EXPECT_EQ(parts.email_html, "<body><p>a&amp;b</p>\n<i>a&amp;b</i></body>");
  EXPECT_EQ(parts.email_text, "a&b\n--\na&b");
}

TEST(TemplateSetTest, RendersOneChannelOnRequest) {
  TemplateSet set = mustBuild(greetingFiles());
  TemplateValue data = TemplateValue::Fields{{"name", "Petya"}};
  auto sms = set.render("greet", "ru", data, "sms");
  ASSERT_TRUE(sms.ok()) << sms.error().message;
  EXPECT_EQ(sms->sms_text, "Привет");
  EXPECT_TRUE(sms->email_subject.empty());
  EXPECT_TRUE(sms->push_body.empty());
  EXPECT_EQ(sms->resolved_locale, "ru");
  auto email = set.render("greet", "ru", data, "email");
  ASSERT_TRUE(email.ok());
  EXPECT_EQ(email->email_subject, "Привет, Petya");
  EXPECT_TRUE(email->sms_text.empty());
  auto unknown = set.render("greet", "ru", data, "fax");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "unknown_channel");
}

TEST(TemplateSetTest, UnknownTemplateIsAnError) {
  TemplateSet set = mustBuild(greetingFiles());
  EXPECT_TRUE(set.has("greet"));
  EXPECT_FALSE(set.has("absent"));
  auto parts = set.render("absent", "ru", TemplateValue::object());
  ASSERT_FALSE(parts.ok());
  EXPECT_EQ(parts.error().code, "unknown_template");
  EXPECT_FALSE(TemplateSet().has("greet"));
  EXPECT_EQ(set.ids(), std::vector<std::string>{"greet"});
}

TEST(TemplateSetTest, RootFilesAreDocumentationAndIgnored) {
  TemplateSet set = mustBuild({{"README.md", "{{#broken"}, {"t/default/sms.txt", "x"}});
  EXPECT_TRUE(set.has("t"));
}

// ---- validation --------------------------------------------------------------------------------

struct BrokenCase {
  std::string name;
  Files files;
  std::string code;
  std::string message_part;  // "path:line: what" where a line applies
};

class BrokenSetTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenSetTest, NamesTheFileAndLine) {
  const auto& param = GetParam();
  auto set = TemplateSet::build(param.files);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, param.code);
  EXPECT_NE(set.error().message.find(param.message_part), std::string::npos) << set.error().message;
}

const TemplateFile kSms = {"t/default/sms.txt", "fine"};

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokenSetTest,
    ::testing::Values(
        BrokenCase{"UnclosedSection",
                   {{"t/default/sms.txt", "line one\nline two {{#items}}\nline three\n"}},
                   "template_syntax",
                   "t/default/sms.txt:2: Unclosed section \"items\""},
        BrokenCase{"UnclosedTag",
                   {{"t/default/sms.txt", "a\nb\nc {{name\n"}},
                   "template_syntax",
                   "t/default/sms.txt:3: Unclosed tag"},
        BrokenCase{"UnopenedSection",
                   {{"t/default/sms.txt", "{{/x}}"}},
                   "template_syntax",
                   "t/default/sms.txt:1: Unopened section \"x\""},
        BrokenCase{"BrokenPartial",
                   {kSms, {"_partials/p.mustache", "ok\n{{#a}}"}},
                   "template_syntax",
                   "_partials/p.mustache:2: Unclosed section"},
        BrokenCase{"UnknownPartialInsideAFalseSection",
                   {{"t/default/sms.txt", "x\n{{#never}}{{> missing}}{{/never}}"}},
                   "template_unknown_partial",
                   "t/default/sms.txt:2: unknown partial 'missing'"},
        BrokenCase{"PartialCycle",
                   {kSms,
                    {"_partials/a.mustache", "{{> b}}"},
                    {"_partials/b.mustache", "x\n{{#c}}{{> a}}{{/c}}"}},
                   "template_partial_cycle",
                   "_partials/b.mustache:2: partials include each other: a -> b -> a"},
        BrokenCase{"SelfIncludingPartial",
                   {kSms, {"_partials/a.mustache", "{{> a}}"}},
                   "template_partial_cycle",
                   "a -> a"},
        BrokenCase{"LocalizedPartialWithoutDefault",
                   {kSms, {"_partials/p.ru.mustache", "x"}},
                   "template_no_default",
                   "_partials/p.ru.mustache"},
        BrokenCase{"TemplateWithoutDefault",
                   {{"t/ru/sms.txt", "x"}},
                   "template_no_default",
                   "t/: needs a default/ variant"},
        BrokenCase{"EmptyPart",
                   {{"t/default/sms.txt", " \n\n"}},
                   "template_empty",
                   "t/default/sms.txt: the part is empty"},
        BrokenCase{"UnknownPartFile",
                   {kSms, {"t/default/emial.txt", "x"}},
                   "template_path",
                   "t/default/emial.txt: unknown part 'emial.txt'"},
        BrokenCase{
            "BadLocaleDirectory", {kSms, {"t/r/sms.txt", "x"}}, "template_path", "t/r/sms.txt"},
        BrokenCase{"TooDeep",
                   {kSms, {"t/default/extra/sms.txt", "x"}},
                   "template_path",
                   "t/default/extra/sms.txt: expected <template>/<locale>/<part>"},
        BrokenCase{"UnknownLayout",
                   {{"t/default/sms.txt", "{{! layout: nope }}\nx"}},
                   "template_layout",
                   "t/default/sms.txt:1: unknown layout 'nope'"},
        BrokenCase{"LayoutWithoutContent",
                   {{"t/default/sms.txt", "{{! layout: l }}\nx"}, {"_layouts/l.mustache", "x"}},
                   "template_layout",
                   "_layouts/l.mustache: a layout must place {{{content}}}"},
        BrokenCase{"EscapedContentInHtmlLayout",
                   {{"t/default/email.subject", "s"},
                    {"t/default/email.html", "{{! layout: l }}\nx"},
                    {"_layouts/l.mustache", "<b>\n{{content}}</b>"}},
                   "template_layout",
                   "_layouts/l.mustache:2: use {{{content}}}"},
        BrokenCase{"EmailWithoutSubject",
                   {{"t/default/email.txt", "x"}},
                   "template_incomplete",
                   "t/default/: an email needs email.subject"},
        BrokenCase{"SubjectWithoutBody",
                   {{"t/default/email.subject", "x"}},
                   "template_incomplete",
                   "needs email.txt or email.html"}),
    [](const ::testing::TestParamInfo<BrokenCase>& info) { return info.param.name; });

TEST(TemplateSetTest, ReportsEveryProblemAtOnce) {
  auto set = TemplateSet::build({{"a/default/sms.txt", "{{#x}}"},
                                 {"b/default/sms.txt", "{{> nope}}"},
                                 {"c/default/sms.txt", "fine"}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_syntax");
  EXPECT_NE(set.error().message.find("a/default/sms.txt:1:"), std::string::npos);
  EXPECT_NE(set.error().message.find("b/default/sms.txt:1: unknown partial"), std::string::npos);
}

// ---- the shipped sample ------------------------------------------------------------------------

std::string sampleDir() {
  // tests/unit/templates/<this file> → etc/templates
  return (std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "etc" / "templates")
      .lexically_normal()
      .string();
}

TEST(SampleTemplatesTest, OrderShippedBuildsAndRendersInBothLocales) {
  auto files = readTemplateFiles(sampleDir());
  ASSERT_TRUE(files.ok()) << files.error().message;
  TemplateSet set = mustBuild(files.value());
  ASSERT_TRUE(set.has("order_shipped"));

  TemplateValue data = withCustomer(
      TemplateValue::Fields{
          {"order",
           TemplateValue::Fields{{"id", "A-17"},
                                 {"carrier", "DHL"},
                                 {"tracking_url", "https://track.example/A-17?a=1&b=2"},
                                 {"items", TemplateValue::List{TemplateValue::Fields{
                                               {"name", "Tea <green>"}, {"quantity", 2}}}}}},
          {"shop", TemplateValue::Fields{{"name", "Shop"}}}},
      TemplateValue::Fields{{"name", "Petya"}});

  RenderedParts en = mustRender(set, "order_shipped", "en", data);
  EXPECT_EQ(en.resolved_locale, "default");
  EXPECT_EQ(en.email_subject, "Your order A-17 has shipped");
  EXPECT_EQ(en.email_text,
            "Hello Petya,\n\nyour order A-17 is on its way with DHL.\n  - Tea <green> x 2\n\n"
            "Track the parcel: https://track.example/A-17?a=1&b=2\n\n--\n"
            "You receive this message because you ordered at Shop.\n");
  EXPECT_NE(en.email_html.find("Tea &lt;green&gt;"), std::string::npos) << en.email_html;
  EXPECT_NE(en.email_html.find("https://track.example/A-17?a=1&amp;b=2"), std::string::npos);
  EXPECT_NE(en.email_html.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_NE(en.email_html.find("ordered at Shop."), std::string::npos);
  EXPECT_EQ(en.push_data_json, R"({"screen": "order", "order_id": "A-17"})");
  EXPECT_EQ(en.sms_text, "Order A-17 has shipped. Track: https://track.example/A-17?a=1&b=2");

  // Without the optional fields no empty lines are left where the sections were.
  RenderedParts bare = mustRender(
      set, "order_shipped", "",
      withCustomer(TemplateValue::Fields{{"order", TemplateValue::Fields{{"id", "B-1"}}}},
                   TemplateValue::object()));
  EXPECT_EQ(bare.email_text,
            "Hello,\n\nyour order B-1 is on its way.\n\n--\n"
            "You receive this message because you ordered at our shop.\n");

  RenderedParts ru = mustRender(set, "order_shipped", "ru-RU", data);
  EXPECT_EQ(ru.resolved_locale, "ru");
  EXPECT_EQ(ru.email_subject, "Заказ A-17 отправлен");
  EXPECT_NE(ru.email_text.find("заказ в Shop."), std::string::npos) << ru.email_text;
  EXPECT_NE(ru.email_html.find("заказ в Shop."), std::string::npos);
  EXPECT_FALSE(ru.messenger_text.empty());
}

}  // namespace
}  // namespace omnigate::templates
