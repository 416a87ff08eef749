# conductor publish (executor/cmd-publish.c) needs the publishing libraries.
target_link_libraries(conductor PRIVATE cd_publish cd_gitlab)
