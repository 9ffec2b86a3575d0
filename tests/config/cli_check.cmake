# The `rotary` tool's command line (TOOL, DATA = tests/data, OUT = scratch prefix): --help and
# --version, bad flags, model directories, bad configs named by key, line-buffered output.
function(run_tool)
  execute_process(COMMAND ${TOOL} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(rc ${rc} PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()
function(expect cond what)
  cmake_language(EVAL CODE "
    if(NOT (${cond}))
      message(FATAL_ERROR \"\${what}\\nrc=\${rc}\\nstdout:\\n\${out}\\nstderr:\\n\${err}\")
    endif()")
endfunction()

run_tool(--help)
string(FIND "${out}" "inspect" at)
expect("rc EQUAL 0 AND at GREATER -1" "--help must list the subcommands and exit 0")
run_tool(inspect --help)
string(FIND "${out}" "--seq-len" at)
expect("rc EQUAL 0 AND at GREATER -1" "inspect --help must list its options and exit 0")
run_tool(--version)
expect("rc EQUAL 0 AND out MATCHES \"^rotary [0-9]+\\\\.[0-9]+\\\\.[0-9]+\"" "--version")

run_tool(--bogus)
expect("NOT rc EQUAL 0" "an unknown flag must exit non-zero")
run_tool(inspect ${DATA}/configs/mistral_7b.json --bogus)
expect("NOT rc EQUAL 0 AND err MATCHES \"--bogus\"" "an unknown inspect flag must exit non-zero")
run_tool(inspect ${DATA}/configs/mistral_7b.json --seq-len -3)
expect("NOT rc EQUAL 0" "a negative --seq-len must exit non-zero")
run_tool()
expect("NOT rc EQUAL 0" "no subcommand must exit non-zero")

# A model directory holding config.json is accepted; one without is a clear error.
file(MAKE_DIRECTORY ${OUT}_model)
file(COPY_FILE ${DATA}/configs/mistral_7b.json ${OUT}_model/config.json)
run_tool(inspect ${OUT}_model)
expect("rc EQUAL 0 AND out MATCHES \"method +default\"" "inspect on a model directory")
run_tool(inspect ${DATA}/bad/model_dir_without_config)
expect("NOT rc EQUAL 0 AND err MATCHES \"directory without a config.json\" AND NOT err MATCHES \"underflow\""
       "inspect on a directory without config.json")

# Bad values: the error names the key.
run_tool(inspect ${DATA}/bad/nan_theta.json)
expect("NOT rc EQUAL 0 AND err MATCHES \"'rope_theta' must be a finite number but is NaN\"" "NaN rope_theta")
run_tool(inspect ${DATA}/bad/huge_head_dim.json)
expect("NOT rc EQUAL 0 AND err MATCHES \"'head_dim' must be in\"" "head_dim 2**40")

# --plot: SVG only, refused before anything is printed; the written path is reported.
run_tool(inspect ${DATA}/configs/mistral_7b.json --plot ${OUT}.png)
expect("NOT rc EQUAL 0 AND err MATCHES \"SVG only\" AND out STREQUAL \"\" AND NOT EXISTS ${OUT}.png"
       "--plot x.png must be refused with nothing written")
run_tool(inspect ${DATA}/configs/mistral_7b.json --plot ${OUT}.svg)
expect("rc EQUAL 0 AND err MATCHES \"wrote .*\\\\.svg\" AND EXISTS ${OUT}.svg" "--plot x.svg")

# Piped output is flushed line by line: the (short) report reaches the pipe before the later
# error (fully buffered stdout would arrive after it, at exit).
file(WRITE ${OUT}_tiny.json "{\"hidden_size\": 16, \"num_attention_heads\": 2, \"rope_theta\": 10000.0}")
execute_process(COMMAND sh -c "\"${TOOL}\" inspect \"${OUT}_tiny.json\" --plot /nonexistent-dir/x.svg 2>&1 | cat"
                OUTPUT_VARIABLE out)
string(FIND "${out}" "method" report_at)
string(FIND "${out}" "cannot write" error_at)
set(rc 0)
set(err "")
expect("report_at GREATER -1 AND error_at GREATER report_at" "piped stdout must come line by line")

# --plot marks Llama 3's band edges and titles LongRoPE plots with the factor set in use.
run_tool(inspect ${DATA}/configs/llama3_1_8b.json --plot ${OUT}_llama3.svg)
file(READ ${OUT}_llama3.svg svg)
expect("rc EQUAL 0 AND svg MATCHES \"band start 2048\" AND svg MATCHES \"band end 8192\"" "Llama 3 band edges")
run_tool(inspect ${DATA}/configs/phi3_mini_128k.json --seq-len 5000 --plot ${OUT}_phi3_long.svg)
file(READ ${OUT}_phi3_long.svg svg)
expect("rc EQUAL 0 AND svg MATCHES \"longrope RoPE[^<]*long_factor\"" "LongRoPE title, long factors")
run_tool(inspect ${DATA}/configs/phi3_mini_128k.json --seq-len 100 --plot ${OUT}_phi3_short.svg)
file(READ ${OUT}_phi3_short.svg svg)
expect("rc EQUAL 0 AND svg MATCHES \"longrope RoPE[^<]*short_factor\"" "LongRoPE title, short factors")
