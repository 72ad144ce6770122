# sluice_cron: cron expressions in IANA time zones (CronSchedule), for
# scheduled functions. Depends only on abseil, so that anything that parses
# or evaluates schedules can link it without the rest of the runtime.
# Included from runtime/CMakeLists.txt.
add_library(sluice_cron STATIC ${CMAKE_CURRENT_LIST_DIR}/cron.cc)
target_include_directories(sluice_cron PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sluice_cron PUBLIC
  absl::status absl::statusor absl::strings absl::time)
