# Example lambda functions packed as deployable bundles, as a function author
# would: ${CMAKE_BINARY_DIR}/functions/lambda-shell.zip (a bash bootstrap with
# curl, handler "function.handler") and lambda-python.tar.gz (a python3
# bootstrap, handler "function.handler"). Target: sluice_lambda_bundles.
# Included from functions/CMakeLists.txt.

set(_sluice_lambda_src ${CMAKE_CURRENT_LIST_DIR})
set(_sluice_lambda_out ${CMAKE_BINARY_DIR}/functions)
set(_sluice_lambda_stage ${CMAKE_BINARY_DIR}/functions/lambda-stage)
set(_sluice_lambda_exec_mode
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(_sluice_lambda_file_mode OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# _sluice_lambda_stage(EXAMPLE FILES...) copies an example's files to a
# staging directory with the modes the bundle must carry (bootstrap
# executable), whatever the modes of the checkout are, and returns the staged
# paths in ${EXAMPLE}_STAGED.
function(_sluice_lambda_stage example)
  set(staged)
  foreach(file IN LISTS ARGN)
    if(file STREQUAL "bootstrap")
      set(mode ${_sluice_lambda_exec_mode})
    else()
      set(mode ${_sluice_lambda_file_mode})
    endif()
    configure_file(${_sluice_lambda_src}/${example}/${file}
      ${_sluice_lambda_stage}/${example}/${file} COPYONLY FILE_PERMISSIONS ${mode})
    list(APPEND staged ${_sluice_lambda_stage}/${example}/${file})
  endforeach()
  set(${example}_STAGED ${staged} PARENT_SCOPE)
endfunction()

_sluice_lambda_stage(lambda-shell bootstrap function.sh)
_sluice_lambda_stage(lambda-python bootstrap function.py)

add_custom_command(
  OUTPUT ${_sluice_lambda_out}/lambda-shell.zip
  COMMAND ${CMAKE_COMMAND} -E tar cf ${_sluice_lambda_out}/lambda-shell.zip --format=zip
    bootstrap function.sh
  WORKING_DIRECTORY ${_sluice_lambda_stage}/lambda-shell
  DEPENDS ${lambda-shell_STAGED}
  COMMENT "Packing the lambda-shell example bundle"
  VERBATIM)
add_custom_command(
  OUTPUT ${_sluice_lambda_out}/lambda-python.tar.gz
  COMMAND ${CMAKE_COMMAND} -E tar czf ${_sluice_lambda_out}/lambda-python.tar.gz
    --format=gnutar bootstrap function.py
  WORKING_DIRECTORY ${_sluice_lambda_stage}/lambda-python
  DEPENDS ${lambda-python_STAGED}
  COMMENT "Packing the lambda-python example bundle"
  VERBATIM)
add_custom_target(sluice_lambda_bundles ALL
  DEPENDS ${_sluice_lambda_out}/lambda-shell.zip ${_sluice_lambda_out}/lambda-python.tar.gz)
