if(CD_SANITIZE)
  # ASan + UBSan, stop at the first report so a test cannot pass over one.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  set(CD_STATIC_NLU OFF CACHE BOOL "" FORCE)   # sanitizer runtimes do not link fully static
endif()
