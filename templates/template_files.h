#pragma once

// The only file-system code in templates/: it reads a template directory into memory, and
// everything else (TemplateSet::build and render) works on the result. Keeping the I/O here
// lets the rest be tested and fuzzed without a disk.

#include <cstddef>
#include <string>
#include <vector>

#include "daemon/common/result.h"

namespace omnigate::templates {

struct TemplateFile {
  std::string relative_path;  // '/'-separated, relative to the template directory
  std::string content;
};

// A template file larger than this is refused: it is a mistake (a log, an image), not a template.
inline constexpr std::size_t kMaxTemplateFileBytes = 1 << 20;

// Reads every regular file under `dir` (following symbolic links), sorted by path. Hidden
// entries (".git", ".order.swp") and editor backups ("email.txt~") are skipped. Errors:
// `templates_dir_unreadable` (missing directory or unreadable file) and `template_file_too_large`.
Result<std::vector<TemplateFile>> readTemplateFiles(const std::string& dir);

}  // namespace omnigate::templates
