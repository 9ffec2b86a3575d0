# Sanitizer and fuzzing builds (each in its own build folder; .ci/run uses all three).
#   ROTARY_SANITIZE         AddressSanitizer + UndefinedBehaviorSanitizer
#   ROTARY_SANITIZE_THREAD  ThreadSanitizer
#   ROTARY_FUZZ             the libFuzzer harness tests/fuzz/rope_fuzzer (clang only), with the
#                           library built under ASan + UBSan and fuzzer coverage
option(ROTARY_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(ROTARY_SANITIZE_THREAD "Build with ThreadSanitizer" OFF)
option(ROTARY_FUZZ "Build the libFuzzer harness (clang): ASan, UBSan and fuzzer coverage" OFF)

if(ROTARY_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "ROTARY_FUZZ needs clang (libFuzzer), e.g. -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  set(ROTARY_SANITIZE ON)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(ROTARY_SANITIZE AND ROTARY_SANITIZE_THREAD)
  message(FATAL_ERROR "ThreadSanitizer cannot be combined with AddressSanitizer: use two build folders")
endif()
if(ROTARY_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
if(ROTARY_SANITIZE_THREAD)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
