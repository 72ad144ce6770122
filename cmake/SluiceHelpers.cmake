# sluice_test(NAME SOURCE LIBS...) builds one gtest binary from one *_test.cc
# and registers it with CTest. Tests find the built binaries through the
# SLUICE_BINARY_DIR environment variable.
function(sluice_test name source)
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE ${ARGN} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "SLUICE_BINARY_DIR=${CMAKE_BINARY_DIR};SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    TIMEOUT 600)
endfunction()

# sluice_serving_allocator(TARGET) links TARGET, a serving process (the
# sluice binary, the benchmarks' bare server and load generator), with
# tcmalloc from gperftools, the allocator gRPC recommends for servers: glibc
# malloc spends a fifth of a busy server's time on the many small, short-
# lived allocations of protobuf messages and gRPC calls. Sanitizer builds
# keep the sanitizer's own allocator.
function(sluice_serving_allocator target)
  if(NOT SLUICE_SANITIZE)
    target_link_libraries(${target} PRIVATE PkgConfig::TCMALLOC)
  endif()
endfunction()
