# `rotary inspect` on every config under tests/data/configs: the text report, --json (parsed and
# checked for its keys) and --plot (an SVG is written). See tests/config/inspect_check.cmake.
if(TARGET rotary_cli)
  file(GLOB ROTARY_INSPECT_CONFIGS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/data/configs/*.json
       ${CMAKE_CURRENT_SOURCE_DIR}/data/models/*.json)
  foreach(config ${ROTARY_INSPECT_CONFIGS})
    get_filename_component(name ${config} NAME_WE)
    add_test(NAME inspect.${name}
      COMMAND ${CMAKE_COMMAND} -DTOOL=$<TARGET_FILE:rotary_cli> -DCONFIG=${config}
              -DOUT=${CMAKE_CURRENT_BINARY_DIR}/inspect_${name}
              -P ${CMAKE_CURRENT_SOURCE_DIR}/config/inspect_check.cmake)
  endforeach()
  # A missing file is an error with a non-zero exit status.
  add_test(NAME inspect.missing_file COMMAND rotary_cli inspect ${CMAKE_CURRENT_BINARY_DIR}/none.json)
  set_tests_properties(inspect.missing_file PROPERTIES WILL_FAIL TRUE)
endif()
if(TARGET rotary_cli)
  add_test(NAME cli.command_line
    COMMAND ${CMAKE_COMMAND} -DTOOL=$<TARGET_FILE:rotary_cli> -DDATA=${CMAKE_CURRENT_SOURCE_DIR}/data
            -DOUT=${CMAKE_CURRENT_BINARY_DIR}/cli_check -P ${CMAKE_CURRENT_SOURCE_DIR}/config/cli_check.cmake)
endif()
if(TARGET rotary_cli)
  add_test(NAME inspect.gemma3_layer_groups
    COMMAND ${CMAKE_COMMAND} -DTOOL=$<TARGET_FILE:rotary_cli>
            -DCONFIG=${CMAKE_CURRENT_SOURCE_DIR}/data/models/gemma3_4b.json
            -P ${CMAKE_CURRENT_SOURCE_DIR}/config/inspect_layers_check.cmake)
endif()
