# sluice_triggers: events, triggers and schedules — what turns published
# events and cron times into invocations — and the delivery of finished
# invocations' records to topics and gRPC callbacks. Included from
# runtime/CMakeLists.txt.
add_library(sluice_triggers STATIC
  ${CMAKE_CURRENT_LIST_DIR}/events.cc
  ${CMAKE_CURRENT_LIST_DIR}/event_publisher.cc
  ${CMAKE_CURRENT_LIST_DIR}/triggers.cc
  ${CMAKE_CURRENT_LIST_DIR}/scheduler.cc
  ${CMAKE_CURRENT_LIST_DIR}/callback_deliverer.cc)
target_include_directories(sluice_triggers PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sluice_triggers PUBLIC
  sluice_runtime sluice_cron sluice_store sluice_proto sluice_monitoring
  absl::status absl::statusor absl::strings absl::synchronization absl::time
  absl::flat_hash_map absl::flat_hash_set absl::random_random gRPC::grpc++)
