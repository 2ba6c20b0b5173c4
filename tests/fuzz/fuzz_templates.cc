// Template directories: TemplateSet::build over files the fuzzer writes, then render with small
// data. Admins write the files, callers choose the data and the locale; the daemon validates at
// start (and on reload) and renders on every attempt.
//
// Input, fields separated by "\n%%\n" lines:
//   1. render data as JSON (an object; anything else renders with {})
//   2. the locale to render for, e.g. "pt-BR"
//   3. then path, content, path, content, ... (a path without content is an empty file)

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "templates/json_data.h"
#include "templates/template_set.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using omnigate::templates::RenderedParts;
using omnigate::templates::TemplateFile;
using omnigate::templates::TemplateSet;
using omnigate::templates::TemplateValue;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool trimmed(const std::string& text) {
  return text.empty() || (!isSpace(text.front()) && !isSpace(text.back()));
}

// What the header promises about each part's shape.
void checkShapes(const RenderedParts& parts) {
  for (const std::string* one_line : {&parts.email_subject, &parts.push_title}) {
    FUZZ_CHECK(trimmed(*one_line));
    for (char c : *one_line) {
      FUZZ_CHECK(c != '\r' && c != '\n' && c != '\t');
      FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    }
  }
  for (const std::string* part :
       {&parts.sms_text, &parts.push_body, &parts.push_data_json, &parts.messenger_text}) {
    FUZZ_CHECK(trimmed(*part));
  }
}

bool sameParts(const RenderedParts& a, const RenderedParts& b) {
  return a.email_subject == b.email_subject && a.email_text == b.email_text &&
         a.email_html == b.email_html && a.sms_text == b.sms_text && a.push_title == b.push_title &&
         a.push_body == b.push_body && a.push_data_json == b.push_data_json &&
         a.messenger_text == b.messenger_text && a.resolved_locale == b.resolved_locale;
}

void checkRender(const TemplateSet& set, const std::string& id, const std::string& locale,
                 const TemplateValue& data) {
  auto full = set.render(id, locale, data);
  // Build rendered every variant with empty data; a set that built renders with that data too.
  auto empty = set.render(id, locale, TemplateValue::object());
  FUZZ_CHECK(empty.ok());
  checkShapes(empty.value());
  // Build checked partials, layouts and syntax, so caller data cannot make a render fail: a
  // failure here would surface at send time as a message that can never be delivered.
  if (!full) std::fprintf(stderr, "render failed: %s\n", full.error().message.c_str());
  FUZZ_CHECK(full.ok());
  checkShapes(full.value());
  FUZZ_LOG("rendered %s for '%s' as %s: subject '%s', sms '%s'", id.c_str(), locale.c_str(),
           full->resolved_locale.c_str(), full->email_subject.c_str(), full->sms_text.c_str());
  FUZZ_CHECK(full->resolved_locale == empty->resolved_locale);
  FUZZ_CHECK(!full->resolved_locale.empty());
  // Rendering the same thing twice gives the same text (no hidden state in a shared set).
  auto twice = set.render(id, locale, data);
  FUZZ_CHECK(twice.ok() && sameParts(full.value(), twice.value()));
  // One channel alone renders as it does within the whole.
  auto sms = set.render(id, locale, data, "sms");
  FUZZ_CHECK(sms.ok() && sms->sms_text == full->sms_text && sms->email_subject.empty());
  auto email = set.render(id, locale, data, "email");
  FUZZ_CHECK(email.ok() && email->email_subject == full->email_subject &&
             email->email_text == full->email_text && email->email_html == full->email_html &&
             email->sms_text.empty());
  auto push = set.render(id, locale, data, "push");
  FUZZ_CHECK(push.ok() && push->push_title == full->push_title &&
             push->push_body == full->push_body && push->push_data_json == full->push_data_json);
  FUZZ_CHECK(!set.render(id, locale, data, "fax").ok());
}

TemplateValue dataFrom(const std::string& text) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 32;
  auto value = boost::json::parse(text, ec, {}, options);
  if (ec || !value.is_object()) return TemplateValue::object();
  return omnigate::templates::templateValueFromJson(value.as_object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto fields = omnigate::fuzz::splitFields(omnigate::fuzz::asView(data, size), 2);
  // A directory holds each path once (readTemplateFiles); a repeated path keeps its first content.
  std::vector<TemplateFile> files;
  std::set<std::string> paths;
  for (std::size_t i = 2; i < fields.size(); i += 2) {
    if (!paths.insert(fields[i]).second) continue;
    files.push_back({fields[i], i + 1 < fields.size() ? fields[i + 1] : std::string()});
  }
  auto set = TemplateSet::build(files);
  if (!set) {
    const auto& code = set.error().code;
    FUZZ_LOG("build failed: %s: %s", code.c_str(), set.error().message.c_str());
    FUZZ_CHECK(code.rfind("template_", 0) == 0);
    FUZZ_CHECK(!set.error().message.empty());
    return 0;
  }
  // Build refuses text that is not UTF-8 (every channel sends UTF-8); README-like files in the
  // root are ignored, so only files in a directory count.
  for (const auto& file : files) {
    if (file.relative_path.find('/') != std::string::npos) {
      FUZZ_CHECK(omnigate::fuzz::isValidUtf8(file.content));
    }
  }
  // A set that built from these files builds again from them in another order.
  std::vector<TemplateFile> reversed(files.rbegin(), files.rend());
  auto rebuilt = TemplateSet::build(reversed);
  FUZZ_CHECK(rebuilt.ok());
  FUZZ_CHECK(rebuilt->ids() == set->ids());

  FUZZ_LOG("built %zu templates from %zu files", set->ids().size(), files.size());
  const TemplateValue render_data = dataFrom(fields[0]);
  const std::string& locale = fields[1];
  auto ids = set->ids();
  for (const auto& id : ids) {
    FUZZ_CHECK(set->has(id));
    checkRender(set.value(), id, locale, render_data);
    checkRender(set.value(), id, "default", render_data);
  }
  FUZZ_CHECK(!set->has("no such template/"));
  FUZZ_CHECK(set->render("no such template/", locale, render_data).error().code ==
             "unknown_template");

  // Locale helpers the render path uses: the chain always ends in "default", each step shorter.
  auto chain = omnigate::templates::localeFallbackChain(locale);
  FUZZ_CHECK(!chain.empty() && chain.back() == "default");
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) FUZZ_CHECK(!chain[i].empty());
  return 0;
}
