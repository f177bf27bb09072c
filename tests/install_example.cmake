# The installed package as a user meets it: installs the build BUILD into a fresh prefix under
# WORK, configures and builds examples/mlp against it (find_package(tensorpar CONFIG)), and runs
# it under the installed `tensorpar run --nproc-per-node 2`.
#   cmake -DBUILD=<build dir> -DSOURCE=<source dir> -DWORK=<scratch dir> -P install_example.cmake
# SANITIZE (address or thread, as TENSORPAR_SANITIZE) builds the example with the sanitizer the
# installed libraries were built with: their objects need its runtime at link time.
foreach(var BUILD SOURCE WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_example.cmake needs -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
set(prefix ${WORK}/prefix)

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 300)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}${err}" PARENT_SCOPE)
endfunction()

run_step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix})
set(launcher "")
if(DEFINED LAUNCHER AND NOT LAUNCHER STREQUAL "")
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
set(sanitize_flags "")
if(SANITIZE STREQUAL "address")
  set(sanitize_flags "-fsanitize=address,undefined")
elseif(SANITIZE STREQUAL "thread")
  set(sanitize_flags "-fsanitize=thread")
endif()
run_step("configuring examples/mlp" ${CMAKE_COMMAND} -S ${SOURCE}/examples/mlp -B ${WORK}/mlp
         -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release ${launcher}
         "-DCMAKE_CXX_FLAGS=${sanitize_flags}" "-DCMAKE_EXE_LINKER_FLAGS=${sanitize_flags}")
run_step("building examples/mlp" ${CMAKE_COMMAND} --build ${WORK}/mlp)
run_step("tensorpar run -- mlp_tp" ${prefix}/bin/tensorpar run --nproc-per-node 2 --master-port 0
         -- ${WORK}/mlp/mlp_tp --steps 3)
message("${step_output}")
if(NOT step_output MATCHES "\\[rank0\\]:mlp_tp: 3 SGD steps on 2 gloo processes: matches the single-device run")
  message(FATAL_ERROR "unexpected output of mlp_tp")
endif()
file(REMOVE_RECURSE ${WORK})
