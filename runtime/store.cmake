# sluice_store: the Store interface and its implementations, group commit,
# and the artifact store. Included from runtime/CMakeLists.txt.
add_library(sluice_store STATIC
  ${CMAKE_CURRENT_LIST_DIR}/store.cc
  ${CMAKE_CURRENT_LIST_DIR}/memory_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/rocksdb_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/group_committer.cc
  ${CMAKE_CURRENT_LIST_DIR}/retention.cc
  ${CMAKE_CURRENT_LIST_DIR}/artifact_store.cc)
target_include_directories(sluice_store PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sluice_store
  PUBLIC
    sluice_proto
    absl::status absl::statusor absl::synchronization absl::any_invocable absl::time
    Threads::Threads
  PRIVATE
    sluice_monitoring RocksDB::rocksdb OpenSSL::Crypto
    absl::strings absl::str_format absl::cord absl::flat_hash_set)
