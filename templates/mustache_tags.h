#pragma once

// A read-only walk over the tags of a Mustache source. kainjow-mustache parses privately and only
// renders, but validation needs to see every tag, including those inside sections that empty data
// never enters: which partials a file includes, where its layout pragma is, where `content` is
// used. The scanner follows the same rules as kainjow's parser (default delimiters "{{" "}}",
// "{{{...}}}" only with those, "{{=<% %>=}}" switches delimiters). It is safe on any input: on a
// source kainjow refuses it returns the tags before the first malformed one, which is enough to
// measure nesting before kainjow parses (kainjow's parser and renderer recurse once per level).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace omnigate::templates {

enum class TagKind {
  Variable,      // {{name}}
  Unescaped,     // {{{name}}} or {{&name}}
  Section,       // {{#name}}
  Inverted,      // {{^name}}
  SectionEnd,    // {{/name}}
  Partial,       // {{> name}}
  Comment,       // {{! text }}
  SetDelimiter,  // {{=<% %>=}}
};

struct MustacheTag {
  TagKind kind = TagKind::Variable;
  std::string name;                   // trimmed; a comment's whole text
  std::size_t offset = 0;             // of the opening delimiter
  std::size_t end = 0;                // just past the closing delimiter
  std::string open_delimiter = "{{";  // the delimiters in force for this tag
  std::string close_delimiter = "}}";
};

std::vector<MustacheTag> scanMustacheTags(std::string_view source);

// A variable name that the renderer never resolves, whatever the data holds.
inline constexpr std::string_view kNeverSetName = "omnigate:never-set";

// Source as kainjow should see it, so that lines holding only section or comment tags leave no
// empty line behind (the Mustache spec's "standalone" tags). kainjow drops such a line only when
// it renders the section, so a skipped section would leave a blank line; an always-rendered empty
// section `{{^never-set}}{{/never-set}}` after every closing tag gives it the same treatment.
// Comment-only lines are removed outright.
std::string prepareForKainjow(std::string_view source, const std::vector<MustacheTag>& tags);

// Sections ({{#x}}, {{^x}}) open within one another at the deepest point, and the offset of the
// first opening tag that goes past `limit` levels (none when the source stays within it). A
// closing tag without an opening one is ignored here; kainjow reports it.
struct SectionNesting {
  int deepest = 0;
  std::optional<std::size_t> beyond_limit_at;
};
SectionNesting sectionNesting(const std::vector<MustacheTag>& tags, int limit);

// Offset of the first byte that does not start or continue well-formed UTF-8 (RFC 3629: no
// overlong forms, surrogates or code points past U+10FFFF); none for valid text.
std::optional<std::size_t> invalidUtf8Offset(std::string_view text);

// 1-based line of a byte offset.
int lineAt(std::string_view source, std::size_t offset);

// kainjow reports "Unclosed tag at 17"; this finds the 17.
std::optional<std::size_t> errorOffset(std::string_view kainjow_message);

}  // namespace omnigate::templates
