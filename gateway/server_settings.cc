#include "gateway/server_settings.h"

#include <algorithm>

#include "absl/synchronization/mutex.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace sluice {

void ApplyServerSettings(grpc::ServerBuilder& builder, size_t max_payload_bytes) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::max(max_payload_bytes, kMaxDeployChunk) + 1024 * 1024));
}

void ApplyProcessSettings() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

}  // namespace sluice
