# tensorpar_native_avx512_flags(<var>): the flags that follow -march=native so that the build
# uses AVX-512 where the machine has it and the compiler gets it right. The configure step
# compiles tools/repro/gcc12_avx512_vector_constant.cpp at -O2 and -O3 and runs it:
#   correct with -march=native alone          -> <var> is empty (AVX-512 on, no workaround);
#   correct with the workaround flags added   -> <var> holds them (GCC 12: AVX-512 on, inline
#                                                copies of constant data in 16-byte pieces);
#   wrong even with the workaround            -> <var> is -mno-avx512f (AVX-512 off), warning.
# The flags go to every target through tensorpar_options: one flag set for the whole project,
# since Eigen's alignment and fixed-size packet types differ between AVX2 and AVX-512 code.
# The verdict is cached per compiler and reproducer; `cmake -U TENSORPAR_AVX512_VERDICT` re-checks.
set(TENSORPAR_AVX512_WORKAROUND -mmove-max=128 -mstore-max=128)

function(_tensorpar_repro_correct out)
  set(repro ${PROJECT_SOURCE_DIR}/tools/repro/gcc12_avx512_vector_constant.cpp)
  foreach(level -O2 -O3)
    try_run(run_result compile_result
            SOURCES ${repro}
            COMPILE_DEFINITIONS ${level} -march=native ${ARGN}
            CXX_STANDARD 20
            COMPILE_OUTPUT_VARIABLE compile_output
            RUN_OUTPUT_VARIABLE run_output)
    if(NOT compile_result OR NOT run_result EQUAL 0)
      string(STRIP "${run_output}" run_output)
      string(REPLACE "\n" "; " run_output "${run_output}")
      if(NOT compile_result)
        set(run_output "does not compile")
      endif()
      set(${out} FALSE PARENT_SCOPE)
      string(JOIN " " flags ${level} -march=native ${ARGN})
      set(${out}_WHY "${flags}: ${run_output}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} TRUE PARENT_SCOPE)
endfunction()

function(tensorpar_native_avx512_flags out)
  file(SHA256 ${PROJECT_SOURCE_DIR}/tools/repro/gcc12_avx512_vector_constant.cpp repro_hash)
  set(key "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
  string(APPEND key " ${TENSORPAR_AVX512_WORKAROUND} ${repro_hash}")
  if(NOT DEFINED TENSORPAR_AVX512_VERDICT OR NOT TENSORPAR_AVX512_VERDICT_KEY STREQUAL key)
    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS -march=native)
    set(CMAKE_REQUIRED_QUIET ON)
    unset(TENSORPAR_NATIVE_HAS_AVX512 CACHE)
    check_cxx_source_compiles("#ifndef __AVX512F__\n#error no AVX-512\n#endif\nint main() {}"
                              TENSORPAR_NATIVE_HAS_AVX512)
    if(NOT TENSORPAR_NATIVE_HAS_AVX512)
      set(verdict "none")
    else()
      _tensorpar_repro_correct(plain)
      if(plain)
        set(verdict "plain")
      else()
        _tensorpar_repro_correct(workaround ${TENSORPAR_AVX512_WORKAROUND})
        if(workaround)
          set(verdict "workaround")
        else()
          set(verdict "off")
          set(TENSORPAR_AVX512_WHY "${workaround_WHY}" CACHE INTERNAL "")
        endif()
      endif()
    endif()
    # none, plain, workaround or off (see the messages below).
    set(TENSORPAR_AVX512_VERDICT ${verdict} CACHE INTERNAL "")
    set(TENSORPAR_AVX512_VERDICT_KEY "${key}" CACHE INTERNAL "")
  endif()

  string(JOIN " " workaround_flags ${TENSORPAR_AVX512_WORKAROUND})
  if(TENSORPAR_AVX512_VERDICT STREQUAL "none")
    message(STATUS "AVX-512: not in -march=native on this machine")
    set(${out} "" PARENT_SCOPE)
  elseif(TENSORPAR_AVX512_VERDICT STREQUAL "plain")
    message(STATUS "AVX-512: on (tools/repro/gcc12_avx512_vector_constant.cpp is correct as is)")
    set(${out} "" PARENT_SCOPE)
  elseif(TENSORPAR_AVX512_VERDICT STREQUAL "workaround")
    message(STATUS "AVX-512: on with ${workaround_flags} (this compiler miscompiles "
                   "tools/repro/gcc12_avx512_vector_constant.cpp without them)")
    set(${out} ${TENSORPAR_AVX512_WORKAROUND} PARENT_SCOPE)
  else()
    message(WARNING "AVX-512: off (-mno-avx512f). This compiler miscompiles "
                    "tools/repro/gcc12_avx512_vector_constant.cpp with -march=native, and "
                    "${workaround_flags} does not fix it: ${TENSORPAR_AVX512_WHY}")
    set(${out} -mno-avx512f PARENT_SCOPE)
  endif()
endfunction()
