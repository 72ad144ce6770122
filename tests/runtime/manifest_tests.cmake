# Tests of runtime/manifest (sluice.yaml parsing).
sluice_test(manifest_test ${CMAKE_CURRENT_LIST_DIR}/manifest_test.cc sluice_manifest)
