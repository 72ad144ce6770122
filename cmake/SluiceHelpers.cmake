# sluice_test(NAME SOURCE LIBS...) builds one gtest binary from one *_test.cc
# and registers it with CTest. Tests find the built binaries through the
# SLUICE_BINARY_DIR environment variable.
function(sluice_test name source)
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE ${ARGN} GTest::gtest GTest::gmock GTest::gtest_main)
  # GCC 12 at -O2 and above reports a false -Wrestrict inside gtest's value
  # printers (std::string operator+ inlined; GCC bug 105329).
  target_compile_options(${name} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "SLUICE_BINARY_DIR=${CMAKE_BINARY_DIR};SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    TIMEOUT 600)
endfunction()
