// ArtifactStore: digests, content addressing, temp files and their cleanup.
#include "runtime/artifact_store.h"

#include <ctype.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// FilesUnder returns the regular files below `dir`, recursively.
std::vector<std::string> FilesUnder(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  return files;
}

class ArtifactStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = testing::TempDir() + "/artifact_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    root_ = dir_ + "/artifacts";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::unique_ptr<ArtifactStore> Open() {
    absl::StatusOr<std::unique_ptr<ArtifactStore>> store = ArtifactStore::Open(root_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::string dir_;
  std::string root_;
};

TEST_F(ArtifactStoreTest, Sha256HexMatchesKnownVectors) {
  EXPECT_EQ(ArtifactStore::Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ArtifactStore::Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(ArtifactStoreTest, OpenCreatesLayout) {
  std::unique_ptr<ArtifactStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::is_directory(root_ + "/sha256"));
  EXPECT_TRUE(fs::is_directory(root_ + "/tmp"));
}

TEST_F(ArtifactStoreTest, PutStoresBytesUnderTheirDigest) {
  std::unique_ptr<ArtifactStore> store = Open();
  ASSERT_NE(store, nullptr);
  const std::string bytes(
      "\x7f"
      "ELF\0\1\2 binary",
      14);

  absl::StatusOr<std::string> sha256 = store->Put(bytes);
  ASSERT_TRUE(sha256.ok()) << sha256.status();
  EXPECT_EQ(*sha256, ArtifactStore::Sha256Hex(bytes));
  EXPECT_EQ(store->PathOf(*sha256), root_ + "/sha256/" + sha256->substr(0, 2) + "/" + *sha256);
  EXPECT_EQ(ReadFile(store->PathOf(*sha256)), bytes);
  EXPECT_TRUE(store->Contains(*sha256));
  EXPECT_THAT(FilesUnder(root_ + "/tmp"), IsEmpty());
}

TEST_F(ArtifactStoreTest, PutIsIdempotent) {
  std::unique_ptr<ArtifactStore> store = Open();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> first = store->Put("same bytes");
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat before;
  ASSERT_EQ(stat(store->PathOf(*first).c_str(), &before), 0);

  absl::StatusOr<std::string> second = store->Put("same bytes");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *first);
  // The stored file was kept, not replaced.
  struct stat after;
  ASSERT_EQ(stat(store->PathOf(*first).c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);

  absl::StatusOr<std::string> other = store->Put("other bytes");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(*other, *first);
  EXPECT_EQ(FilesUnder(root_ + "/sha256").size(), 2u);
}

TEST_F(ArtifactStoreTest, ContainsOnlyStoredWellFormedDigests) {
  std::unique_ptr<ArtifactStore> store = Open();
  ASSERT_NE(store, nullptr);
  const std::string absent = ArtifactStore::Sha256Hex("never stored");
  EXPECT_FALSE(store->Contains(absent));
  EXPECT_FALSE(store->Contains(""));
  EXPECT_FALSE(store->Contains("../../etc/passwd"));
  std::string upper = absent;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  ASSERT_TRUE(store->Put("never stored").ok());
  EXPECT_TRUE(store->Contains(absent));
  EXPECT_FALSE(store->Contains(upper));
}

TEST_F(ArtifactStoreTest, OpenRemovesLeftoversInTmp) {
  std::string sha256;
  {
    std::unique_ptr<ArtifactStore> store = Open();
    ASSERT_NE(store, nullptr);
    absl::StatusOr<std::string> put = store->Put("kept");
    ASSERT_TRUE(put.ok()) << put.status();
    sha256 = *put;
  }
  WriteFile(root_ + "/tmp/upload-abandoned", "half an upload");
  fs::create_directories(root_ + "/tmp/nested");
  WriteFile(root_ + "/tmp/nested/file", "x");

  std::unique_ptr<ArtifactStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::is_empty(root_ + "/tmp"));
  EXPECT_TRUE(store->Contains(sha256));
  EXPECT_EQ(ReadFile(store->PathOf(sha256)), "kept");
}

TEST_F(ArtifactStoreTest, WriteTempWritesAFileThatRemoveTempDeletes) {
  std::unique_ptr<ArtifactStore> store = Open();
  ASSERT_NE(store, nullptr);

  absl::StatusOr<std::string> first = store->WriteTemp("candidate");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> second = store->WriteTemp("candidate");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(*first, *second);
  EXPECT_THAT(*first, StartsWith(root_ + "/tmp/"));
  EXPECT_EQ(ReadFile(*first), "candidate");

  store->RemoveTemp(*first);
  EXPECT_FALSE(fs::exists(*first));
  EXPECT_TRUE(fs::exists(*second));
}

TEST_F(ArtifactStoreTest, OpenFailsNamingTheRootWhenItIsAFile) {
  WriteFile(root_, "not a directory");
  absl::StatusOr<std::unique_ptr<ArtifactStore>> store = ArtifactStore::Open(root_);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(root_));
}

}  // namespace
}  // namespace sluice
