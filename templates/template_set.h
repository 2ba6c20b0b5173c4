#pragma once

// Message templates: per-channel parts, per-locale variants, shared partials and layouts, all
// rendered with Mustache. A TemplateSet is immutable once built; copies share the parsed state,
// so a reload builds a new set and swaps it in while renders of the old one finish.
//
// Layout of the files (paths relative to the template directory; see etc/templates/README.md):
//   <template_id>/<locale>/<part>       locale is "default" or a tag such as "ru" or "pt-BR";
//                                       every template needs a "default" variant
//   _partials/<name>.mustache           used as {{> name}}
//   _partials/<name>.<locale>.mustache  the same partial for one locale
//   _layouts/<name>.mustache            wraps a part that starts with {{! layout: name }}; the
//   _layouts/<name>.<locale>.mustache   rendered part is available to it as {{{content}}}
// Files directly in the root (README.md) are documentation and ignored.
//
// Parts: email.subject, email.txt, email.html, sms.txt, push.title, push.body, push.data.json,
// messenger.txt. email.html escapes values for HTML and push.data.json for JSON strings; the
// others are plain text and insert values as they are. One-line parts (email.subject,
// push.title) have line breaks folded to spaces and are trimmed; sms.txt, push.* and
// messenger.txt lose leading and trailing whitespace (the editor's final newline would otherwise
// cost an SMS character). A value is always inserted literally: "{{x}}" inside data is text.
//
// Locale fallback is per channel: "pt-BR" tries pt-BR, then pt, then default, and each channel
// (the email parts together, sms, the push parts together, messenger) comes from the first
// variant in that chain that has it. Partials and layouts resolve along the same chain.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/common/result.h"
#include "templates/template_files.h"
#include "templates/template_value.h"

namespace omnigate::templates {

// An empty string means the part is absent (or rendered to nothing).
struct RenderedParts {
  std::string email_subject;
  std::string email_text;
  std::string email_html;
  std::string sms_text;
  std::string push_title;
  std::string push_body;
  std::string push_data_json;
  std::string messenger_text;
  // The most specific variant that exists for the requested locale ("ru", or "default").
  std::string resolved_locale;
};

// How deep sections ({{#x}}, {{^x}}) may nest, counting each partial inclusion as one more level
// and the partial's own nesting below it. kainjow parses and renders by recursion, one call chain
// per level, so a file nested thousands deep would exhaust the stack at --check-config or reload;
// real templates stay within a handful of levels.
inline constexpr int kMaxTemplateNesting = 64;

class TemplateSet {
 public:
  // An empty set: has() is false for every id.
  TemplateSet();

  // Parses and validates every file, then renders every part of every variant with empty data.
  // Error codes: `template_syntax` (message "path:line: what"), `template_unknown_partial`,
  // `template_partial_cycle`, `template_layout`, `template_empty`, `template_no_default`,
  // `template_incomplete` (an email without subject or body, a push title without body),
  // `template_path` (a file that fits nowhere in the layout above), `template_encoding` (a file
  // that is not UTF-8; message "path: not valid UTF-8 at byte N (line L)"), `template_nesting`
  // (sections and partials nested deeper than kMaxTemplateNesting; "path:line: what"),
  // `template_render`. Every problem is reported at once, one per line; the code is the first
  // problem's.
  static Result<TemplateSet> build(const std::vector<TemplateFile>& files);

  bool has(std::string_view id) const;
  std::vector<std::string> ids() const;  // sorted

  // `only_channel` ("email", "sms", "push" or "messenger") renders that channel's parts alone,
  // for a dispatcher that needs one; empty renders every part.
  // Errors: `unknown_template`, `unknown_channel`, `template_render`.
  Result<RenderedParts> render(std::string_view id, std::string_view locale,
                               const TemplateValue& data, std::string_view only_channel = {}) const;

  struct Compiled;

 private:
  explicit TemplateSet(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;
};

// "pt_BR" and "PT-br" both become "pt-br"; the fallback chain then strips subtags from the end.
std::string normalizeLocale(std::string_view locale);
std::vector<std::string> localeFallbackChain(std::string_view locale);  // ends with "default"

}  // namespace omnigate::templates
