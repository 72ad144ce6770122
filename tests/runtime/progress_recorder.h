// ProgressRecorder: collects what an executor passes to on_progress.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/progress.h"

namespace sluice {

// ProgressRecorder keeps every report passed to on_progress. Thread-safe.
class ProgressRecorder {
 public:
  // Callback returns an on_progress that records into this object, which
  // must outlive it.
  std::function<void(uint32_t, const std::string&)> Callback() {
    return [this](uint32_t percent, const std::string& message) {
      absl::MutexLock lock(&mu_);
      reports_.push_back({percent, message});
    };
  }
  std::vector<ProgressReport> reports() const {
    absl::MutexLock lock(&mu_);
    return reports_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<ProgressReport> reports_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
