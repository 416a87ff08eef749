# conductor-nlu: mounted read-only into every job container, so it links fully static
# (see ../shared/docs/build-notes.md) unless sanitizers are on.
file(GLOB _nlu_cmds CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/nlu-*.c)
add_executable(conductor-nlu ${CMAKE_CURRENT_SOURCE_DIR}/conductor-nlu.c ${_nlu_cmds})
target_include_directories(conductor-nlu PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
if(TARGET cd_nlu)
  target_link_libraries(conductor-nlu PRIVATE cd_nlu cd_util)
endif()
if(CD_STATIC_NLU)
  # Debian's static libxml2 (pulled in by libarchive) needs lzma, zlib and ICU; LIBLINEAR is
  # C++ and calls BLAS. The group lets the linker resolve the order (build-notes.md).
  target_link_options(conductor-nlu PRIVATE -static)
  target_link_libraries(conductor-nlu PRIVATE -Wl,--start-group
    -larchive -lnettle -lacl -llzma -lzstd -llz4 -lbz2 -lz -lxml2 -licuuc -licudata
    -lyaml -ljansson -lstemmer -llinear -lblas -lgfortran -lquadmath -lstdc++ -lm -Wl,--end-group)
endif()
install(TARGETS conductor-nlu RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
