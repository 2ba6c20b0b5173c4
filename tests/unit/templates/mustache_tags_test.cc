#include "templates/mustache_tags.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace omnigate::templates {
namespace {

struct ScanCase {
  std::string source;
  std::vector<std::pair<TagKind, std::string>> expected;
  friend void PrintTo(const ScanCase& c, std::ostream* out) { *out << "'" << c.source << "'"; }
};

class ScanTest : public ::testing::TestWithParam<ScanCase> {};

TEST_P(ScanTest, FindsEveryTagWithItsKindAndName) {
  const auto& param = GetParam();
  auto tags = scanMustacheTags(param.source);
  ASSERT_EQ(tags.size(), param.expected.size()) << param.source;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    EXPECT_EQ(tags[i].kind, param.expected[i].first) << param.source << " tag " << i;
    EXPECT_EQ(tags[i].name, param.expected[i].second) << param.source << " tag " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sources, ScanTest,
    ::testing::Values(ScanCase{"plain text", {}},
                      ScanCase{"Hi {{ name }}!", {{TagKind::Variable, "name"}}},
                      ScanCase{"{{{raw}}} and {{& raw2 }}",
                               {{TagKind::Unescaped, "raw"}, {TagKind::Unescaped, "raw2"}}},
                      ScanCase{"{{#items}}{{> row }}{{/items}}{{^items}}none{{/items}}",
                               {{TagKind::Section, "items"},
                                {TagKind::Partial, "row"},
                                {TagKind::SectionEnd, "items"},
                                {TagKind::Inverted, "items"},
                                {TagKind::SectionEnd, "items"}}},
                      ScanCase{"{{! layout: email }}\nbody", {{TagKind::Comment, "layout: email"}}},
                      // After a delimiter change "{{x}}" is text and "<% > p %>" is a partial.
                      ScanCase{"{{=<% %>=}}{{x}}<% > p %><%={{ }}=%>{{> q}}",
                               {{TagKind::SetDelimiter, "=<% %>="},
                                {TagKind::Partial, "p"},
                                {TagKind::SetDelimiter, "={{ }}="},
                                {TagKind::Partial, "q"}}},
                      ScanCase{"{{a.b.c}}", {{TagKind::Variable, "a.b.c"}}}));

struct PrepareCase {
  std::string source;
  std::string expected;
  friend void PrintTo(const PrepareCase& c, std::ostream* out) { *out << "'" << c.source << "'"; }
};

class PrepareTest : public ::testing::TestWithParam<PrepareCase> {};

TEST_P(PrepareTest, MarksSectionEndsAndDropsCommentLines) {
  const auto& param = GetParam();
  EXPECT_EQ(prepareForKainjow(param.source, scanMustacheTags(param.source)), param.expected);
}

const std::string kMark = "{{^omnigate:never-set}}{{/omnigate:never-set}}";

INSTANTIATE_TEST_SUITE_P(
    Sources, PrepareTest,
    ::testing::Values(PrepareCase{"a\n{{#s}}\nb\n{{/s}}\nc",
                                  "a\n{{#s}}\nb\n{{/s}}" + kMark + "\nc"},
                      PrepareCase{"{{! layout: x }}\nbody", "body"},
                      PrepareCase{"  {{! a\n multi-line comment }}  \r\nbody", "body"},
                      PrepareCase{"text {{! inline }}\n", "text {{! inline }}\n"},
                      PrepareCase{"{{=<% %>=}}<%#s%>x<%/s%>",
                                  "{{=<% %>=}}<%#s%>x<%/s%><%^omnigate:never-set%>"
                                  "<%/omnigate:never-set%>"}));

TEST(LineAtTest, CountsNewlinesBeforeTheOffset) {
  std::string source = "one\ntwo\nthree";
  EXPECT_EQ(lineAt(source, 0), 1);
  EXPECT_EQ(lineAt(source, 3), 1);  // the newline itself still ends line 1
  EXPECT_EQ(lineAt(source, 4), 2);
  EXPECT_EQ(lineAt(source, 8), 3);
  EXPECT_EQ(lineAt(source, 999), 3);
}

TEST(ErrorOffsetTest, ReadsKainjowPositions) {
  EXPECT_EQ(errorOffset("Unclosed tag at 17"), 17u);
  EXPECT_EQ(errorOffset("Unclosed section \"a\" at 0"), 0u);
  EXPECT_FALSE(errorOffset("Lambda with render argument is not allowed").has_value());
  EXPECT_FALSE(errorOffset("weird at x1").has_value());
}

}  // namespace
}  // namespace omnigate::templates
