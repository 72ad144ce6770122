// NameThisThread: names the calling thread, for top -H, perf and debuggers.
#pragma once

#include <pthread.h>

#include <string>

#include "absl/strings/string_view.h"

namespace sluice {

// NameThisThread sets the calling thread's name; Linux keeps the first 15
// bytes. Names start with "sluice-" and say what the thread does.
inline void NameThisThread(absl::string_view name) {
  const std::string truncated(name.substr(0, 15));
  pthread_setname_np(pthread_self(), truncated.c_str());
}

}  // namespace sluice
