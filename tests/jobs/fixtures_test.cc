// Every bad fixture gives exactly the messages in its .expected file (file:line:column, field path,
// expected and found); every good fixture and every example loads without a diagnostic.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "jobs/loader.h"

namespace fs = std::filesystem;
using ringmaster::jobs::load_file;

namespace {

std::vector<std::string> files_in(const std::string& dir, const std::string& ext) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(fs::relative(e.path(), RINGMASTER_SOURCE_DIR).string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Fixtures, BadFixturesGiveTheirExactMessages) {
  auto files = files_in(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fixtures/bad", ".yaml");
  ASSERT_GE(files.size(), 10u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    auto r = load_file(f);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.documents.empty() || f.find("multi-document") != std::string::npos);
    std::string got;
    for (const auto& d : r.diagnostics.sorted()) got += d.to_string() + "\n";
    std::string expected_path = f.substr(0, f.size() - 5) + ".expected";
    ASSERT_TRUE(fs::exists(expected_path)) << expected_path;
    EXPECT_EQ(got, slurp(expected_path));
  }
}

TEST(Fixtures, GoodFixturesAndExamplesLoadCleanly) {
  auto files = files_in(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fixtures/good", ".yaml");
  auto examples = files_in(std::string(RINGMASTER_SOURCE_DIR) + "/examples", ".yaml");
  files.insert(files.end(), examples.begin(), examples.end());
  ASSERT_GE(files.size(), 7u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    auto r = load_file(f);
    for (const auto& d : r.diagnostics.items()) ADD_FAILURE() << d.to_string();
    EXPECT_TRUE(r.ok());
    EXPECT_FALSE(r.documents.empty());
  }
}
