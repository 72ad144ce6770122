// ArtifactStore: function artifacts on disk, named by the SHA-256 of their
// contents.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice {

// ArtifactStore keeps artifact files under a root directory:
//   <root>/sha256/<first 2 hex digits>/<64 hex digits>  accepted artifacts
//   <root>/tmp/                                         uploads in progress
// An accepted artifact is written once, synced and never changed, so a path
// from PathOf may be opened or dlopen()ed at any time. A crash leaves at worst
// a file in tmp/, which the next Open removes.
//
// Thread-safe: every method may be called from any thread at once, also from
// several processes sharing the root (except Open, which clears tmp/). Errors
// name the path involved and the system's reason.
class ArtifactStore {
 public:
  // Open creates <root>/sha256 and <root>/tmp if missing and deletes whatever
  // is left in <root>/tmp from interrupted uploads.
  static absl::StatusOr<std::unique_ptr<ArtifactStore>> Open(const std::string& root);

  // Sha256Hex returns the lower-case hex SHA-256 of `bytes` (64 characters).
  static std::string Sha256Hex(std::string_view bytes);

  // Put stores `bytes` durably, unless an artifact with the same digest is
  // already stored, and returns their Sha256Hex.
  absl::StatusOr<std::string> Put(std::string_view bytes);

  // PathOf returns where the artifact `sha256` is (or would be) stored.
  // Precondition: `sha256` is 64 lower-case hex digits.
  std::string PathOf(const std::string& sha256) const;

  // Contains tells whether the artifact `sha256` is stored; false for a
  // string that is not 64 lower-case hex digits.
  bool Contains(const std::string& sha256) const;

  // WriteTemp writes `bytes` to a new file in <root>/tmp, synced, and returns
  // its path: a place to examine an upload (e.g. dlopen it) before Put
  // accepts it. The caller owns the file and removes it with RemoveTemp; the
  // next Open removes it otherwise.
  absl::StatusOr<std::string> WriteTemp(std::string_view bytes);

  // RemoveTemp deletes a file returned by WriteTemp. Best effort: a file that
  // cannot be removed is left for the next Open.
  void RemoveTemp(const std::string& path);

  const std::string& root() const { return root_; }

 private:
  explicit ArtifactStore(std::string root);

  // Constant after construction.
  const std::string root_;
  const std::string sha256_dir_;
  const std::string tmp_dir_;
};

}  // namespace sluice
