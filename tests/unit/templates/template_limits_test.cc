// Limits TemplateSet::build enforces before kainjow parses or renders anything: section nesting
// (kainjow recurses once per level, so a deep file overflowed the stack at --check-config; found
// by fuzz_templates) and UTF-8 (every channel sends UTF-8 text).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "templates/mustache_tags.h"
#include "templates/template_set.h"

namespace omnigate::templates {
namespace {

using Files = std::vector<TemplateFile>;

// `levels` sections one inside the other around "x", e.g. 2 -> "{{#a}}{{#a}}x{{/a}}{{/a}}".
std::string nested(int levels, const std::string& open = "{{#a}}",
                   const std::string& close = "{{/a}}") {
  std::string text;
  for (int i = 0; i < levels; ++i) text += open;
  text += "x";
  for (int i = 0; i < levels; ++i) text += close;
  return text;
}

// ---- sectionNesting -----------------------------------------------------------------------------

TEST(SectionNesting, CountsSectionsAndInvertedSectionsInsideEachOther) {
  auto nesting = sectionNesting(scanMustacheTags("{{#a}}{{^b}}{{c}}{{/b}}{{/a}}{{#d}}{{/d}}"), 64);
  EXPECT_EQ(nesting.deepest, 2);
  EXPECT_FALSE(nesting.beyond_limit_at.has_value());
}

TEST(SectionNesting, PointsAtTheFirstOpeningBeyondTheLimit) {
  std::string text = "{{#a}}{{#b}}{{#c}}{{/c}}{{/b}}{{/a}}";
  auto nesting = sectionNesting(scanMustacheTags(text), 2);
  EXPECT_EQ(nesting.deepest, 3);
  ASSERT_TRUE(nesting.beyond_limit_at.has_value());
  EXPECT_EQ(*nesting.beyond_limit_at, text.find("{{#c}}"));
}

TEST(SectionNesting, SiblingsDoNotAddUp) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "{{#a}}x{{/a}}";
  EXPECT_EQ(sectionNesting(scanMustacheTags(text), 64).deepest, 1);
}

TEST(SectionNesting, StrayClosingTagsDoNotHideDepth) {
  // More closes than opens must not let a later run of opens start below zero.
  std::string text = "{{/a}}{{/a}}{{/a}}" + nested(3);
  EXPECT_EQ(sectionNesting(scanMustacheTags(text), 64).deepest, 3);
}

TEST(SectionNesting, MeasuresAnUnclosedSourceKainjowWouldRefuse) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "{{#a}}";
  auto nesting = sectionNesting(scanMustacheTags(text), kMaxTemplateNesting);
  EXPECT_EQ(nesting.deepest, 5000);
  EXPECT_EQ(*nesting.beyond_limit_at, 6u * kMaxTemplateNesting);
}

// ---- invalidUtf8Offset --------------------------------------------------------------------------

TEST(InvalidUtf8Offset, AcceptsWellFormedText) {
  EXPECT_FALSE(invalidUtf8Offset("").has_value());
  EXPECT_FALSE(invalidUtf8Offset("plain ascii {{name}}\n").has_value());
  EXPECT_FALSE(invalidUtf8Offset("Привет, 你好, \xF0\x9F\x98\x80, \xF4\x8F\xBF\xBF").has_value());
}

struct BadUtf8Case {
  std::string text;
  std::size_t offset;
};

class InvalidUtf8 : public testing::TestWithParam<BadUtf8Case> {};

TEST_P(InvalidUtf8, ReportsTheOffsetOfTheFirstBadSequence) {
  auto offset = invalidUtf8Offset(GetParam().text);
  ASSERT_TRUE(offset.has_value());
  EXPECT_EQ(*offset, GetParam().offset);
}

INSTANTIATE_TEST_SUITE_P(Sequences, InvalidUtf8,
                         testing::Values(BadUtf8Case{"caf\xE9 au lait", 3},    // Latin-1
                                         BadUtf8Case{"ok \x80", 3},            // lone continuation
                                         BadUtf8Case{"\xC0\xAF", 0},           // overlong '/'
                                         BadUtf8Case{"ab\xE0\x80\xAF", 2},     // overlong, 3 bytes
                                         BadUtf8Case{"\xED\xA0\x80", 0},       // surrogate
                                         BadUtf8Case{"x\xF4\x90\x80\x80", 1},  // past U+10FFFF
                                         BadUtf8Case{"Привет\xD0", 12},        // cut short
                                         BadUtf8Case{"\xE2\x82"
                                                     "A",
                                                     0},  // bad continuation
                                         BadUtf8Case{"\xFF", 0}));

// ---- TemplateSet::build -------------------------------------------------------------------------

TEST(TemplateLimits, RefusesThousandsOfNestedSectionsWithoutOverflowingTheStack) {
  auto set = TemplateSet::build({{"deep/default/sms.txt", "hello\n" + nested(4000)}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_nesting");
  EXPECT_EQ(set.error().message,
            "deep/default/sms.txt:2: sections nested 4000 deep; the limit is 64");
}

TEST(TemplateLimits, InvertedSectionsCountToo) {
  auto set = TemplateSet::build({{"deep/default/sms.txt", nested(65, "{{^a}}", "{{/a}}")}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_nesting");
}

TEST(TemplateLimits, NestingUpToTheLimitBuildsAndRenders) {
  auto set = TemplateSet::build({{"deep/default/sms.txt", nested(kMaxTemplateNesting)}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  TemplateValue data = TemplateValue::Fields{{"a", true}};
  auto parts = set->render("deep", "default", data);
  ASSERT_TRUE(parts.ok()) << parts.error().message;
  EXPECT_EQ(parts->sms_text, "x");

  auto over = TemplateSet::build({{"deep/default/sms.txt", nested(kMaxTemplateNesting + 1)}});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "template_nesting");
}

TEST(TemplateLimits, NestingAddsUpThroughPartials) {
  // 40 sections around {{> inner}}, whose own 30 make 40 + 1 + 30: each file alone is fine.
  std::string outer = "{{#a}}\n";
  for (int i = 1; i < 40; ++i) outer += "{{#a}}";
  outer += "{{> inner}}" + std::string(40 * 6, ' ');
  for (int i = 0; i < 40; ++i) outer.replace(outer.size() - 6 * (i + 1), 6, "{{/a}}");
  auto set = TemplateSet::build({{"deep/default/sms.txt", outer},
                                 {"_partials/inner.mustache", nested(30)},
                                 {"_partials/fine.mustache", nested(30)}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_nesting");
  EXPECT_EQ(set.error().message,
            "deep/default/sms.txt:2: sections and partials nested 71 deep here; the limit is 64");
}

TEST(TemplateLimits, APartialChainCountsEachInclusion) {
  Files files = {{"chain/default/sms.txt", "{{> p0}}"}};
  for (int i = 0; i < 70; ++i) {
    std::string next = i + 1 < 70 ? "{{> p" + std::to_string(i + 1) + "}}" : "end";
    files.push_back({"_partials/p" + std::to_string(i) + ".mustache", next});
  }
  auto set = TemplateSet::build(files);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_nesting");
  EXPECT_NE(set.error().message.find("chain/default/sms.txt:1: sections and partials nested 70"),
            std::string::npos)
      << set.error().message;
}

TEST(TemplateLimits, ShallowPartialsBuild) {
  auto set = TemplateSet::build({{"t/default/sms.txt", nested(20) + "{{#a}}{{> p}}{{/a}}"},
                                 {"_partials/p.mustache", nested(40)}});
  ASSERT_TRUE(set.ok()) << set.error().message;
}

TEST(TemplateLimits, RefusesAFileThatIsNotUtf8WithItsByteOffset) {
  auto set = TemplateSet::build({{"t/default/sms.txt", "Hello {{name}},\ncaf\xE9 is open\n"}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_encoding");
  EXPECT_EQ(set.error().message, "t/default/sms.txt: not valid UTF-8 at byte 19 (line 2)");
}

TEST(TemplateLimits, RefusesNonUtf8PartialsAndLayoutsToo) {
  auto set = TemplateSet::build({{"t/default/email.subject", "{{! layout: frame }}\nHi"},
                                 {"t/default/email.txt", "{{! layout: frame }}\n{{> sig}}"},
                                 {"_partials/sig.mustache", "\xC0\xAF"},
                                 {"_layouts/frame.mustache", "{{{content}}}\xFF"}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_encoding");
  EXPECT_NE(set.error().message.find("_layouts/frame.mustache: not valid UTF-8 at byte 13"),
            std::string::npos)
      << set.error().message;
  EXPECT_NE(set.error().message.find("_partials/sig.mustache: not valid UTF-8 at byte 0"),
            std::string::npos)
      << set.error().message;
}

TEST(TemplateLimits, ReportsEveryFileAtOnce) {
  auto set = TemplateSet::build({{"a/default/sms.txt", nested(100)},
                                 {"b/default/sms.txt", "\xFE"},
                                 {"c/default/sms.txt", "fine"}});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "template_nesting");  // the first file's problem
  EXPECT_NE(set.error().message.find("a/default/sms.txt:1: sections nested 100 deep"),
            std::string::npos);
  EXPECT_NE(set.error().message.find("b/default/sms.txt: not valid UTF-8 at byte 0"),
            std::string::npos);
}

}  // namespace
}  // namespace omnigate::templates
