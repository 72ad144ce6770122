# Tests of sluice_store. Included from tests/runtime/CMakeLists.txt.
sluice_test(store_conformance_test ${CMAKE_CURRENT_LIST_DIR}/store_conformance_test.cc
  sluice_store RocksDB::rocksdb)
sluice_test(group_committer_test ${CMAKE_CURRENT_LIST_DIR}/group_committer_test.cc sluice_store
  sluice_monitoring)
sluice_test(retention_test ${CMAKE_CURRENT_LIST_DIR}/retention_test.cc sluice_store
  sluice_monitoring)
sluice_test(artifact_store_test ${CMAKE_CURRENT_LIST_DIR}/artifact_store_test.cc sluice_store)
