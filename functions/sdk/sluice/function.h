/* sluice/function.h: the C ABI between Sluice and a native function.
 *
 * A native function is a shared object that exports
 *
 *   int sluice_function_invoke(const sluice_invocation* inv);
 *
 * Sluice calls it once per attempt, possibly from several threads at once
 * (up to the function's concurrency), so the function must be thread-safe.
 * Everything reachable from `inv` is owned by Sluice and valid only until the
 * call returns. The function reports its result with sluice_set_output() or
 * sluice_set_error() and returns 0; a non-zero return without an error set is
 * reported as error type "FunctionError".
 *
 * The shared object needs no symbols from the host: every host service is
 * reached through `inv->host_api`, so the ABI is stable across compilers and
 * standard libraries. C++ authors use the wrapper in sluice/function.hpp.
 *
 * Compatibility: the host fills `inv->abi_version` with its own
 * SLUICE_ABI_VERSION. Later versions only append members to the structures
 * below, so a function built against an older header runs on a newer host,
 * and the sluice_* helpers check `inv->abi_version` before using a member the
 * host may lack, so a function built against a newer header runs on an older
 * host (progress reports are then dropped).
 *
 * Versions: 1 set_output, set_error, is_cancelled; 2 adds report_progress.
 */
#ifndef SLUICE_FUNCTION_H_
#define SLUICE_FUNCTION_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever the structures below change (members are only appended). */
#define SLUICE_ABI_VERSION 3

/* The longest progress message kept, in bytes; longer ones are cut at a
 * UTF-8 character boundary. */
#define SLUICE_MAX_PROGRESS_MESSAGE_BYTES 1024

#define SLUICE_EXPORT __attribute__((visibility("default")))

/* One metadata entry passed by the caller. */
typedef struct sluice_metadata_entry {
  const char* key;
  const char* value;
} sluice_metadata_entry;

/* Host services. Each takes the opaque `host` pointer of the invocation. */
typedef struct sluice_host_api {
  /* Copies `len` bytes as the invocation's output; later calls replace it. */
  void (*set_output)(void* host, const uint8_t* data, size_t len);
  /* Marks the invocation failed with an error type and a message (both
   * NUL-terminated, copied). */
  void (*set_error)(void* host, const char* type, const char* message);
  /* Non-zero once the invocation was cancelled or its deadline passed; a
   * long-running function should poll it and return early. */
  int (*is_cancelled)(void* host);
  /* ABI 2. Reports how far the attempt got: `percent` (values over 100 count
   * as 100) and a NUL-terminated message (may be NULL for none; copied; cut
   * to SLUICE_MAX_PROGRESS_MESSAGE_BYTES; bytes that are not UTF-8 are
   * replaced). Callers see the latest report with the invocation. Reports may
   * be coalesced when they come faster than the host passes them on (a burst
   * of a few dozen is passed on as is), but the last report of an attempt is
   * always passed on before its result. Cheap; may be called from any thread
   * during the call. Use it through sluice_report_progress(). */
  void (*report_progress)(void* host, uint32_t percent, const char* message);
} sluice_host_api;

/* One attempt of one invocation. */
typedef struct sluice_invocation {
  uint32_t abi_version; /* SLUICE_ABI_VERSION of the host. */
  const char* invocation_id;
  const char* function_name;
  uint64_t function_version;
  uint32_t attempt;         /* 1 for the first attempt. */
  int64_t deadline_unix_ms; /* Wall-clock deadline of this attempt. */
  const uint8_t* input;
  size_t input_len;
  const sluice_metadata_entry* metadata;
  size_t metadata_count;
  void* host;
  const sluice_host_api* host_api;
  /* ABI 3. The W3C trace context of this attempt's span
   * (https://www.w3.org/TR/trace-context/): "00-<trace id>-<span id>-<flags>",
   * and the vendor state (empty for none). Spans the function makes should be
   * its children. Never NULL from an ABI 3 host; use sluice_traceparent(). */
  const char* traceparent;
  const char* tracestate;
} sluice_invocation;

/* The entry point every native function exports (the name can be changed
 * with the spec's entry_point). */
typedef int (*sluice_function_fn)(const sluice_invocation* inv);

static inline void sluice_set_output(const sluice_invocation* inv, const void* data, size_t len) {
  inv->host_api->set_output(inv->host, (const uint8_t*)data, len);
}

static inline void sluice_set_error(const sluice_invocation* inv, const char* type,
                                    const char* message) {
  inv->host_api->set_error(inv->host, type, message);
}

static inline int sluice_is_cancelled(const sluice_invocation* inv) {
  return inv->host_api->is_cancelled(inv->host);
}

/* Returns the attempt's traceparent (see sluice_invocation.traceparent), or
 * "" on a host older than ABI 3. */
static inline const char* sluice_traceparent(const sluice_invocation* inv) {
  return inv->abi_version < 3 || inv->traceparent == NULL ? "" : inv->traceparent;
}

/* Returns the attempt's tracestate, or "" (none, or a host older than ABI 3). */
static inline const char* sluice_tracestate(const sluice_invocation* inv) {
  return inv->abi_version < 3 || inv->tracestate == NULL ? "" : inv->tracestate;
}

/* Reports progress (see sluice_host_api.report_progress). Does nothing on a
 * host older than ABI 2. */
static inline void sluice_report_progress(const sluice_invocation* inv, uint32_t percent,
                                          const char* message) {
  if (inv->abi_version < 2 || inv->host_api->report_progress == NULL) return;
  inv->host_api->report_progress(inv->host, percent, message);
}

/* Returns the value of metadata `key`, or NULL. */
static inline const char* sluice_metadata(const sluice_invocation* inv, const char* key) {
  for (size_t i = 0; i < inv->metadata_count; ++i) {
    const char* a = inv->metadata[i].key;
    const char* b = key;
    while (*a != '\0' && *a == *b) {
      ++a;
      ++b;
    }
    if (*a == *b) return inv->metadata[i].value;
  }
  return NULL;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SLUICE_FUNCTION_H_ */
