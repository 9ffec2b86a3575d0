# `rotary inspect` on Gemma 3 4B (TOOL, CONFIG): the per-layer plan shows both layer groups, the
# sliding layers' local theta and the full-attention layers' linear scaling, each with its table.
execute_process(COMMAND ${TOOL} inspect ${CONFIG} RESULT_VARIABLE rc OUTPUT_VARIABLE text)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "inspect failed (${rc}):\n${text}")
endif()
foreach(expected
    "layers            34, 2 RoPEs"
    "  layers 0–4, 6–10, 12–16, 18–22, 24–28, 30–33: sliding_attention, RoPE 0: default, theta 10000\n"
    "  layers 5, 11, 17, 23, 29: full_attention, RoPE 1: linear ×8, theta 1e+06\n"
    "== RoPE 0: default, theta 10000"
    "== RoPE 1: linear ×8, theta 1e+06")
  string(FIND "${text}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "inspect output lacks '${expected}':\n${text}")
  endif()
endforeach()
# Both RoPEs' pair tables: 128 pairs each; full attention divides by 8.
string(REGEX MATCHALL "\n  127 [^\n]*" last_rows "${text}")
list(LENGTH last_rows tables)
if(NOT tables EQUAL 2 OR NOT text MATCHES "factor +8.0")
  message(FATAL_ERROR "expected two 128-pair tables and factor 8:\n${text}")
endif()
