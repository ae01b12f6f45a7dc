# Warnings are errors, on gcc and clang alike.
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wno-unused-parameter)
add_compile_definitions(_GNU_SOURCE)
