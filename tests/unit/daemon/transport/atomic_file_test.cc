#include "daemon/transport/atomic_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace omnigate::transport {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "omnigate-atomic-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(dir_, ignored);
  }

  static std::string contentsOf(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::size_t entriesIn(const fs::path& directory) {
    std::size_t count = 0;
    for (const auto& entry : fs::directory_iterator(directory)) {
      (void)entry;
      ++count;
    }
    return count;
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, CreatesMissingDirectoriesAndLeavesNoTemporaryFile) {
  fs::path target = dir_ / "a" / "b" / "message.eml";
  std::string contents("Subject: hi\r\n\r\nbinary \0 ok\r\n", 28);
  Status written = writeFileAtomically(target.string(), contents);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(contentsOf(target), contents);
  EXPECT_EQ(entriesIn(target.parent_path()), 1u);
}

TEST_F(AtomicFileTest, ReplacesAnExistingFileWhole) {
  fs::path target = dir_ / "out.json";
  ASSERT_TRUE(writeFileAtomically(target.string(), std::string(10000, 'a')).ok());
  ASSERT_TRUE(writeFileAtomically(target.string(), "short").ok());
  EXPECT_EQ(contentsOf(target), "short");
  EXPECT_EQ(entriesIn(dir_), 1u);
}

TEST_F(AtomicFileTest, WritesAnEmptyFile) {
  fs::path target = dir_ / "empty";
  ASSERT_TRUE(writeFileAtomically(target.string(), "").ok());
  EXPECT_TRUE(fs::exists(target));
  EXPECT_EQ(fs::file_size(target), 0u);
}

TEST_F(AtomicFileTest, FailsWhenTheParentIsAFile) {
  fs::path blocker = dir_ / "blocker";
  ASSERT_TRUE(writeFileAtomically(blocker.string(), "x").ok());
  Status written = writeFileAtomically((blocker / "child.txt").string(), "y");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().code, "file_write");
  EXPECT_NE(written.error().message.find("blocker"), std::string::npos) << written.error().message;
  EXPECT_EQ(contentsOf(blocker), "x");
}

TEST_F(AtomicFileTest, FailsInAReadOnlyDirectoryAndKeepsTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  fs::path target = dir_ / "kept.txt";
  ASSERT_TRUE(writeFileAtomically(target.string(), "old").ok());
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  Status written = writeFileAtomically(target.string(), "new");
  fs::permissions(dir_, fs::perms::owner_all);
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.error().message.find("Permission denied"), std::string::npos)
      << written.error().message;
  EXPECT_EQ(contentsOf(target), "old");
  EXPECT_EQ(entriesIn(dir_), 1u);
}

TEST_F(AtomicFileTest, FailsWhenTheTargetIsADirectoryAndRemovesTheTemporaryFile) {
  fs::path target = dir_ / "taken";
  fs::create_directories(target / "inside");
  Status written = writeFileAtomically(target.string(), "data");
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.error().message.find("cannot rename"), std::string::npos)
      << written.error().message;
  EXPECT_TRUE(fs::is_directory(target / "inside"));
  EXPECT_EQ(entriesIn(dir_), 1u) << "the temporary file was left behind";
}

TEST_F(AtomicFileTest, RejectsPathsThatNameNoFile) {
  EXPECT_FALSE(writeFileAtomically("", "x").ok());
  EXPECT_FALSE(writeFileAtomically((dir_ / "sub/").string(), "x").ok());
}

}  // namespace
}  // namespace omnigate::transport
