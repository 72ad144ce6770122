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
