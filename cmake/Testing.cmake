# cd_add_test(NAME <unit/...> COMMAND <cmd...> LABELS <labels> [TIMEOUT s])
# Every test skips with 77 (SKIP_RETURN_CODE); CD_TEST_MUST_WORK=1 turns skips into failures
# inside the tests themselves.
function(cd_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT;WORKING_DIRECTORY" "COMMAND;LABELS;ENVIRONMENT" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT T_WORKING_DIRECTORY)
    set(T_WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND} WORKING_DIRECTORY ${T_WORKING_DIRECTORY})
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "CD_SOURCE_DIR=${CMAKE_SOURCE_DIR};CD_BINARY_DIR=${CMAKE_BINARY_DIR};CD_SHARED_DIR=${CD_SHARED_DIR};${T_ENVIRONMENT}")
endfunction()

# cd_add_unit(<module> LIBS <targets...>): tests/unit/test_<module>.c → ctest unit/<module>
function(cd_add_unit module)
  cmake_parse_arguments(U "" "" "LIBS;SOURCES" ${ARGN})
  add_executable(test_${module} ${CMAKE_CURRENT_SOURCE_DIR}/test_${module}.c ${U_SOURCES})
  target_link_libraries(test_${module} PRIVATE ${U_LIBS})
  cd_add_test(NAME unit/${module} COMMAND test_${module} LABELS unit)
endfunction()

# The shared data sets live beside the checkout: ../shared/data (never copied into the repo).
if(NOT CD_SHARED_DIR)
  get_filename_component(CD_SHARED_DIR ${CMAKE_SOURCE_DIR}/../shared ABSOLUTE)
endif()
