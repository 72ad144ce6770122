// Bundle: turns a lambda function's artifact into the directory it runs in
// (its task root, LAMBDA_TASK_ROOT), and checks artifacts at deploy time.
//
// A lambda artifact is one of:
//   - a .zip or .tar.gz bundle (recognised by its magic bytes, not its name)
//     with an executable `bootstrap` at its top, as with AWS Lambda's
//     provided runtimes;
//   - a single executable: an ELF file, or a script starting with "#!"; it
//     becomes the task root's `bootstrap`.
//
// Bundles may not write outside their root: entries with an absolute path or
// a ".." component, symbolic or hard links that point outside the root,
// entries under a link, and device, FIFO or socket entries are refused.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sluice {

// kBundleReadyMarker is the file PrepareTaskRoot writes last into a task
// root; a task root holding it is complete.
inline constexpr char kBundleReadyMarker[] = ".sluice-ready";

// ValidateLambdaArtifact checks `bytes` against the rules above without
// writing anything to disk. INVALID_ARGUMENT, with a message starting with
// "artifact: ", when they are broken: the bytes are neither a bundle nor an
// executable, a bundle entry escapes the root (the message names the entry),
// or the bundle has no executable bootstrap ("artifact: the bundle has no
// executable bootstrap"). Thread-safe.
absl::Status ValidateLambdaArtifact(absl::string_view bytes);

// PrepareTaskRoot makes `task_root` hold the function stored at
// `artifact_path`: a bundle is extracted there (file modes, including the
// executable bits, are kept; set-id bits are not), a single executable is
// copied to `task_root`/bootstrap with mode 0755.
//
// Idempotent and crash-safe: when `task_root` is already complete it returns
// OK at once. Otherwise the root is built in a fresh temporary directory
// next to it (`task_root`.tmp-XXXXXX), its files are synced, the ready
// marker is written last, and the directory is renamed into place; so a
// crash never leaves a half-prepared root behind, only a temporary
// directory. Several threads or processes may prepare the same root at
// once; all of them return OK once one has succeeded. The parent directory
// of `task_root` is created when missing.
//
// Errors: INVALID_ARGUMENT as for ValidateLambdaArtifact; NOT_FOUND when
// `artifact_path` does not exist; INTERNAL when the disk cannot be written.
absl::Status PrepareTaskRoot(const std::string& artifact_path, const std::string& task_root);

}  // namespace sluice
