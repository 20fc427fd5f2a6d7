# Warnings for every target of ours (third-party headers come in as system includes).
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wnon-virtual-dtor
                    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wformat=2)
if(CWB_WARNINGS_AS_ERRORS)
  add_compile_options(-Werror)
endif()

if(CWB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Let code print the version it was built as (--version, manifest).
add_compile_definitions(CWB_VERSION="${PROJECT_VERSION}")
