# The admin/pipeline CLI. Its subcommands live in executor/cmd-<name>.c and link whatever
# lib/ targets exist (each part appends with target_link_libraries in its own .cmake).
file(GLOB _cd_cmds CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cmd-*.c)
add_executable(conductor ${CMAKE_CURRENT_SOURCE_DIR}/conductor.c ${_cd_cmds})
target_include_directories(conductor PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(conductor PRIVATE cd_util)
install(TARGETS conductor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
