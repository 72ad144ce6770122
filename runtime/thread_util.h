// Thread helpers: a name for top -H, perf and debuggers, and a lower CPU
// priority for background threads.
#pragma once

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <string>

#include "absl/strings/string_view.h"

namespace sluice {

// NameThisThread sets the calling thread's name; Linux keeps the first 15
// bytes. Names start with "sluice-" and say what the thread does.
inline void NameThisThread(absl::string_view name) {
  const std::string truncated(name.substr(0, 15));
  pthread_setname_np(pthread_self(), truncated.c_str());
}

// LowerThisThreadsPriority adds `nice` (> 0) to the calling thread's nice
// value; Linux keeps one per thread and caps it at 19. A hint: failure is
// ignored.
inline void LowerThisThreadsPriority(int nice) {
  const id_t self = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, self);
  if (errno == 0) (void)setpriority(PRIO_PROCESS, self, now + nice);
}

}  // namespace sluice
