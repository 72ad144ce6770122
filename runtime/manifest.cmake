# sluice_manifest: parsing of sluice.yaml manifests into FunctionSpecs.
# Shared by `sluice serve -f` and `sluice deploy -f`; it checks the manifest's
# own syntax and leaves spec semantics to NormalizeFunctionSpec, so it does not
# depend on sluice_runtime.
add_library(sluice_manifest STATIC ${CMAKE_CURRENT_LIST_DIR}/manifest.cc)
target_include_directories(sluice_manifest PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sluice_manifest PUBLIC
  sluice_proto yaml-cpp
  absl::status absl::statusor absl::strings absl::time)
