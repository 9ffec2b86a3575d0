# Installs the built project into a scratch prefix, then checks that what a user runs works there
# with no ldconfig and no LD_LIBRARY_PATH (issue 11 item 12):
# - the installed `rotary` tool answers --help and inspects a config;
# - the installed binaries resolve the prefix's own librotary.so (ldd), also after the whole
#   prefix is moved elsewhere (the RUNPATH is $ORIGIN-relative, not the build or install path);
# - examples/consumer builds against the package with find_package(rotary), runs from its build
#   tree, and runs once installed into the same prefix.
# Arguments: PROJECT_BINARY, CONSUMER_SOURCE, CONFIG (a model config.json), WORK, LIBDIR and
# BINDIR_TO_LIBDIR (the install layout: `lib` and `../lib` by default).
file(REMOVE_RECURSE ${WORK})
function(run)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${ARGV}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Fails unless `binary` loads librotary.so from `prefix`/LIBDIR (resolved through its RUNPATH).
function(expect_own_library binary prefix)
  run(ldd ${binary})
  if(NOT run_output MATCHES "librotary\\.so => ([^ \n]+)")
    message(FATAL_ERROR "${binary} does not resolve librotary.so:\n${run_output}")
  endif()
  file(REAL_PATH ${CMAKE_MATCH_1} resolved)
  file(REAL_PATH ${prefix}/${LIBDIR}/librotary.so own)
  if(NOT resolved STREQUAL own)
    message(FATAL_ERROR "${binary} loads ${resolved}, not its prefix's ${own}")
  endif()
  message(STATUS "${binary} -> ${resolved}")
endfunction()

# The installed tool: RUNPATH exactly $ORIGIN/BINDIR_TO_LIBDIR, runs, and loads its own library.
function(check_tool prefix)
  run(readelf -d ${prefix}/bin/rotary)
  string(REGEX MATCH "\\(RUNPATH\\)[^\n]*\\[([^]\n]*)\\]" found "${run_output}")
  if(NOT CMAKE_MATCH_1 STREQUAL "$ORIGIN/${BINDIR_TO_LIBDIR}")
    message(FATAL_ERROR "installed rotary's RUNPATH is [${CMAKE_MATCH_1}], not [$ORIGIN/${BINDIR_TO_LIBDIR}]")
  endif()
  run(${prefix}/bin/rotary --help)
  if(NOT run_output MATCHES "inspect")
    message(FATAL_ERROR "rotary --help does not list `inspect`:\n${run_output}")
  endif()
  run(${prefix}/bin/rotary inspect ${CONFIG})
  if(NOT run_output MATCHES "rotated_dims")
    message(FATAL_ERROR "rotary inspect ${CONFIG} printed no report:\n${run_output}")
  endif()
  expect_own_library(${prefix}/bin/rotary ${prefix})
endfunction()

set(prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} --install ${PROJECT_BINARY} --prefix ${prefix} --component Unspecified)
check_tool(${prefix})

run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${WORK}/build -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_INSTALL_PREFIX=${prefix})
run(${CMAKE_COMMAND} --build ${WORK}/build)
run(${WORK}/build/kv_cache_decode)
expect_own_library(${WORK}/build/kv_cache_decode ${prefix})
run(${CMAKE_COMMAND} --install ${WORK}/build)
run(${prefix}/bin/kv_cache_decode)
expect_own_library(${prefix}/bin/kv_cache_decode ${prefix})

# Any prefix: the same tree moved elsewhere still loads its own library.
file(RENAME ${prefix} ${WORK}/moved)
check_tool(${WORK}/moved)
run(${WORK}/moved/bin/kv_cache_decode)
expect_own_library(${WORK}/moved/bin/kv_cache_decode ${WORK}/moved)
