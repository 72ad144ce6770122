// Reading a local artifact for upload: its SHA-256 and its chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sluice::cli {

// kArtifactChunkBytes is the largest chunk a Deploy stream carries (1 MiB).
inline constexpr size_t kArtifactChunkBytes = 1 << 20;

// ArtifactDigest identifies the content of an artifact file.
struct ArtifactDigest {
  std::string sha256;  // lower-case hex
  uint64_t size = 0;   // bytes
};

// DigestArtifact reads the file at `path` once and returns its SHA-256 and
// size. NOT_FOUND when it does not exist, INVALID_ARGUMENT when it is not a
// regular file, PERMISSION_DENIED when it cannot be opened, DATA_LOSS on a
// read error.
absl::StatusOr<ArtifactDigest> DigestArtifact(const std::string& path);

// ForEachChunk reads the file at `path` and calls `consume` with consecutive
// chunks of at most `chunk_bytes` bytes (none for an empty file). Stops early
// and returns CANCELLED when `consume` returns false; errors as DigestArtifact.
absl::Status ForEachChunk(const std::string& path, size_t chunk_bytes,
                          const std::function<bool(absl::string_view chunk)>& consume);

}  // namespace sluice::cli
