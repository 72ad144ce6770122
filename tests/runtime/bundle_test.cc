// Tests of lambda artifacts: deploy-time validation and task roots on disk.
#include "runtime/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

constexpr char kNoBootstrap[] = "artifact: the bundle has no executable bootstrap";

// TestEntry is one entry of an archive built by a test.
struct TestEntry {
  enum class Kind { kFile, kDirectory, kSymlink, kHardlink, kFifo };
  std::string name;
  Kind kind = Kind::kFile;
  // kFile: the contents; kSymlink and kHardlink: the target.
  std::string data;
  mode_t mode = 0644;
};

TestEntry File(std::string name, std::string data, mode_t mode = 0644) {
  return {std::move(name), TestEntry::Kind::kFile, std::move(data), mode};
}
TestEntry Executable(std::string name) {
  return File(std::move(name), "#!/bin/sh\necho hello\n", 0755);
}
TestEntry Symlink(std::string name, std::string target) {
  return {std::move(name), TestEntry::Kind::kSymlink, std::move(target), 0777};
}
TestEntry Hardlink(std::string name, std::string target) {
  return {std::move(name), TestEntry::Kind::kHardlink, std::move(target), 0644};
}

enum class Format { kZip, kTarGz };

// MakeArchive builds a bundle in memory, names and all as given (libarchive
// writes whatever it is told, which is what a hostile upload does too).
std::string MakeArchive(Format format, const std::vector<TestEntry>& entries) {
  archive* writer = archive_write_new();
  if (format == Format::kZip) {
    archive_write_set_format_zip(writer);
  } else {
    archive_write_set_format_pax_restricted(writer);
    archive_write_add_filter_gzip(writer);
  }
  std::string buffer(1 << 20, '\0');
  size_t used = 0;
  EXPECT_EQ(archive_write_open_memory(writer, buffer.data(), buffer.size(), &used), ARCHIVE_OK);
  for (const TestEntry& test_entry : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, test_entry.name.c_str());
    archive_entry_set_perm(entry, test_entry.mode);
    archive_entry_set_mtime(entry, 1700000000, 0);
    switch (test_entry.kind) {
      case TestEntry::Kind::kFile:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, static_cast<la_int64_t>(test_entry.data.size()));
        break;
      case TestEntry::Kind::kDirectory:
        archive_entry_set_filetype(entry, AE_IFDIR);
        break;
      case TestEntry::Kind::kSymlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, test_entry.data.c_str());
        break;
      case TestEntry::Kind::kHardlink:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, test_entry.data.c_str());
        break;
      case TestEntry::Kind::kFifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        break;
    }
    EXPECT_EQ(archive_write_header(writer, entry), ARCHIVE_OK) << archive_error_string(writer);
    if (test_entry.kind == TestEntry::Kind::kFile && !test_entry.data.empty()) {
      archive_write_data(writer, test_entry.data.data(), test_entry.data.size());
    }
    archive_entry_free(entry);
  }
  EXPECT_EQ(archive_write_close(writer), ARCHIVE_OK) << archive_error_string(writer);
  archive_write_free(writer);
  buffer.resize(used);
  return buffer;
}

void WriteFile(const std::string& path, const std::string& contents, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary) << contents;
  chmod(path.c_str(), mode);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class BundleTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Artifact writes `bytes` as an artifact file and returns its path.
  std::string Artifact(const std::string& bytes) {
    const std::string path = absl::StrCat(dir_, "/artifact-", ++artifacts_);
    WriteFile(path, bytes);
    return path;
  }

  // Leftovers lists what PrepareTaskRoot left in dir_ besides artifacts and
  // task roots: temporary directories that should be gone.
  std::vector<std::string> Leftovers() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".tmp-") != std::string::npos || name.find(".stale-") != std::string::npos) {
        names.push_back(name);
      }
    }
    return names;
  }

  const std::string dir_ = testing::MakeTempDir();
  int artifacts_ = 0;
};

TEST_F(BundleTest, ZipBundleIsExtractedKeepingExecutableBits) {
  const std::string root = dir_ + "/shell";
  ASSERT_TRUE(PrepareTaskRoot(testing::BinaryDir() + "/functions/lambda-shell.zip", root).ok());
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);
  EXPECT_EQ(ModeOf(root + "/function.sh") & 0111, 0);
  EXPECT_TRUE(Exists(root + "/" + kBundleReadyMarker));
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

TEST_F(BundleTest, TarGzBundleIsExtractedKeepingExecutableBits) {
  const std::string root = dir_ + "/python";
  ASSERT_TRUE(PrepareTaskRoot(testing::BinaryDir() + "/functions/lambda-python.tar.gz", root).ok());
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);
  EXPECT_TRUE(Exists(root + "/function.py"));
}

TEST_F(BundleTest, ExampleBundlesPassValidation) {
  for (const char* name : {"lambda-shell.zip", "lambda-python.tar.gz"}) {
    const std::string bytes = testing::ReadFileOrDie(testing::BinaryDir() + "/functions/" + name);
    EXPECT_TRUE(ValidateLambdaArtifact(bytes).ok()) << name;
  }
}

TEST_F(BundleTest, NestedDirectoriesAndLinksInsideTheBundleAreKept) {
  const std::string bytes =
      MakeArchive(Format::kTarGz, {{"./", TestEntry::Kind::kDirectory, "", 0755},
                                   Executable("./bin/run"),
                                   Symlink("bootstrap", "bin/run"),
                                   Symlink("bin/self", "../bin"),
                                   Hardlink("bin/again", "bin/run"),
                                   File("lib/data/config.json", "{}")});
  ASSERT_TRUE(ValidateLambdaArtifact(bytes).ok());
  const std::string root = dir_ + "/nested";
  ASSERT_TRUE(PrepareTaskRoot(Artifact(bytes), root).ok());
  EXPECT_EQ(std::filesystem::read_symlink(root + "/bootstrap").string(), "bin/run");
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);  // through the link
  EXPECT_EQ(ModeOf(root + "/bin/again"), 0755);
  EXPECT_TRUE(Exists(root + "/lib/data/config.json"));
}

TEST_F(BundleTest, SetIdBitsAreDropped) {
  const std::string bytes = MakeArchive(Format::kZip, {File("bootstrap", "#!/bin/sh\n", 06755)});
  const std::string root = dir_ + "/setid";
  ASSERT_TRUE(PrepareTaskRoot(Artifact(bytes), root).ok());
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);
}

TEST_F(BundleTest, ScriptBecomesTheBootstrap) {
  const std::string script = "#!/bin/sh\necho hello\n";
  const std::string root = dir_ + "/script";
  ASSERT_TRUE(PrepareTaskRoot(Artifact(script), root).ok());
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);
  EXPECT_EQ(testing::ReadFileOrDie(root + "/bootstrap"), script);
  EXPECT_TRUE(ValidateLambdaArtifact(script).ok());
}

TEST_F(BundleTest, ElfExecutableBecomesTheBootstrap) {
  const std::string self = testing::ReadFileOrDie("/proc/self/exe");
  EXPECT_TRUE(ValidateLambdaArtifact(self).ok());
  const std::string root = dir_ + "/elf";
  ASSERT_TRUE(PrepareTaskRoot("/proc/self/exe", root).ok());
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);
  EXPECT_EQ(testing::ReadFileOrDie(root + "/bootstrap"), self);
}

TEST_F(BundleTest, PrepareReturnsAtOnceWhenTheRootIsComplete) {
  const std::string root = dir_ + "/again";
  const std::string artifact = Artifact("#!/bin/sh\necho one\n");
  ASSERT_TRUE(PrepareTaskRoot(artifact, root).ok());
  // A complete root is left as it is, even when its artifact changed.
  WriteFile(artifact, "#!/bin/sh\necho two\n");
  ASSERT_TRUE(PrepareTaskRoot(artifact, root).ok());
  EXPECT_EQ(testing::ReadFileOrDie(root + "/bootstrap"), "#!/bin/sh\necho one\n");
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

TEST_F(BundleTest, IncompleteRootIsReplaced) {
  const std::string root = dir_ + "/half";
  std::filesystem::create_directories(root);
  WriteFile(root + "/bootstrap", "truncated");
  ASSERT_TRUE(PrepareTaskRoot(Artifact("#!/bin/sh\necho whole\n"), root).ok());
  EXPECT_EQ(testing::ReadFileOrDie(root + "/bootstrap"), "#!/bin/sh\necho whole\n");
  EXPECT_TRUE(Exists(root + "/" + kBundleReadyMarker));
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

TEST_F(BundleTest, ConcurrentPreparationsOfOneRootAllSucceed) {
  const std::string root = dir_ + "/shared";
  const std::string artifact = testing::BinaryDir() + "/functions/lambda-python.tar.gz";
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = PrepareTaskRoot(artifact, root); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& result : results) EXPECT_TRUE(result.ok()) << result;
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

TEST_F(BundleTest, CreatesMissingParentDirectories) {
  const std::string root = dir_ + "/functions/thumbnail/7";
  ASSERT_TRUE(PrepareTaskRoot(Artifact("#!/bin/sh\n"), root).ok());
  EXPECT_EQ(ModeOf(root + "/bootstrap"), 0755);
}

TEST_F(BundleTest, MissingArtifactIsNotFound) {
  EXPECT_EQ(PrepareTaskRoot(dir_ + "/nothing-here", dir_ + "/root").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BundleTest, OtherBytesAreRefused) {
  for (const std::string& bytes : {std::string("hello world"), std::string(),
                                   std::string("\x7f"
                                               "EL"),
                                   std::string("MZ\x90\x00", 4)}) {
    absl::Status valid = ValidateLambdaArtifact(bytes);
    EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(valid.message(), HasSubstr("artifact:"));
    const std::string root = dir_ + "/other";
    EXPECT_EQ(PrepareTaskRoot(Artifact(bytes), root).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(Exists(root));
  }
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

TEST_F(BundleTest, CorruptArchiveIsRefused) {
  std::string bytes = MakeArchive(Format::kTarGz, {Executable("bootstrap")});
  bytes.resize(bytes.size() / 2);
  EXPECT_EQ(ValidateLambdaArtifact(bytes).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PrepareTaskRoot(Artifact(bytes), dir_ + "/corrupt").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

// A bad bundle and the text its error must contain.
struct BadBundle {
  std::string label;
  std::vector<TestEntry> entries;
  std::string message;
};

class BadBundleTest : public BundleTest,
                      public ::testing::WithParamInterface<std::tuple<BadBundle, Format>> {};

TEST_P(BadBundleTest, IsRefusedAtDeployAndWhenPrepared) {
  const auto& [bad, format] = GetParam();
  const std::string bytes = MakeArchive(format, bad.entries);
  absl::Status valid = ValidateLambdaArtifact(bytes);
  EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument) << valid;
  EXPECT_THAT(valid.message(), HasSubstr(bad.message));

  const std::string root = dir_ + "/root/fn";
  absl::Status prepared = PrepareTaskRoot(Artifact(bytes), root);
  EXPECT_EQ(prepared.code(), absl::StatusCode::kInvalidArgument) << prepared;
  EXPECT_THAT(prepared.message(), HasSubstr(bad.message));
  EXPECT_FALSE(Exists(root));
  EXPECT_FALSE(Exists(dir_ + "/evil"));
  EXPECT_FALSE(Exists(dir_ + "/root/evil"));
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

const BadBundle kBadBundles[] = {
    {"NoBootstrap", {Executable("run"), File("function.sh", "")}, kNoBootstrap},
    {"BootstrapNotExecutable", {File("bootstrap", "#!/bin/sh\n", 0644)}, kNoBootstrap},
    {"BootstrapOnlyInASubdirectory", {Executable("app/bootstrap")}, kNoBootstrap},
    {"BootstrapIsADirectory",
     {{"bootstrap/", TestEntry::Kind::kDirectory, "", 0755}, Executable("bootstrap/run")},
     kNoBootstrap},
    {"BootstrapLinkLeadsNowhere", {Symlink("bootstrap", "missing")}, kNoBootstrap},
    {"DotDot", {Executable("bootstrap"), File("../evil", "x")}, "\"../evil\""},
    {"DotDotInside", {Executable("bootstrap"), File("lib/../../evil", "x")}, "\"lib/../../evil\""},
    {"AbsolutePath", {Executable("bootstrap"), File("/etc/evil", "x")}, "\"/etc/evil\""},
    {"SymlinkOutside", {Executable("bootstrap"), Symlink("evil", "../outside")}, "\"evil\""},
    {"SymlinkAbsolute", {Executable("bootstrap"), Symlink("etc", "/etc")}, "\"etc\""},
    {"SymlinkOutsideFromSubdirectory",
     {Executable("bootstrap"), Symlink("lib/up", "../../x")},
     "\"lib/up\""},
    {"EntryThroughSymlink",
     {Executable("bootstrap"), Symlink("lib", "."), File("lib/evil", "x")},
     "\"lib/evil\""},
    {"BootstrapEscapesByLink", {Symlink("bootstrap", "../../bin/sh")}, "\"bootstrap\""},
};

// Entries a zip cannot hold.
const BadBundle kBadTarBundles[] = {
    {"Fifo", {Executable("bootstrap"), {"pipe", TestEntry::Kind::kFifo, "", 0644}}, "\"pipe\""},
    {"HardlinkOutside", {Executable("bootstrap"), Hardlink("evil", "../x")}, "\"evil\""},
    {"HardlinkAbsolute", {Executable("bootstrap"), Hardlink("evil", "/etc/passwd")}, "\"evil\""},
};

std::string BadBundleName(const ::testing::TestParamInfo<std::tuple<BadBundle, Format>>& info) {
  return absl::StrCat(std::get<0>(info.param).label,
                      std::get<1>(info.param) == Format::kZip ? "Zip" : "TarGz");
}

INSTANTIATE_TEST_SUITE_P(Bundles, BadBundleTest,
                         ::testing::Combine(::testing::ValuesIn(kBadBundles),
                                            ::testing::Values(Format::kZip, Format::kTarGz)),
                         BadBundleName);
INSTANTIATE_TEST_SUITE_P(TarBundles, BadBundleTest,
                         ::testing::Combine(::testing::ValuesIn(kBadTarBundles),
                                            ::testing::Values(Format::kTarGz)),
                         BadBundleName);

}  // namespace
}  // namespace sluice
