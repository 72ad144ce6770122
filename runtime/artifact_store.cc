// ArtifactStore: write to tmp/, fsync, rename into sha256/, fsync the
// directory.
#include "runtime/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sluice {
namespace {

constexpr size_t kSha256HexSize = 64;

bool IsSha256Hex(const std::string& s) {
  if (s.size() != kSha256HexSize) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status FromErrorCode(const std::error_code& error, absl::string_view what) {
  return absl::ErrnoToStatus(error.value(), what);
}

// WriteAll writes every byte of `bytes` to `fd`; `path` is for messages.
absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", path));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// SyncDirectory makes the entries of directory `path` (new names, renames)
// durable.
absl::Status SyncDirectory(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open directory ", path));
  absl::Status status;
  if (fsync(fd) != 0) status = absl::ErrnoToStatus(errno, absl::StrCat("fsync directory ", path));
  close(fd);
  return status;
}

// CreateDirectory creates `path` if missing and, if it did, syncs its parent
// so the new entry survives a crash.
absl::Status CreateDirectory(const std::filesystem::path& path) {
  std::error_code error;
  const bool created = std::filesystem::create_directories(path, error);
  if (error) return FromErrorCode(error, absl::StrCat("create directory ", path.string()));
  if (!created) return absl::OkStatus();
  return SyncDirectory(path.parent_path().string());
}

}  // namespace

ArtifactStore::ArtifactStore(std::string root)
    : root_(std::move(root)),
      sha256_dir_((std::filesystem::path(root_) / "sha256").string()),
      tmp_dir_((std::filesystem::path(root_) / "tmp").string()) {}

absl::StatusOr<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(const std::string& root) {
  std::unique_ptr<ArtifactStore> store(new ArtifactStore(root));
  for (const std::string& dir : {store->sha256_dir_, store->tmp_dir_}) {
    if (absl::Status status = CreateDirectory(dir); !status.ok()) return status;
  }
  // Leftovers of interrupted uploads.
  std::error_code error;
  std::vector<std::filesystem::path> leftovers;
  for (std::filesystem::directory_iterator it(store->tmp_dir_, error), end; !error && it != end;
       it.increment(error)) {
    leftovers.push_back(it->path());
  }
  if (error) return FromErrorCode(error, absl::StrCat("list ", store->tmp_dir_));
  for (const std::filesystem::path& leftover : leftovers) {
    std::filesystem::remove_all(leftover, error);
    if (error) return FromErrorCode(error, absl::StrCat("remove ", leftover.string()));
  }
  return store;
}

std::string ArtifactStore::Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // EVP_Digest fails only when out of memory; there is no sensible digest
  // to return then.
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(size)));
}

std::string ArtifactStore::PathOf(const std::string& sha256) const {
  return (std::filesystem::path(sha256_dir_) / sha256.substr(0, 2) / sha256).string();
}

bool ArtifactStore::Contains(const std::string& sha256) const {
  if (!IsSha256Hex(sha256)) return false;
  struct stat info;
  return stat(PathOf(sha256).c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

absl::StatusOr<std::string> ArtifactStore::Put(std::string_view bytes) {
  std::string sha256 = Sha256Hex(bytes);
  if (Contains(sha256)) return sha256;

  const std::filesystem::path path = PathOf(sha256);
  if (absl::Status status = CreateDirectory(path.parent_path()); !status.ok()) return status;
  absl::StatusOr<std::string> temp = WriteTemp(bytes);
  if (!temp.ok()) return temp.status();
  // Replacing a copy that a concurrent Put renamed into place first is
  // harmless: the contents are equal.
  if (rename(temp->c_str(), path.c_str()) != 0) {
    absl::Status status =
        absl::ErrnoToStatus(errno, absl::StrCat("rename ", *temp, " to ", path.string()));
    RemoveTemp(*temp);
    return status;
  }
  if (absl::Status status = SyncDirectory(path.parent_path().string()); !status.ok()) {
    return status;
  }
  return sha256;
}

absl::StatusOr<std::string> ArtifactStore::WriteTemp(std::string_view bytes) {
  std::string path = (std::filesystem::path(tmp_dir_) / "upload-XXXXXX").string();
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("create temp file in ", tmp_dir_));
  absl::Status status = WriteAll(fd, bytes, path);
  if (status.ok() && fchmod(fd, 0644) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("chmod ", path));
  }
  if (status.ok() && fsync(fd) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("fsync ", path));
  }
  if (close(fd) != 0 && status.ok()) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("close ", path));
  }
  if (!status.ok()) {
    RemoveTemp(path);
    return status;
  }
  return path;
}

void ArtifactStore::RemoveTemp(const std::string& path) { unlink(path.c_str()); }

}  // namespace sluice
