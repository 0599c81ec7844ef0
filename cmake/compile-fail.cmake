# Run with cmake -P: proves that SOURCE compiles when SCALING_COMPILE_FAIL_CONTROL is defined
# and fails to compile without it, with a diagnostic that matches EXPECT.
# Inputs: COMPILER, SOURCE, FLAGS (include flags joined with "|"), EXPECT (a regular expression).

string(REPLACE "|" ";" flags "${FLAGS}")
set(command "${COMPILER}" -std=c++20 -fsyntax-only ${flags} "${SOURCE}")

execute_process(COMMAND ${command} -DSCALING_COMPILE_FAIL_CONTROL RESULT_VARIABLE control_rc
                OUTPUT_VARIABLE control_out ERROR_VARIABLE control_err)
if(NOT control_rc EQUAL 0)
  message(FATAL_ERROR "the control build of ${SOURCE} must compile but failed:\n${control_err}")
endif()

execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but the misuse it contains must be rejected")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "${SOURCE} failed to compile, but the diagnostic does not name "
                      "'${EXPECT}':\n${err}")
endif()
message(STATUS "${SOURCE}: rejected with a diagnostic naming '${EXPECT}'")
