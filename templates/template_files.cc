#include "templates/template_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace omnigate::templates {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxDepth = 8;

bool isIgnoredName(const std::string& name) {
  return name.empty() || name.front() == '.' || name.back() == '~';
}

Result<std::string> readWhole(const fs::path& path) {
  std::error_code error;
  auto size = fs::file_size(path, error);
  if (error) {
    return makeError("templates_dir_unreadable", path.string() + ": " + error.message());
  }
  if (size > kMaxTemplateFileBytes) {
    return makeError("template_file_too_large", path.string() + ": " + std::to_string(size) +
                                                    " bytes, the limit is " +
                                                    std::to_string(kMaxTemplateFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError("templates_dir_unreadable", path.string() + ": cannot open");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return makeError("templates_dir_unreadable", path.string() + ": read failed");
  return content;
}

}  // namespace

Result<std::vector<TemplateFile>> readTemplateFiles(const std::string& dir) {
  std::error_code error;
  fs::path root(dir);
  if (!fs::is_directory(root, error)) {
    return makeError("templates_dir_unreadable", dir + ": not a readable directory");
  }
  std::vector<TemplateFile> files;
  fs::recursive_directory_iterator it(root, fs::directory_options::follow_directory_symlink, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    const fs::path& path = it->path();
    // A template tree is three levels deep; anything far deeper is a symbolic-link loop.
    if (it.depth() > kMaxDepth) {
      return makeError("templates_dir_unreadable", path.string() + ": nested too deeply");
    }
    if (isIgnoredName(path.filename().string())) {
      if (it->is_directory(error)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(error)) continue;
    auto content = readWhole(path);
    if (!content) return content.error();
    files.push_back({path.lexically_relative(root).generic_string(), std::move(content.value())});
  }
  if (error) return makeError("templates_dir_unreadable", dir + ": " + error.message());
  std::sort(files.begin(), files.end(), [](const TemplateFile& a, const TemplateFile& b) {
    return a.relative_path < b.relative_path;
  });
  return files;
}

}  // namespace omnigate::templates
