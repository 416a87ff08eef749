# Shared glue of the four stage programs (common.c) and conductor-config itself.
# conductor-prepare/-run/-cleanup (executor/stages.cmake) link cd_executor_common too.
add_library(cd_executor_common STATIC ${CMAKE_CURRENT_SOURCE_DIR}/common.c)
target_include_directories(cd_executor_common PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}
                                                     ${CMAKE_SOURCE_DIR}/lib)
target_link_libraries(cd_executor_common PUBLIC cd_util)

add_executable(conductor-config ${CMAKE_CURRENT_SOURCE_DIR}/config.c)
target_link_libraries(conductor-config PRIVATE cd_executor_common cd_job cd_config cd_util
                                               PkgConfig::JANSSON)
install(TARGETS conductor-config RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
