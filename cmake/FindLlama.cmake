# FindLlama: llama.cpp v0.5.0 as fetched by scripts/fetch-llama.sh (headers from node-llama-cpp's git
# bundle, prebuilt shared libraries from @node-llama-cpp/linux-x64). Nothing is built from source.
#
# Looks in TW_LLAMA_DIR (cache variable; default: $ENV{TW_LLAMA_DIR}, else <source>/third_party/llama).
# Defines Llama_FOUND, Llama_DIR_ROOT, and the imported targets
#   Llama::llama      libllama (its NEEDED entries pull in libggml and libggml-base)
#   Llama::ggml       libggml + libggml-base (backend registry, gguf API)
# The CPU backends (libggml-cpu-<cpu>.so) are not linked: they are loaded at run time from
# <TW_LLAMA_DIR>/lib by ggml_backend_load_all_from_path.
if(DEFINED ENV{TW_LLAMA_DIR} AND NOT "$ENV{TW_LLAMA_DIR}" STREQUAL "")
  set(_tw_llama_default "$ENV{TW_LLAMA_DIR}")
else()
  set(_tw_llama_default "${CMAKE_SOURCE_DIR}/third_party/llama")
endif()
set(TW_LLAMA_DIR "${_tw_llama_default}" CACHE PATH "llama.cpp headers and prebuilt libraries (scripts/fetch-llama.sh)")

find_path(Llama_INCLUDE_DIR llama.h PATHS "${TW_LLAMA_DIR}/include" NO_DEFAULT_PATH)
find_library(Llama_LIBRARY NAMES llama.v0.5.0 llama PATHS "${TW_LLAMA_DIR}/lib" NO_DEFAULT_PATH)
find_library(Llama_GGML_LIBRARY NAMES ggml.v0.5.0 ggml PATHS "${TW_LLAMA_DIR}/lib" NO_DEFAULT_PATH)
find_library(Llama_GGML_BASE_LIBRARY NAMES ggml-base PATHS "${TW_LLAMA_DIR}/lib" NO_DEFAULT_PATH)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Llama
  REQUIRED_VARS Llama_LIBRARY Llama_GGML_LIBRARY Llama_GGML_BASE_LIBRARY Llama_INCLUDE_DIR)

if(Llama_FOUND AND NOT TARGET Llama::llama)
  set(Llama_DIR_ROOT "${TW_LLAMA_DIR}")
  add_library(Llama::ggml_base SHARED IMPORTED)
  set_target_properties(Llama::ggml_base PROPERTIES IMPORTED_LOCATION "${Llama_GGML_BASE_LIBRARY}")
  add_library(Llama::ggml SHARED IMPORTED)
  set_target_properties(Llama::ggml PROPERTIES
    IMPORTED_LOCATION "${Llama_GGML_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Llama_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Llama::ggml_base)
  add_library(Llama::llama SHARED IMPORTED)
  set_target_properties(Llama::llama PROPERTIES
    IMPORTED_LOCATION "${Llama_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Llama_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Llama::ggml)
endif()
mark_as_advanced(Llama_INCLUDE_DIR Llama_LIBRARY Llama_GGML_LIBRARY Llama_GGML_BASE_LIBRARY)
