# tw_add_fuzzer(NAME name SOURCES a.cc b.cc ... [LINK -lcrypto ...] [MAX_LEN bytes] [SECONDS s] [SEEDS dir])
#
# A libFuzzer target, built with clang beside the main build (which may be gcc) and with its own
# ASan and UBSan, and a bounded ctest run of it (label `fuzz`), starting from the valid examples in
# SEEDS if given (read only: what the run discovers goes to a corpus folder in the build tree). Every parser of
# bytes from outside the process has one. Skipped in sanitizer builds (the fuzzer is one already)
# and where clang is missing (scripts/install-deps.sh installs it).
find_program(TW_CLANGXX NAMES clang++ clang++-14)

function(tw_add_fuzzer)
  cmake_parse_arguments(F "" "NAME;MAX_LEN;SECONDS;SEEDS" "SOURCES;LINK" ${ARGN})
  if(NOT TW_BUILD_TESTS OR NOT TW_CLANGXX OR TW_SANITIZE)
    return()
  endif()
  if(NOT F_MAX_LEN)
    set(F_MAX_LEN 4096)
  endif()
  if(NOT F_SECONDS)
    set(F_SECONDS 30)
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/tw_${F_NAME})
  add_custom_command(OUTPUT ${out}
    COMMAND ${TW_CLANGXX} -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I${CMAKE_SOURCE_DIR}/include -I${CMAKE_SOURCE_DIR}/src ${F_SOURCES} ${F_LINK} -o ${out}
    DEPENDS ${F_SOURCES}
    COMMENT "Building the ${F_NAME} fuzzer with clang (libFuzzer)"
    VERBATIM)
  add_custom_target(${F_NAME} ALL DEPENDS ${out})
  set(corpus)
  if(F_SEEDS)
    set(corpus ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME}_corpus ${F_SEEDS})
    file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME}_corpus)
  endif()
  add_test(NAME ${F_NAME} COMMAND ${out} -runs=2000000 -max_total_time=${F_SECONDS} -max_len=${F_MAX_LEN} -rss_limit_mb=1024
           -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/${F_NAME}- ${corpus})
  set_tests_properties(${F_NAME} PROPERTIES LABELS "unit;no_asan;fuzz" TIMEOUT 180)
endfunction()
