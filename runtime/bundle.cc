// Bundle: lambda artifacts checked in memory and prepared as task roots on
// disk with libarchive.
#include "runtime/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sluice {
namespace {

constexpr char kBootstrap[] = "bootstrap";
constexpr char kNoBootstrap[] = "artifact: the bundle has no executable bootstrap";
constexpr char kNotAnArtifact[] =
    "artifact: not a lambda artifact: expected a .zip or .tar.gz bundle, an ELF executable or a "
    "script starting with \"#!\"";
// Bounds on what one bundle may expand to, against archive bombs.
constexpr uint64_t kMaxBundleBytes = uint64_t{4} << 30;
constexpr size_t kMaxBundleEntries = 100000;
// Links followed at most when looking for the bootstrap (as Linux's ELOOP).
constexpr int kMaxLinkHops = 40;
constexpr int kDiskOptions = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                             ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS;

enum class ArtifactKind { kZip, kTarGz, kExecutable, kUnknown };

ArtifactKind Classify(absl::string_view head) {
  if (absl::StartsWith(head, "PK\x03\x04") || absl::StartsWith(head, "PK\x05\x06")) {
    return ArtifactKind::kZip;
  }
  if (absl::StartsWith(head, "\x1f\x8b")) return ArtifactKind::kTarGz;
  if (absl::StartsWith(head,
                       "\x7f"
                       "ELF") ||
      absl::StartsWith(head, "#!")) {
    return ArtifactKind::kExecutable;
  }
  return ArtifactKind::kUnknown;
}

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

std::string Errno(int error) { return std::strerror(error); }

std::string ArchiveError(archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unknown libarchive error";
}

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWriter = std::unique_ptr<archive, ArchiveWriteFree>;

ArchiveReader NewReader(ArtifactKind kind) {
  ArchiveReader reader(archive_read_new());
  if (kind == ArtifactKind::kZip) {
    archive_read_support_format_zip(reader.get());
  } else {
    archive_read_support_filter_gzip(reader.get());
    archive_read_support_format_tar(reader.get());
  }
  return reader;
}

// UniqueFd closes its descriptor when destroyed.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// SplitPath splits a relative path into its non-empty components.
std::vector<std::string> SplitPath(absl::string_view path) {
  return absl::StrSplit(path, '/', absl::SkipEmpty());
}

// NormalizeEntryPath turns an entry name into a path relative to the bundle
// root without "." or empty components; "" names the root itself.
absl::StatusOr<std::string> NormalizeEntryPath(absl::string_view raw) {
  if (absl::StartsWith(raw, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact: bundle entry ", Quoted(raw), " has an absolute path"));
  }
  std::vector<std::string> parts;
  for (std::string& part : SplitPath(raw)) {
    if (part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("artifact: bundle entry ", Quoted(raw), " contains \"..\""));
    }
    parts.push_back(std::move(part));
  }
  return absl::StrJoin(parts, "/");
}

// ResolveLink returns where the symbolic link at `link_path` (normalized)
// pointing to `target` leads, as a normalized path, or nothing when that is
// outside the root.
std::optional<std::string> ResolveLink(absl::string_view link_path, absl::string_view target) {
  if (target.empty() || absl::StartsWith(target, "/")) return std::nullopt;
  std::vector<std::string> parts = SplitPath(link_path);
  parts.pop_back();  // the link's own name: targets are relative to its directory
  for (std::string& part : SplitPath(target)) {
    if (part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(std::move(part));
  }
  return absl::StrJoin(parts, "/");
}

// BundleScanner checks a bundle's entries one by one and remembers enough of
// them to find the bootstrap afterwards.
class BundleScanner {
 public:
  // Add checks `entry` and returns its normalized path ("" for the root).
  absl::StatusOr<std::string> Add(archive_entry* entry) {
    const char* raw_name = archive_entry_pathname(entry);
    if (raw_name == nullptr) {
      return absl::InvalidArgumentError("artifact: a bundle entry has an unreadable name");
    }
    const std::string raw(raw_name);
    if (++count_ > kMaxBundleEntries) {
      return absl::InvalidArgumentError(
          absl::StrCat("artifact: the bundle has more than ", kMaxBundleEntries, " entries"));
    }
    absl::StatusOr<std::string> path = NormalizeEntryPath(raw);
    if (!path.ok()) return path.status();

    Entry info;
    const char* hardlink = archive_entry_hardlink(entry);
    if (hardlink != nullptr) {
      absl::StatusOr<std::string> target = NormalizeEntryPath(hardlink);
      if (!target.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("artifact: hard link ", Quoted(raw), " -> ",
                                                       Quoted(hardlink),
                                                       " points outside the bundle"));
      }
      auto it = entries_.find(*target);
      if (target->empty() || it == entries_.end() || it->second.type == Type::kDirectory) {
        return absl::InvalidArgumentError(absl::StrCat("artifact: hard link ", Quoted(raw), " -> ",
                                                       Quoted(hardlink),
                                                       " names no earlier file of the bundle"));
      }
      info = Entry{Type::kHardlink, 0, *std::move(target)};
    } else {
      switch (archive_entry_filetype(entry)) {
        case AE_IFREG:
          info = Entry{Type::kFile, archive_entry_perm(entry), ""};
          break;
        case AE_IFDIR:
          info = Entry{Type::kDirectory, archive_entry_perm(entry), ""};
          break;
        case AE_IFLNK: {
          const char* link_target = archive_entry_symlink(entry);
          std::optional<std::string> resolved;
          if (link_target != nullptr) resolved = ResolveLink(*path, link_target);
          if (!resolved.has_value()) {
            return absl::InvalidArgumentError(absl::StrCat(
                "artifact: symlink ", Quoted(raw), " -> ",
                Quoted(link_target != nullptr ? link_target : ""), " points outside the bundle"));
          }
          info = Entry{Type::kSymlink, 0, *std::move(resolved)};
          break;
        }
        default:
          return absl::InvalidArgumentError(absl::StrCat("artifact: bundle entry ", Quoted(raw),
                                                         " is not a file, directory or link"));
      }
    }

    if (path->empty()) {
      if (info.type != Type::kDirectory) {
        return absl::InvalidArgumentError(
            absl::StrCat("artifact: bundle entry ", Quoted(raw), " replaces the bundle root"));
      }
      return *path;
    }
    // Every parent must be a directory, never a link: nothing is written
    // through a link.
    const std::vector<std::string> parts = SplitPath(*path);
    std::string prefix;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      prefix = i == 0 ? parts[i] : absl::StrCat(prefix, "/", parts[i]);
      auto [it, inserted] = entries_.try_emplace(prefix, Entry{Type::kDirectory, 0755, ""});
      if (!inserted && it->second.type != Type::kDirectory) {
        return absl::InvalidArgumentError(absl::StrCat("artifact: bundle entry ", Quoted(raw),
                                                       " lies under ", Quoted(prefix),
                                                       ", which is not a directory"));
      }
    }
    auto it = entries_.find(*path);
    if (it != entries_.end() && it->second.type == Type::kDirectory &&
        info.type != Type::kDirectory) {
      return absl::InvalidArgumentError(
          absl::StrCat("artifact: bundle entry ", Quoted(raw), " replaces a directory"));
    }
    entries_[*path] = std::move(info);
    return *path;
  }

  // CheckBootstrap tells whether the bundle's top holds an executable
  // `bootstrap`, following links inside the bundle.
  absl::Status CheckBootstrap() const {
    std::string path = kBootstrap;
    for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
      auto it = entries_.find(path);
      if (it == entries_.end()) break;
      const Entry& entry = it->second;
      if (entry.type == Type::kFile) {
        if ((entry.perm & S_IXUSR) != 0) return absl::OkStatus();
        break;
      }
      if (entry.type == Type::kDirectory) break;
      path = entry.target;
    }
    return absl::InvalidArgumentError(kNoBootstrap);
  }

 private:
  enum class Type { kFile, kDirectory, kSymlink, kHardlink };
  struct Entry {
    Type type = Type::kFile;
    mode_t perm = 0;
    // kSymlink: where it leads; kHardlink: the entry it links to.
    std::string target;
  };

  std::map<std::string, Entry> entries_;
  size_t count_ = 0;
};

// ScanBundle reads and checks every entry of `in`. When `out` (an
// archive_write_disk) is given, each entry is also written under `dest`, an
// absolute directory path free of symbolic links.
absl::Status ScanBundle(archive* in, archive* out, const std::string& dest,
                        BundleScanner& scanner) {
  uint64_t total_bytes = 0;
  while (true) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return absl::InvalidArgumentError(absl::StrCat("artifact: bad bundle: ", ArchiveError(in)));
    }
    const std::string raw = archive_entry_pathname(entry) != nullptr ? archive_entry_pathname(entry)
                                                                     : std::string("(unnamed)");
    absl::StatusOr<std::string> path = scanner.Add(entry);
    if (!path.ok()) return path.status();
    if (path->empty()) continue;  // the root directory itself
    const bool is_file =
        archive_entry_hardlink(entry) == nullptr && archive_entry_filetype(entry) == AE_IFREG;

    if (out != nullptr) {
      if (archive_entry_hardlink(entry) != nullptr) {
        const std::string target = *NormalizeEntryPath(archive_entry_hardlink(entry));
        archive_entry_set_hardlink(entry, absl::StrCat(dest, "/", target).c_str());
      } else if (archive_entry_filetype(entry) != AE_IFLNK) {
        // Keep the rwx bits, drop set-id and sticky bits, and keep the
        // owner able to read, write and enter what it extracted.
        mode_t perm = archive_entry_perm(entry) & 0777;
        perm |= archive_entry_filetype(entry) == AE_IFDIR ? 0700 : 0600;
        archive_entry_set_perm(entry, perm);
      }
      archive_entry_set_pathname(entry, absl::StrCat(dest, "/", *path).c_str());
      if (archive_write_header(out, entry) < ARCHIVE_WARN) {
        return absl::InternalError(
            absl::StrCat("artifact: writing bundle entry ", Quoted(raw), ": ", ArchiveError(out)));
      }
    }
    if (is_file) {
      const void* buffer = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      while ((r = archive_read_data_block(in, &buffer, &size, &offset)) == ARCHIVE_OK) {
        total_bytes += size;
        if (total_bytes > kMaxBundleBytes) {
          return absl::InvalidArgumentError(absl::StrCat(
              "artifact: the bundle expands to more than ", kMaxBundleBytes, " bytes"));
        }
        if (out != nullptr && archive_write_data_block(out, buffer, size, offset) < ARCHIVE_WARN) {
          return absl::InternalError(absl::StrCat("artifact: writing bundle entry ", Quoted(raw),
                                                  ": ", ArchiveError(out)));
        }
      }
      if (r != ARCHIVE_EOF) {
        return absl::InvalidArgumentError(
            absl::StrCat("artifact: bad bundle entry ", Quoted(raw), ": ", ArchiveError(in)));
      }
    }
    if (out != nullptr && archive_write_finish_entry(out) < ARCHIVE_WARN) {
      return absl::InternalError(
          absl::StrCat("artifact: writing bundle entry ", Quoted(raw), ": ", ArchiveError(out)));
    }
  }
  if (out != nullptr && archive_write_close(out) < ARCHIVE_WARN) {
    return absl::InternalError(absl::StrCat("artifact: writing bundle: ", ArchiveError(out)));
  }
  return absl::OkStatus();
}

bool IsComplete(const std::string& task_root) {
  struct stat st;
  return stat(absl::StrCat(task_root, "/", kBundleReadyMarker).c_str(), &st) == 0 &&
         S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ReadHead(const std::string& path, size_t size) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    std::string message = absl::StrCat("artifact: cannot open ", path, ": ", Errno(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    return absl::InternalError(message);
  }
  std::string head(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd.get(), head.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(absl::StrCat("artifact: cannot read ", path, ": ", Errno(errno)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  head.resize(got);
  return head;
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", Errno(errno)));
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// CopyExecutable copies the file `from` to the new file `to`, mode 0755.
absl::Status CopyExecutable(const std::string& from, const std::string& to) {
  UniqueFd in(open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    return absl::InternalError(absl::StrCat("artifact: cannot open ", from, ": ", Errno(errno)));
  }
  UniqueFd out(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
  if (out.get() < 0) {
    return absl::InternalError(absl::StrCat("cannot create ", to, ": ", Errno(errno)));
  }
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = read(in.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(absl::StrCat("artifact: cannot read ", from, ": ", Errno(errno)));
    }
    if (n == 0) break;
    absl::Status written = WriteAll(out.get(), buffer, static_cast<size_t>(n), to);
    if (!written.ok()) return written;
  }
  if (fchmod(out.get(), 0755) != 0) {
    return absl::InternalError(absl::StrCat("cannot chmod ", to, ": ", Errno(errno)));
  }
  return absl::OkStatus();
}

absl::Status FsyncDirectory(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || fsync(fd.get()) != 0) {
    return absl::InternalError(absl::StrCat("cannot sync ", path, ": ", Errno(errno)));
  }
  return absl::OkStatus();
}

// ExtractBundle writes the bundle at `artifact_path` into the directory
// `dest` and checks that it has an executable bootstrap.
absl::Status ExtractBundle(ArtifactKind kind, const std::string& artifact_path,
                           const std::string& dest) {
  ArchiveReader in = NewReader(kind);
  if (archive_read_open_filename(in.get(), artifact_path.c_str(), 64 * 1024) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact: bad bundle: ", ArchiveError(in.get())));
  }
  ArchiveWriter out(archive_write_disk_new());
  archive_write_disk_set_options(out.get(), kDiskOptions);
  BundleScanner scanner;
  absl::Status scanned = ScanBundle(in.get(), out.get(), dest, scanner);
  if (!scanned.ok()) return scanned;
  absl::Status bootstrap = scanner.CheckBootstrap();
  if (!bootstrap.ok()) return bootstrap;
  // What counts is what landed on disk.
  struct stat st;
  if (stat(absl::StrCat(dest, "/", kBootstrap).c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      (st.st_mode & S_IXUSR) == 0) {
    return absl::InvalidArgumentError(kNoBootstrap);
  }
  return absl::OkStatus();
}

// Seal makes the prepared directory `dir` durable and marks it complete.
absl::Status Seal(const std::string& dir) {
  if (chmod(dir.c_str(), 0755) != 0) {
    return absl::InternalError(absl::StrCat("cannot chmod ", dir, ": ", Errno(errno)));
  }
  {
    UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0 || syncfs(fd.get()) != 0) {
      return absl::InternalError(absl::StrCat("cannot sync ", dir, ": ", Errno(errno)));
    }
  }
  const std::string marker = absl::StrCat(dir, "/", kBundleReadyMarker);
  {
    UniqueFd fd(open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      return absl::InternalError(absl::StrCat("cannot create ", marker, ": ", Errno(errno)));
    }
    constexpr char kContents[] = "complete\n";
    absl::Status written = WriteAll(fd.get(), kContents, sizeof(kContents) - 1, marker);
    if (!written.ok()) return written;
    if (fsync(fd.get()) != 0) {
      return absl::InternalError(absl::StrCat("cannot sync ", marker, ": ", Errno(errno)));
    }
  }
  return FsyncDirectory(dir);
}

// Install renames the sealed directory `dir` to `task_root`. When another
// preparer got there first, its root is kept and `dir` removed.
absl::Status Install(const std::string& dir, const std::string& task_root,
                     const std::string& parent) {
  for (int round = 0; round < 2; ++round) {
    if (rename(dir.c_str(), task_root.c_str()) == 0) return FsyncDirectory(parent);
    const int error = errno;
    if (error != EEXIST && error != ENOTEMPTY) {
      return absl::InternalError(
          absl::StrCat("cannot rename ", dir, " to ", task_root, ": ", Errno(error)));
    }
    std::error_code ignored;
    if (IsComplete(task_root)) {
      std::filesystem::remove_all(dir, ignored);
      return absl::OkStatus();
    }
    // Something incomplete is in the way (not made here, or damaged since):
    // move it aside and remove it.
    std::string aside = absl::StrCat(task_root, ".stale-XXXXXX");
    if (mkdtemp(aside.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create ", aside, ": ", Errno(errno)));
    }
    if (rename(task_root.c_str(), absl::StrCat(aside, "/old").c_str()) != 0 && errno != ENOENT) {
      const int rename_error = errno;
      std::filesystem::remove_all(aside, ignored);
      return absl::InternalError(
          absl::StrCat("cannot move ", task_root, " aside: ", Errno(rename_error)));
    }
    std::filesystem::remove_all(aside, ignored);
  }
  return absl::InternalError(absl::StrCat("cannot install ", task_root));
}

}  // namespace

absl::Status ValidateLambdaArtifact(absl::string_view bytes) {
  const ArtifactKind kind = Classify(bytes.substr(0, 8));
  if (kind == ArtifactKind::kUnknown) return absl::InvalidArgumentError(kNotAnArtifact);
  if (kind == ArtifactKind::kExecutable) return absl::OkStatus();
  ArchiveReader in = NewReader(kind);
  if (archive_read_open_memory(in.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact: bad bundle: ", ArchiveError(in.get())));
  }
  BundleScanner scanner;
  absl::Status scanned = ScanBundle(in.get(), nullptr, "", scanner);
  if (!scanned.ok()) return scanned;
  return scanner.CheckBootstrap();
}

absl::Status PrepareTaskRoot(const std::string& artifact_path, const std::string& task_root_arg) {
  std::string task_root = task_root_arg;
  while (task_root.size() > 1 && task_root.back() == '/') task_root.pop_back();
  if (IsComplete(task_root)) return absl::OkStatus();

  absl::StatusOr<std::string> head = ReadHead(artifact_path, 8);
  if (!head.ok()) return head.status();
  const ArtifactKind kind = Classify(*head);
  if (kind == ArtifactKind::kUnknown) return absl::InvalidArgumentError(kNotAnArtifact);

  std::string parent = std::filesystem::path(task_root).parent_path().string();
  if (parent.empty()) parent = ".";
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", parent, ": ", error.message()));
  }
  std::string temp = absl::StrCat(task_root, ".tmp-XXXXXX");
  if (mkdtemp(temp.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create ", temp, ": ", Errno(errno)));
  }
  // libarchive refuses to write through symbolic links, so extract below a
  // path that has none.
  std::unique_ptr<char, decltype(&std::free)> real(realpath(temp.c_str(), nullptr), &std::free);
  absl::Status status;
  if (real == nullptr) {
    status = absl::InternalError(absl::StrCat("cannot resolve ", temp, ": ", Errno(errno)));
  } else if (kind == ArtifactKind::kExecutable) {
    status = CopyExecutable(artifact_path, absl::StrCat(real.get(), "/", kBootstrap));
  } else {
    status = ExtractBundle(kind, artifact_path, real.get());
  }
  if (status.ok()) status = Seal(temp);
  if (status.ok()) status = Install(temp, task_root, parent);
  if (!status.ok()) std::filesystem::remove_all(temp, error);
  return status;
}

}  // namespace sluice
