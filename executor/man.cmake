# Man pages from Markdown (docs/man/*.1.md) with go-md2man, installed by cmake --install.
find_program(GO_MD2MAN go-md2man)
if(GO_MD2MAN)
  file(GLOB _cd_man_md CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/*.1.md)
  set(_cd_man_out)
  foreach(_md IN LISTS _cd_man_md)
    get_filename_component(_name ${_md} NAME_WLE)   # conductor.1
    set(_out ${CMAKE_BINARY_DIR}/man/${_name})
    add_custom_command(OUTPUT ${_out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND ${GO_MD2MAN} -in ${_md} -out ${_out}
      DEPENDS ${_md} VERBATIM)
    list(APPEND _cd_man_out ${_out})
  endforeach()
  add_custom_target(man ALL DEPENDS ${_cd_man_out})
  install(FILES ${_cd_man_out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "go-md2man not found: man pages are not built (scripts/install-deps)")
endif()
