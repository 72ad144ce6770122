#include "runtime/ids.h"

#include <cstdint>
#include <string>

#include "absl/random/random.h"

namespace sluice {
namespace {

constexpr char kPrefix[] = "inv_";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
constexpr size_t kIdLen = kPrefixLen + 12 + 16;

// PutHex writes the low `digits` hex digits of `value`, lower case, most
// significant first, to out[0..digits).
void PutHex(uint64_t value, size_t digits, char* out) {
  constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = digits; i > 0; --i) {
    out[i - 1] = kDigits[value & 0xf];
    value >>= 4;
  }
}

}  // namespace

std::string NewInvocationId(absl::Time now) {
  // One generator per thread: no lock is shared between callers.
  thread_local absl::BitGen gen;
  const uint64_t random = absl::Uniform<uint64_t>(gen);
  const uint64_t ms = static_cast<uint64_t>(absl::ToUnixMillis(now)) & 0xffffffffffffULL;
  std::string id(kIdLen, '0');
  id.replace(0, kPrefixLen, kPrefix);
  PutHex(ms, 12, &id[kPrefixLen]);
  PutHex(random, 16, &id[kPrefixLen + 12]);
  return id;
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
