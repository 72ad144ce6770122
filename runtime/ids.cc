#include "runtime/ids.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace sluice {
namespace {

constexpr char kPrefix[] = "inv_";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
constexpr size_t kIdLen = kPrefixLen + 12 + 16;

}  // namespace

std::string NewInvocationId(absl::Time now) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen ABSL_GUARDED_BY(mu) = new absl::BitGen();
  uint64_t random;
  {
    absl::MutexLock lock(&mu);
    random = absl::Uniform<uint64_t>(*gen);
  }
  const uint64_t ms = static_cast<uint64_t>(absl::ToUnixMillis(now)) & 0xffffffffffffULL;
  return absl::StrFormat("%s%012x%016x", kPrefix, ms, random);
}

bool IsWellFormedInvocationId(const std::string& id) {
  if (id.size() != kIdLen || id.compare(0, kPrefixLen, kPrefix) != 0) return false;
  for (size_t i = kPrefixLen; i < id.size(); ++i) {
    const char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace sluice
