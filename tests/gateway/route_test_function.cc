// route_test_function: a native function for tests of method routes. By the
// metadata "x-test-mode":
//   (none)  answers its input with, appended, shop.v1.Order fields 3 (one
//           map entry per metadata entry it got) and 4 (its traceparent):
//           parsed as an Order, the request's fields plus what it was given;
//   "wait"  creates the file named by the metadata "x-test-started" (when
//           given), then waits until cancelled and fails "Interrupted"; after
//           60 s without a cancel it fails "NotCancelled".
// Written against the C ABI, which lists the metadata.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include <sluice/function.h>

namespace {

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// AppendBytesField appends length-delimited field `field` holding `bytes`.
void AppendBytesField(std::string& out, uint32_t field, std::string_view bytes) {
  AppendVarint(out, (field << 3) | 2);
  AppendVarint(out, bytes.size());
  out.append(bytes);
}

std::string_view MetadataOf(const sluice_invocation* inv, const char* key) {
  const char* value = sluice_metadata(inv, key);
  return value == nullptr ? std::string_view() : std::string_view(value);
}

}  // namespace

extern "C" SLUICE_EXPORT int sluice_function_invoke(const sluice_invocation* inv) {
  if (MetadataOf(inv, "x-test-mode") == "wait") {
    if (const std::string_view started = MetadataOf(inv, "x-test-started"); !started.empty()) {
      std::ofstream(std::string(started)) << "started\n";
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < until) {
      if (sluice_is_cancelled(inv)) {
        sluice_set_error(inv, "Interrupted", "cancelled while waiting");
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    sluice_set_error(inv, "NotCancelled", "waited 60 s without being cancelled");
    return 0;
  }
  std::string out(reinterpret_cast<const char*>(inv->input), inv->input_len);
  for (size_t i = 0; i < inv->metadata_count; ++i) {
    std::string entry;
    AppendBytesField(entry, 1, inv->metadata[i].key);
    AppendBytesField(entry, 2, inv->metadata[i].value);
    AppendBytesField(out, 3, entry);
  }
  AppendBytesField(out, 4, sluice_traceparent(inv));
  sluice_set_output(inv, out.data(), out.size());
  return 0;
}
