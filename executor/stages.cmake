# The stage programs conductor-prepare, conductor-run, conductor-cleanup (config_exec is
# executor/config.cmake), and conductor-agent, the static PID 1 of every job container.

# The agent runs inside arbitrary images: static, libc only, never instrumented (sanitizer
# runtimes do not link statically and would not exist in the container anyway).
add_executable(conductor-agent ${CMAKE_CURRENT_SOURCE_DIR}/agent/agent.c)
target_include_directories(conductor-agent PRIVATE ${CMAKE_SOURCE_DIR}/lib)
target_compile_options(conductor-agent PRIVATE -fno-sanitize=all)
target_link_options(conductor-agent PRIVATE -static -fno-sanitize=all)
install(TARGETS conductor-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Stage programs: thin entry points over lib/driver, sharing executor/common.c
# (cd_executor_common, defined in stages-common.cmake).
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/stages-common.cmake)
  foreach(_stage prepare run cleanup)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_stage}.c)
      continue()
    endif()
    add_executable(conductor-${_stage} ${CMAKE_CURRENT_SOURCE_DIR}/${_stage}.c)
    target_link_libraries(conductor-${_stage} PRIVATE cd_driver cd_executor_common)
    add_dependencies(conductor-${_stage} conductor-agent)
    install(TARGETS conductor-${_stage} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endforeach()
  if(TARGET conductor-run)
    # conductor-run is the light build: agent only, no libcurl (see the top of run.c); the
    # full build conductor-run-engine takes over for engine execs and publishing.
    target_compile_definitions(conductor-run PRIVATE CD_RUN_LIGHT=1)
    target_link_options(conductor-run PRIVATE -Wl,--as-needed)
    add_executable(conductor-run-engine ${CMAKE_CURRENT_SOURCE_DIR}/run.c)
    target_link_libraries(conductor-run-engine PRIVATE cd_driver cd_executor_common)
    add_dependencies(conductor-run conductor-run-engine)
    install(TARGETS conductor-run-engine RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
  # The publishing step (issue 4) is linked once lib/publish implements cd_publish_job.
  file(GLOB _cd_pub_src ${CMAKE_SOURCE_DIR}/lib/publish/*.c)
  set(_cd_has_publish_job FALSE)
  foreach(_f IN LISTS _cd_pub_src)
    file(STRINGS ${_f} _m REGEX "^int cd_publish_job\\(")
    if(_m)
      set(_cd_has_publish_job TRUE)
    endif()
  endforeach()
  if(_cd_has_publish_job AND TARGET conductor-run-engine)
    target_link_libraries(conductor-run-engine PRIVATE cd_publish)
    target_compile_definitions(conductor-run-engine PRIVATE CD_HAVE_PUBLISH=1)
  endif()
endif()

# `conductor gc` and `conductor doctor` (executor/cmd-gc.c, cmd-doctor.c) need the driver.
target_link_libraries(conductor PRIVATE cd_driver)
add_dependencies(conductor conductor-agent)
