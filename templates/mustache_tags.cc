#include "templates/mustache_tags.h"

#include <algorithm>
#include <cctype>

namespace omnigate::templates {
namespace {

std::string_view trim(std::string_view text) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

// "=<% %>=" → ("<%", "%>"); false when malformed (kainjow would have refused the source).
bool parseDelimiters(std::string_view contents, std::string& begin, std::string& end) {
  if (contents.size() < 5 || contents.back() != '=') return false;
  std::string_view inner = trim(contents.substr(1, contents.size() - 2));
  auto space = inner.find(' ');
  if (space == std::string_view::npos) return false;
  std::string_view first = inner.substr(0, space);
  std::string_view second = trim(inner.substr(space + 1));
  if (first.empty() || second.empty()) return false;
  begin = std::string(first);
  end = std::string(second);
  return true;
}

}  // namespace

std::vector<MustacheTag> scanMustacheTags(std::string_view source) {
  std::vector<MustacheTag> tags;
  std::string begin = "{{";
  std::string end = "}}";
  std::size_t position = 0;
  while (position < source.size()) {
    std::size_t open = source.find(begin, position);
    if (open == std::string_view::npos) break;
    std::size_t contents_start = open + begin.size();
    bool braces = begin == "{{" && end == "}}";
    bool triple = braces && contents_start < source.size() && source[contents_start] == '{';
    std::string_view closing = triple ? std::string_view("}}}") : std::string_view(end);
    if (triple) ++contents_start;
    std::size_t close = source.find(closing, contents_start);
    if (close == std::string_view::npos) break;
    std::string_view contents = trim(source.substr(contents_start, close - contents_start));
    position = close + closing.size();

    MustacheTag tag;
    tag.offset = open;
    tag.end = position;
    tag.open_delimiter = begin;
    tag.close_delimiter = end;
    if (!contents.empty() && contents.front() == '=') {  // kainjow checks this first, too
      tag.kind = TagKind::SetDelimiter;
      tag.name = std::string(contents);
      if (!parseDelimiters(contents, begin, end)) break;
    } else if (triple) {
      tag.kind = TagKind::Unescaped;
      tag.name = std::string(contents);
    } else {
      char sigil = contents.empty() ? '\0' : contents.front();
      switch (sigil) {
        case '#':
          tag.kind = TagKind::Section;
          break;
        case '^':
          tag.kind = TagKind::Inverted;
          break;
        case '/':
          tag.kind = TagKind::SectionEnd;
          break;
        case '>':
          tag.kind = TagKind::Partial;
          break;
        case '&':
          tag.kind = TagKind::Unescaped;
          break;
        case '!':
          tag.kind = TagKind::Comment;
          break;
        default:
          tag.kind = TagKind::Variable;
          break;
      }
      tag.name = std::string(tag.kind == TagKind::Variable ? contents : trim(contents.substr(1)));
    }
    tags.push_back(std::move(tag));
  }
  return tags;
}

std::string prepareForKainjow(std::string_view source, const std::vector<MustacheTag>& tags) {
  auto blank = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      if (source[i] != ' ' && source[i] != '\t' && source[i] != '\r') return false;
    }
    return true;
  };
  std::string out;
  std::size_t copied = 0;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const MustacheTag& tag = tags[i];
    if (tag.kind == TagKind::SectionEnd) {
      out.append(source.substr(copied, tag.end - copied));
      out += tag.open_delimiter + "^" + std::string(kNeverSetName) + tag.close_delimiter;
      out += tag.open_delimiter + "/" + std::string(kNeverSetName) + tag.close_delimiter;
      copied = tag.end;
      continue;
    }
    if (tag.kind != TagKind::Comment) continue;
    auto newline_before =
        tag.offset == 0 ? std::string_view::npos : source.rfind('\n', tag.offset - 1);
    std::size_t line_start = newline_before == std::string_view::npos ? 0 : newline_before + 1;
    std::size_t line_end = source.find('\n', tag.end);
    std::size_t next_line = line_end == std::string_view::npos ? source.size() : line_end + 1;
    if (line_end == std::string_view::npos) line_end = source.size();
    bool alone = (i == 0 || tags[i - 1].end <= line_start) &&
                 (i + 1 == tags.size() || tags[i + 1].offset >= next_line);
    if (alone && line_start >= copied && blank(line_start, tag.offset) &&
        blank(tag.end, line_end)) {
      out.append(source.substr(copied, line_start - copied));
      copied = next_line;
    }
  }
  out.append(source.substr(copied));
  return out;
}

SectionNesting sectionNesting(const std::vector<MustacheTag>& tags, int limit) {
  SectionNesting nesting;
  int depth = 0;
  for (const auto& tag : tags) {
    if (tag.kind == TagKind::Section || tag.kind == TagKind::Inverted) {
      ++depth;
      nesting.deepest = std::max(nesting.deepest, depth);
      if (depth > limit && !nesting.beyond_limit_at) nesting.beyond_limit_at = tag.offset;
    } else if (tag.kind == TagKind::SectionEnd && depth > 0) {
      --depth;
    }
  }
  return nesting;
}

std::optional<std::size_t> invalidUtf8Offset(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    char32_t code = 0;
    char32_t smallest = 0;
    if ((byte & 0xE0) == 0xC0) {
      length = 2, code = byte & 0x1F, smallest = 0x80;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3, code = byte & 0x0F, smallest = 0x800;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4, code = byte & 0x07, smallest = 0x10000;
    } else {
      return i;  // a continuation byte without a lead, or 0xF8-0xFF
    }
    if (text.size() - i < length) return i;
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += length;
  }
  return std::nullopt;
}

int lineAt(std::string_view source, std::size_t offset) {
  offset = std::min(offset, source.size());
  return 1 + static_cast<int>(std::count(source.begin(), source.begin() + offset, '\n'));
}

std::optional<std::size_t> errorOffset(std::string_view kainjow_message) {
  auto at = kainjow_message.rfind(" at ");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digits = kainjow_message.substr(at + 4);
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::size_t offset = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    offset = offset * 10 + static_cast<std::size_t>(c - '0');
  }
  return offset;
}

}  // namespace omnigate::templates
