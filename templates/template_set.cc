#include "templates/template_set.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <kainjow/mustache.hpp>
#include <map>
#include <optional>
#include <utility>

#include "templates/mustache_tags.h"

namespace omnigate::templates {

namespace mustache = kainjow::mustache;

namespace {

enum class Part {
  EmailSubject,
  EmailText,
  EmailHtml,
  SmsText,
  PushTitle,
  PushBody,
  PushData,
  MessengerText,
};
constexpr std::size_t kPartCount = 8;

enum class Channel { Email, Sms, Push, Messenger };
constexpr std::array<Channel, 4> kChannels = {Channel::Email, Channel::Sms, Channel::Push,
                                              Channel::Messenger};

constexpr std::array<std::string_view, 4> kChannelNames = {"email", "sms", "push", "messenger"};

enum class Escape { None, Html, Json };
enum class Shape { AsWritten, Trimmed, OneLine };

struct PartSpec {
  std::string_view file;
  Part part;
  Channel channel;
  Escape escape;
  Shape shape;
};

// Indexed by Part.
constexpr std::array<PartSpec, kPartCount> kParts = {{
    {"email.subject", Part::EmailSubject, Channel::Email, Escape::None, Shape::OneLine},
    {"email.txt", Part::EmailText, Channel::Email, Escape::None, Shape::AsWritten},
    {"email.html", Part::EmailHtml, Channel::Email, Escape::Html, Shape::AsWritten},
    {"sms.txt", Part::SmsText, Channel::Sms, Escape::None, Shape::Trimmed},
    {"push.title", Part::PushTitle, Channel::Push, Escape::None, Shape::OneLine},
    {"push.body", Part::PushBody, Channel::Push, Escape::None, Shape::Trimmed},
    {"push.data.json", Part::PushData, Channel::Push, Escape::Json, Shape::Trimmed},
    {"messenger.txt", Part::MessengerText, Channel::Messenger, Escape::None, Shape::Trimmed},
}};

constexpr std::string_view kDefaultLocale = "default";
constexpr std::string_view kPartialsDir = "_partials";
constexpr std::string_view kLayoutsDir = "_layouts";
constexpr std::string_view kSharedSuffix = ".mustache";
constexpr std::string_view kLayoutPragma = "layout:";
constexpr std::string_view kLayoutContent = "content";
// Deeper data is cut off: it only comes from a caller's JSON, and rendering recurses over it.
constexpr int kMaxDataDepth = 64;
constexpr std::size_t kMaxReportedErrors = 50;

struct Source {
  std::string path;
  std::string text;         // as written; error lines refer to it
  std::string render_text;  // what kainjow parses (see prepareForKainjow)
  std::string layout;       // layout name, empty when none
  std::vector<MustacheTag> tags;
};

struct Variant {
  std::string locale;  // the directory name as written
  std::array<std::optional<Source>, kPartCount> parts;

  bool hasChannel(Channel channel) const {
    for (const auto& spec : kParts) {
      if (spec.channel == channel && parts[static_cast<std::size_t>(spec.part)]) return true;
    }
    return false;
  }
};

struct Template {
  std::map<std::string, Variant> variants;  // by normalized locale
};

// A partial or a layout, per normalized locale.
struct Shared {
  std::map<std::string, Source> sources;
  std::map<std::string, mustache::data> render_data;  // what get_partial hands to kainjow
};

using SharedMap = std::map<std::string, Shared, std::less<>>;

}  // namespace

struct TemplateSet::Compiled {
  std::map<std::string, Template, std::less<>> templates;
  SharedMap partials;
  SharedMap layouts;
};

namespace {

using Compiled = TemplateSet::Compiled;

bool isAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  while (true) {
    auto end = text.find(separator, start);
    pieces.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return pieces;
    start = end + 1;
  }
}

bool isTemplateId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id.front() == '.' || id.front() == '_') return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return isAsciiAlnum(c) || c == '_' || c == '-' || c == '.'; });
}

bool isSharedName(std::string_view name) {
  return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
    return isAsciiAlnum(c) || c == '_' || c == '-';
  });
}

// A BCP 47-shaped tag: "ru", "pt-BR", "zh-Hant-TW" (or with '_').
bool isLocaleTag(std::string_view tag) {
  auto subtags = split(tag, tag.find('_') != std::string_view::npos ? '_' : '-');
  for (std::size_t i = 0; i < subtags.size(); ++i) {
    auto subtag = subtags[i];
    if (subtag.empty() || subtag.size() > 8) return false;
    bool ok = std::all_of(subtag.begin(), subtag.end(), [i](char c) {
      return i == 0 ? std::isalpha(static_cast<unsigned char>(c)) != 0 : isAsciiAlnum(c);
    });
    if (!ok || (i == 0 && subtag.size() < 2)) return false;
  }
  return true;
}

std::string escapeHtml(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      // &apos; is not HTML 4, and older mail clients show it verbatim.
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escapeJsonString(const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

mustache::mustache::escape_handler escaperFor(Escape escape) {
  switch (escape) {
    case Escape::Html:
      return escapeHtml;
    case Escape::Json:
      return escapeJsonString;
    case Escape::None:
      break;
  }
  return [](const std::string& text) { return text; };
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string shaped(std::string text, Shape shape) {
  if (shape == Shape::AsWritten) return text;
  if (shape == Shape::OneLine) {
    // A subject or title is one header line: line breaks from the file or the data become
    // spaces, and other control characters are dropped rather than passed to a provider.
    std::string line;
    line.reserve(text.size());
    for (char c : text) {
      if (isSpace(c)) {
        if (!line.empty() && line.back() != ' ') line += ' ';
      } else if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
        line += c;
      }
    }
    text = std::move(line);
  }
  auto first = std::find_if_not(text.begin(), text.end(), isSpace);
  auto last = std::find_if_not(text.rbegin(), text.rend(), isSpace).base();
  return first < last ? std::string(first, last) : std::string();
}

mustache::data toMustache(const TemplateValue& value, int depth) {
  if (depth > kMaxDataDepth || value.isNull()) return mustache::data(false);
  if (value.isBool()) return mustache::data(value.asBool());
  if (value.isString()) return mustache::data(value.asString());
  if (value.isList()) {
    mustache::data list(mustache::data::type::list);
    for (const auto& item : value.asList()) list.push_back(toMustache(item, depth + 1));
    return list;
  }
  mustache::data object(mustache::data::type::object);
  for (const auto& [key, item] : value.asObject()) object.set(key, toMustache(item, depth + 1));
  return object;
}

const Source* findShared(const SharedMap& map, std::string_view name,
                         const std::vector<std::string>& chain) {
  auto it = map.find(name);
  if (it == map.end()) return nullptr;
  for (const auto& locale : chain) {
    auto source = it->second.sources.find(locale);
    if (source != it->second.sources.end()) return &source->second;
  }
  return nullptr;
}

// kainjow's own context looks partials up in the render data, so a caller's value named like a
// partial would be parsed as a template. This context serves partials only from the template
// directory, and looks variables up exactly as kainjow does.
class RenderContext final : public mustache::basic_context<std::string> {
 public:
  RenderContext(const mustache::data* root, const SharedMap& partials,
                const std::vector<std::string>& chain)
      : partials_(partials), chain_(chain) {
    items_.push_back(root);
  }

  void push(const mustache::data* data) override { items_.insert(items_.begin(), data); }
  void pop() override { items_.erase(items_.begin()); }

  const mustache::data* get(const std::string& name) const override {
    if (name == ".") return items_.front();
    if (name == kNeverSetName) return nullptr;
    auto names = split(name, '.');
    for (const auto* item : items_) {
      const mustache::data* found = item;
      for (auto piece : names) {
        found = found->get(std::string(piece));
        if (found == nullptr) break;
      }
      if (found != nullptr) return found;
    }
    return nullptr;
  }

  const mustache::data* get_partial(const std::string& name) const override {
    auto it = partials_.find(name);
    if (it == partials_.end()) return nullptr;
    for (const auto& locale : chain_) {
      auto data = it->second.render_data.find(locale);
      if (data != it->second.render_data.end()) return &data->second;
    }
    return nullptr;
  }

 private:
  std::vector<const mustache::data*> items_;
  const SharedMap& partials_;
  const std::vector<std::string>& chain_;
};

Result<std::string> renderSource(const Compiled& compiled, const Source& source,
                                 const PartSpec& spec, const std::vector<std::string>& chain,
                                 const mustache::data& data) {
  auto failed = [&](const std::string& why) {
    return makeError("template_render", source.path + ": " + why);
  };
  mustache::mustache part(source.render_text);
  part.set_custom_escape(escaperFor(spec.escape));
  RenderContext context(&data, compiled.partials, chain);
  std::string body = part.render(context);
  if (!part.is_valid()) return failed(part.error_message());
  if (!source.layout.empty()) {
    const Source* layout = findShared(compiled.layouts, source.layout, chain);
    if (layout == nullptr) return failed("layout '" + source.layout + "' is missing");
    mustache::mustache wrapper(layout->render_text);
    wrapper.set_custom_escape(escaperFor(spec.escape));
    mustache::data content(mustache::data::type::object);
    content.set(std::string(kLayoutContent), mustache::data(body));
    RenderContext layout_context(&data, compiled.partials, chain);
    layout_context.push(&content);
    body = wrapper.render(layout_context);
    if (!wrapper.is_valid()) return failed(layout->path + ": " + wrapper.error_message());
  }
  return shaped(std::move(body), spec.shape);
}

// ---- build -------------------------------------------------------------------------------------

class Problems {
 public:
  void add(std::string code, std::string message) {
    if (errors_.size() < kMaxReportedErrors) {
      errors_.push_back({std::move(code), std::move(message)});
    }
  }
  void at(const Source& source, std::size_t offset, std::string code, const std::string& what) {
    add(std::move(code),
        source.path + ":" + std::to_string(lineAt(source.text, offset)) + ": " + what);
  }
  bool empty() const { return errors_.empty(); }
  // Every problem at once, so that one --check-config run shows all of them; the code is the
  // first one's.
  Error combined() const {
    std::string message;
    for (const auto& error : errors_) message += (message.empty() ? "" : "\n") + error.message;
    return makeError(errors_.front().code, message);
  }

 private:
  std::vector<Error> errors_;
};

// Parses with kainjow (the renderer's own judgement of syntax) and reads the tags.
std::optional<Source> loadSource(const TemplateFile& file, bool allow_layout, Problems& problems) {
  Source source;
  source.path = file.relative_path;
  source.text = file.content;
  // Templates are text for mail, SMS and push, all of which are UTF-8; a Latin-1 file would send
  // mojibake, or JSON a provider refuses, at every attempt.
  if (auto bad = invalidUtf8Offset(source.text)) {
    problems.add("template_encoding", source.path + ": not valid UTF-8 at byte " +
                                          std::to_string(*bad) + " (line " +
                                          std::to_string(lineAt(source.text, *bad)) + ")");
    return std::nullopt;
  }
  // Before kainjow sees the text: its parser already recurses once per level.
  auto nesting = sectionNesting(scanMustacheTags(source.text), kMaxTemplateNesting);
  if (nesting.beyond_limit_at) {
    problems.add("template_nesting",
                 source.path + ":" + std::to_string(lineAt(source.text, *nesting.beyond_limit_at)) +
                     ": sections nested " + std::to_string(nesting.deepest) +
                     " deep; the limit is " + std::to_string(kMaxTemplateNesting));
    return std::nullopt;
  }
  mustache::mustache parsed(source.text);
  if (!parsed.is_valid()) {
    std::string message = parsed.error_message();
    auto offset = errorOffset(message);
    std::size_t line = offset ? static_cast<std::size_t>(lineAt(source.text, *offset)) : 1;
    if (offset) message.resize(message.rfind(" at "));
    problems.add("template_syntax", source.path + ":" + std::to_string(line) + ": " + message);
    return std::nullopt;
  }
  source.tags = scanMustacheTags(source.text);
  source.render_text = prepareForKainjow(source.text, source.tags);
  if (!source.tags.empty() && source.tags.front().offset == 0 &&
      source.tags.front().kind == TagKind::Comment &&
      source.tags.front().name.rfind(kLayoutPragma, 0) == 0) {
    std::string name = source.tags.front().name.substr(kLayoutPragma.size());
    name.erase(0, name.find_first_not_of(" \t"));
    if (!allow_layout) {
      problems.at(source, 0, "template_layout",
                  "only message parts can use a layout, not partials or layouts");
    } else if (!isSharedName(name)) {
      problems.at(source, 0, "template_layout", "bad layout name '" + name + "'");
    }
    // The pragma is a comment on a line of its own, so render_text has lost that line.
    source.layout = name;
  }
  return source;
}

const PartSpec* partByFile(std::string_view file) {
  for (const auto& spec : kParts) {
    if (spec.file == file) return &spec;
  }
  return nullptr;
}

std::string knownPartFiles() {
  std::string list;
  for (const auto& spec : kParts) list += (list.empty() ? "" : ", ") + std::string(spec.file);
  return list;
}

void addShared(SharedMap& map, std::string_view dir, std::string_view file_name,
               const TemplateFile& file, Problems& problems) {
  if (file_name.size() <= kSharedSuffix.size() ||
      file_name.substr(file_name.size() - kSharedSuffix.size()) != kSharedSuffix) {
    problems.add("template_path", file.relative_path + ": files in " + std::string(dir) +
                                      "/ are named <name>.mustache or <name>.<locale>.mustache");
    return;
  }
  auto stem = file_name.substr(0, file_name.size() - kSharedSuffix.size());
  auto dot = stem.find('.');
  std::string_view name = stem.substr(0, dot);
  std::string locale(kDefaultLocale);
  if (dot != std::string_view::npos) {
    auto tag = stem.substr(dot + 1);
    if (!isLocaleTag(tag)) {
      problems.add("template_path", file.relative_path + ": '" + std::string(tag) +
                                        "' is not a locale tag such as ru or pt-BR");
      return;
    }
    locale = normalizeLocale(tag);
  }
  if (!isSharedName(name)) {
    problems.add("template_path",
                 file.relative_path + ": a name is letters, digits, '_' and '-' only");
    return;
  }
  auto source = loadSource(file, /*allow_layout=*/false, problems);
  if (!source) return;
  Shared& shared = map[std::string(name)];
  if (shared.sources.count(locale) != 0) {
    problems.add("template_path",
                 file.relative_path + ": duplicates " + shared.sources.at(locale).path);
    return;
  }
  // The editor's final newline would end every inline use ("<p>{{> footer}}</p>") with a line
  // break; a partial on a line of its own gets the line's own newline anyway.
  std::string text = source->render_text;
  if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\r\n") == 0) {
    text.resize(text.size() - 2);
  } else if (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  shared.render_data.emplace(locale, mustache::data(text));
  shared.sources.emplace(locale, std::move(*source));
}

void addPart(Compiled& compiled, const std::vector<std::string_view>& segments,
             const TemplateFile& file, Problems& problems) {
  auto id = segments[0];
  auto locale_dir = segments[1];
  if (!isTemplateId(id)) {
    problems.add("template_path",
                 file.relative_path + ": a template id is letters, digits, '_', '-' and '.'");
    return;
  }
  if (locale_dir != kDefaultLocale && !isLocaleTag(locale_dir)) {
    problems.add("template_path", file.relative_path + ": '" + std::string(locale_dir) +
                                      "' is neither 'default' nor a locale tag such as ru");
    return;
  }
  const PartSpec* spec = partByFile(segments[2]);
  if (spec == nullptr) {
    problems.add("template_path", file.relative_path + ": unknown part '" +
                                      std::string(segments[2]) + "' (known: " + knownPartFiles() +
                                      ")");
    return;
  }
  auto source = loadSource(file, /*allow_layout=*/true, problems);
  if (!source) return;
  if (shaped(source->render_text, Shape::OneLine).empty() && source->layout.empty()) {
    problems.add("template_empty", file.relative_path +
                                       ": the part is empty; delete the file "
                                       "if the template has no such part");
    return;
  }
  std::string locale =
      locale_dir == kDefaultLocale ? std::string(kDefaultLocale) : normalizeLocale(locale_dir);
  Variant& variant = compiled.templates[std::string(id)].variants[locale];
  if (variant.locale.empty()) {
    variant.locale = std::string(locale_dir);
  } else if (variant.locale != locale_dir) {
    problems.add("template_path", file.relative_path + ": the same locale as " + std::string(id) +
                                      "/" + variant.locale + "/");
    return;
  }
  variant.parts[static_cast<std::size_t>(spec->part)] = std::move(*source);
}

template <class Visit>
void forEachSource(const Compiled& compiled, Visit visit) {
  for (const auto& [id, tmpl] : compiled.templates) {
    for (const auto& [locale, variant] : tmpl.variants) {
      for (const auto& part : variant.parts) {
        if (part) visit(*part);
      }
    }
  }
  for (const auto* map : {&compiled.partials, &compiled.layouts}) {
    for (const auto& [name, shared] : *map) {
      for (const auto& [locale, source] : shared.sources) visit(source);
    }
  }
}

void checkSharedDefaults(const SharedMap& map, std::string_view dir, Problems& problems) {
  for (const auto& [name, shared] : map) {
    if (shared.sources.count(std::string(kDefaultLocale)) == 0) {
      problems.add("template_no_default", shared.sources.begin()->second.path + ": needs " +
                                              std::string(dir) + "/" + name +
                                              ".mustache for locales without their own version");
    }
  }
}

void checkPartialReferences(const Compiled& compiled, Problems& problems) {
  forEachSource(compiled, [&](const Source& source) {
    for (const auto& tag : source.tags) {
      if (tag.kind == TagKind::Partial && compiled.partials.count(tag.name) == 0) {
        problems.at(source, tag.offset, "template_unknown_partial",
                    "unknown partial '" + tag.name + "' (expected " + std::string(kPartialsDir) +
                        "/" + tag.name + ".mustache)");
      }
    }
  });
}

// kainjow expands partials without a depth limit, so a cycle would recurse until the stack ends.
// True when there is one (Problems keeps only the first reports, so it cannot tell).
bool checkPartialCycles(const Compiled& compiled, Problems& problems) {
  bool found_cycle = false;
  enum class Mark { Unvisited, Active, Done };
  std::map<std::string, Mark, std::less<>> marks;
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    marks[name] = Mark::Active;
    path.push_back(name);
    for (const auto& [locale, source] : compiled.partials.at(name).sources) {
      for (const auto& tag : source.tags) {
        if (tag.kind != TagKind::Partial || compiled.partials.count(tag.name) == 0) continue;
        Mark mark = marks[tag.name];
        if (mark == Mark::Active) {
          std::string chain;
          auto start = std::find(path.begin(), path.end(), tag.name);
          for (auto it = start; it != path.end(); ++it) chain += *it + " -> ";
          problems.at(source, tag.offset, "template_partial_cycle",
                      "partials include each other: " + chain + tag.name);
          found_cycle = true;
        } else if (mark == Mark::Unvisited) {
          visit(tag.name);
        }
      }
    }
    path.pop_back();
    marks[name] = Mark::Done;
  };
  for (const auto& [name, shared] : compiled.partials) {
    if (marks[name] == Mark::Unvisited) visit(name);
  }
  return found_cycle;
}

// Partials render inside the section that includes them, so nesting adds up across files; each
// file alone was checked against the limit when it was loaded. Runs only without partial cycles.
void checkNestingThroughPartials(const Compiled& compiled, Problems& problems) {
  std::map<std::string, int, std::less<>> partial_depth;  // deepest level a partial reaches
  // Levels below the start of `source`, and where they first pass the limit from `base`.
  std::function<int(const Source&, int, std::optional<std::size_t>*)> depthOf =
      [&](const Source& source, int base, std::optional<std::size_t>* beyond) {
        int depth = 0;
        int deepest = 0;
        auto reach = [&](int level, std::size_t offset) {
          deepest = std::max(deepest, level);
          if (beyond != nullptr && !*beyond && base + level > kMaxTemplateNesting) *beyond = offset;
        };
        for (const auto& tag : source.tags) {
          if (tag.kind == TagKind::Section || tag.kind == TagKind::Inverted) {
            reach(++depth, tag.offset);
          } else if (tag.kind == TagKind::SectionEnd && depth > 0) {
            --depth;
          } else if (tag.kind == TagKind::Partial) {
            auto found = compiled.partials.find(tag.name);
            if (found == compiled.partials.end()) continue;
            auto known = partial_depth.find(tag.name);
            if (known == partial_depth.end()) {
              int below = 0;
              for (const auto& [locale, partial] : found->second.sources) {
                below = std::max(below, depthOf(partial, 0, nullptr));
              }
              known = partial_depth.emplace(tag.name, below).first;
            }
            reach(depth + 1 + known->second, tag.offset);
          }
        }
        return deepest;
      };
  forEachSource(compiled, [&](const Source& source) {
    std::optional<std::size_t> beyond;
    int deepest = depthOf(source, 0, &beyond);
    if (beyond) {
      problems.at(source, *beyond, "template_nesting",
                  "sections and partials nested " + std::to_string(deepest) +
                      " deep here; the limit is " + std::to_string(kMaxTemplateNesting));
    }
  });
}

void checkLayouts(const Compiled& compiled, Problems& problems) {
  for (const auto& [name, shared] : compiled.layouts) {
    for (const auto& [locale, source] : shared.sources) {
      bool places_content = std::any_of(source.tags.begin(), source.tags.end(), [](const auto& t) {
        return (t.kind == TagKind::Variable || t.kind == TagKind::Unescaped) &&
               t.name == kLayoutContent;
      });
      if (!places_content) {
        problems.add("template_layout", source.path + ": a layout must place {{{content}}}");
      }
    }
  }
  for (const auto& [id, tmpl] : compiled.templates) {
    for (const auto& [locale, variant] : tmpl.variants) {
      for (const auto& spec : kParts) {
        const auto& part = variant.parts[static_cast<std::size_t>(spec.part)];
        if (!part || part->layout.empty()) continue;
        auto layout = compiled.layouts.find(part->layout);
        if (layout == compiled.layouts.end()) {
          problems.at(*part, 0, "template_layout",
                      "unknown layout '" + part->layout + "' (expected " +
                          std::string(kLayoutsDir) + "/" + part->layout + ".mustache)");
          continue;
        }
        if (spec.escape == Escape::None) continue;
        // An escaped {{content}} would escape the already rendered, already escaped part.
        for (const auto& [layout_locale, source] : layout->second.sources) {
          for (const auto& tag : source.tags) {
            if (tag.kind == TagKind::Variable && tag.name == kLayoutContent) {
              problems.at(source, tag.offset, "template_layout",
                          "use {{{content}}}: " + part->path + " is escaped already");
            }
          }
        }
      }
    }
  }
}

void checkTemplates(const Compiled& compiled, Problems& problems) {
  for (const auto& [id, tmpl] : compiled.templates) {
    if (tmpl.variants.count(std::string(kDefaultLocale)) == 0) {
      problems.add("template_no_default",
                   id + "/: needs a default/ variant for customers of any other locale");
    }
    for (const auto& [locale, variant] : tmpl.variants) {
      const auto& parts = variant.parts;
      std::string where = id + "/" + variant.locale + "/";
      bool subject = parts[static_cast<std::size_t>(Part::EmailSubject)].has_value();
      bool body = parts[static_cast<std::size_t>(Part::EmailText)] ||
                  parts[static_cast<std::size_t>(Part::EmailHtml)];
      if (subject && !body) {
        problems.add("template_incomplete", where + "email.subject: needs email.txt or email.html");
      } else if (body && !subject) {
        problems.add("template_incomplete", where + ": an email needs email.subject");
      }
      if (parts[static_cast<std::size_t>(Part::PushTitle)] &&
          !parts[static_cast<std::size_t>(Part::PushBody)]) {
        problems.add("template_incomplete", where + "push.title: needs push.body");
      }
    }
  }
}

void testRender(const Compiled& compiled, Problems& problems) {
  const mustache::data empty(mustache::data::type::object);
  for (const auto& [id, tmpl] : compiled.templates) {
    for (const auto& [locale, variant] : tmpl.variants) {
      auto chain = localeFallbackChain(locale);
      for (const auto& spec : kParts) {
        const auto& part = variant.parts[static_cast<std::size_t>(spec.part)];
        if (!part) continue;
        auto rendered = renderSource(compiled, *part, spec, chain, empty);
        if (!rendered) problems.add(rendered.error().code, rendered.error().message);
      }
    }
  }
}

}  // namespace

std::string normalizeLocale(std::string_view locale) {
  // POSIX names carry an encoding and modifier: "ru_RU.UTF-8@euro".
  locale = locale.substr(0, locale.find_first_of(".@"));
  std::string out;
  for (char c : locale) {
    if (c == ' ' || c == '\t') continue;
    out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<std::string> localeFallbackChain(std::string_view locale) {
  std::vector<std::string> chain;
  std::string current = normalizeLocale(locale);
  while (!current.empty() && current != kDefaultLocale) {
    chain.push_back(current);
    auto dash = current.rfind('-');
    current = dash == std::string::npos ? std::string() : current.substr(0, dash);
  }
  chain.emplace_back(kDefaultLocale);
  return chain;
}

TemplateSet::TemplateSet() : compiled_(std::make_shared<const Compiled>()) {}

TemplateSet::TemplateSet(std::shared_ptr<const Compiled> compiled)
    : compiled_(std::move(compiled)) {}

Result<TemplateSet> TemplateSet::build(const std::vector<TemplateFile>& files) {
  std::vector<const TemplateFile*> sorted;
  for (const auto& file : files) sorted.push_back(&file);
  std::sort(sorted.begin(), sorted.end(), [](const TemplateFile* a, const TemplateFile* b) {
    return a->relative_path < b->relative_path;
  });

  auto compiled = std::make_shared<Compiled>();
  Problems problems;
  for (const TemplateFile* file : sorted) {
    auto segments = split(file->relative_path, '/');
    if (segments.size() == 1) continue;  // README.md and friends
    if (segments[0] == kPartialsDir || segments[0] == kLayoutsDir) {
      bool partial = segments[0] == kPartialsDir;
      if (segments.size() != 2) {
        problems.add("template_path", file->relative_path + ": " + std::string(segments[0]) +
                                          "/ holds files, not directories");
        continue;
      }
      addShared(partial ? compiled->partials : compiled->layouts, segments[0], segments[1], *file,
                problems);
    } else if (segments.size() == 3 && !segments[0].empty() && segments[0].front() != '_') {
      addPart(*compiled, segments, *file, problems);
    } else {
      problems.add("template_path", file->relative_path +
                                        ": expected <template>/<locale>/<part>, " +
                                        std::string(kPartialsDir) + "/<name>.mustache or " +
                                        std::string(kLayoutsDir) + "/<name>.mustache");
    }
  }
  checkSharedDefaults(compiled->partials, kPartialsDir, problems);
  checkSharedDefaults(compiled->layouts, kLayoutsDir, problems);
  checkPartialReferences(*compiled, problems);
  // Measuring depth follows partials, which a cycle would make endless.
  if (!checkPartialCycles(*compiled, problems)) checkNestingThroughPartials(*compiled, problems);
  checkLayouts(*compiled, problems);
  checkTemplates(*compiled, problems);
  // Rendering a broken set could recurse through a partial cycle; only a sound one is tried.
  if (problems.empty()) testRender(*compiled, problems);
  if (!problems.empty()) return problems.combined();
  return TemplateSet(std::move(compiled));
}

bool TemplateSet::has(std::string_view id) const {
  return compiled_->templates.find(id) != compiled_->templates.end();
}

std::vector<std::string> TemplateSet::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, tmpl] : compiled_->templates) out.push_back(id);
  return out;
}

Result<RenderedParts> TemplateSet::render(std::string_view id, std::string_view locale,
                                          const TemplateValue& data,
                                          std::string_view only_channel) const {
  std::optional<Channel> wanted;
  if (!only_channel.empty()) {
    for (std::size_t i = 0; i < kChannels.size(); ++i) {
      if (kChannelNames[i] == only_channel) wanted = kChannels[i];
    }
    if (!wanted) {
      return makeError("unknown_channel", "no channel '" + std::string(only_channel) + "'");
    }
  }
  auto it = compiled_->templates.find(id);
  if (it == compiled_->templates.end()) {
    return makeError("unknown_template", "no template '" + std::string(id) + "'");
  }
  const Template& tmpl = it->second;
  auto chain = localeFallbackChain(locale);
  auto variantFor = [&](auto has) -> const Variant* {
    for (const auto& candidate : chain) {
      auto found = tmpl.variants.find(candidate);
      if (found != tmpl.variants.end() && has(found->second)) return &found->second;
    }
    return nullptr;
  };

  RenderedParts out;
  const Variant* resolved = variantFor([](const Variant&) { return true; });
  if (resolved != nullptr) out.resolved_locale = resolved->locale;
  std::array<std::string*, kPartCount> slots = {
      &out.email_subject, &out.email_text, &out.email_html,     &out.sms_text,
      &out.push_title,    &out.push_body,  &out.push_data_json, &out.messenger_text};

  mustache::data root = toMustache(data, 0);
  for (Channel channel : kChannels) {
    if (wanted && channel != *wanted) continue;
    const Variant* variant =
        variantFor([channel](const Variant& v) { return v.hasChannel(channel); });
    if (variant == nullptr) continue;
    auto variant_chain = localeFallbackChain(variant->locale);
    for (const auto& spec : kParts) {
      const auto& part = variant->parts[static_cast<std::size_t>(spec.part)];
      if (spec.channel != channel || !part) continue;
      auto rendered = renderSource(*compiled_, *part, spec, variant_chain, root);
      if (!rendered) return rendered.error();
      *slots[static_cast<std::size_t>(spec.part)] = std::move(rendered.value());
    }
  }
  return out;
}

}  // namespace omnigate::templates
