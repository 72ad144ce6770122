// Hashing and chunked reading of local artifact files.
#include "cli/artifact_file.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace sluice::cli {
namespace {

absl::StatusOr<std::ifstream> OpenRegularFile(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status file = std::filesystem::status(path, error);
  if (!std::filesystem::exists(file)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (!std::filesystem::is_regular_file(file)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  return in;
}

}  // namespace

absl::Status ForEachChunk(const std::string& path, size_t chunk_bytes,
                          const std::function<bool(absl::string_view chunk)>& consume) {
  absl::StatusOr<std::ifstream> in = OpenRegularFile(path);
  if (!in.ok()) return in.status();
  std::vector<char> buffer(chunk_bytes);
  while (*in) {
    in->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto count = static_cast<size_t>(in->gcount());
    if (in->bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
    if (count == 0) break;
    if (!consume(absl::string_view(buffer.data(), count))) {
      return absl::CancelledError(absl::StrCat(path, ": upload stopped"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ArtifactDigest> DigestArtifact(const std::string& path) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free);
  if (context == nullptr || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("cannot start SHA-256");
  }
  ArtifactDigest result;
  absl::Status read = ForEachChunk(path, kArtifactChunkBytes, [&](absl::string_view chunk) {
    result.size += chunk.size();
    return EVP_DigestUpdate(context.get(), chunk.data(), chunk.size()) == 1;
  });
  if (absl::IsCancelled(read)) return absl::InternalError("SHA-256 update failed");
  if (!read.ok()) return read;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context.get(), digest, &length) != 1) {
    return absl::InternalError("cannot finish SHA-256");
  }
  result.sha256 =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
  return result;
}

}  // namespace sluice::cli
