#include "templates/template_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace omnigate::templates {
namespace {

namespace fs = std::filesystem;

class TemplateFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device seed;
    root_ = fs::temp_directory_path() / ("omnigate-templates-" + std::to_string(seed()));
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  void write(const std::string& relative, const std::string& content) {
    fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
  }

  fs::path root_;
};

TEST_F(TemplateFilesTest, ReadsFilesSortedWithRelativePathsAndSkipsJunk) {
  write("order/default/email.txt", "text\r\nwith CRLF");
  write("order/default/email.subject", "subject");
  write("_partials/footer.mustache", "footer");
  write("README.md", "docs");
  write("order/default/.email.txt.swp", "editor swap");
  write("order/default/email.txt~", "editor backup");
  write(".git/config", "vcs");

  auto files = readTemplateFiles(root_.string());
  ASSERT_TRUE(files.ok()) << files.error().message;
  std::vector<std::string> paths;
  for (const auto& file : files.value()) paths.push_back(file.relative_path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"README.md", "_partials/footer.mustache",
                                      "order/default/email.subject", "order/default/email.txt"}));
  EXPECT_EQ(files.value()[3].content, "text\r\nwith CRLF");  // bytes as they are
}

TEST_F(TemplateFilesTest, MissingDirectoryIsAnError) {
  auto files = readTemplateFiles((root_ / "absent").string());
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.error().code, "templates_dir_unreadable");
}

TEST_F(TemplateFilesTest, OversizedFileIsRefusedByName) {
  write("order/default/email.html", std::string(kMaxTemplateFileBytes + 1, 'x'));
  auto files = readTemplateFiles(root_.string());
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.error().code, "template_file_too_large");
  EXPECT_NE(files.error().message.find("email.html"), std::string::npos);
}

}  // namespace
}  // namespace omnigate::templates
