# Tests of runtime/cron (CronSchedule). Included from tests/runtime/CMakeLists.txt.
sluice_test(cron_test ${CMAKE_CURRENT_LIST_DIR}/cron_test.cc sluice_cron)
