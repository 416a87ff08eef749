# One flag a line, with the reason.
set(CD_WARNINGS
  -Wall -Wextra                       # the baseline every C project we admire uses
  -Wshadow                            # a shadowed err/len is a classic bug in cleanup paths
  -Wstrict-prototypes                 # f() means "any args" in C17
  -Wmissing-prototypes                # non-static functions must be declared in a header
  -Wformat=2                          # printf-likes get checked, including format-security
  -Wformat-nonliteral                 # formats must be literals or carry the format attribute
  -Werror=implicit-function-declaration
  -Wno-missing-field-initializers     # {0} and designated initialisers are idiomatic
)
add_compile_options("$<$<COMPILE_LANGUAGE:C>:${CD_WARNINGS}>")
if(CD_WERROR)
  add_compile_options(-Werror)
endif()
