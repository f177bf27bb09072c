# Fails when a folder includes a header from a folder it must not depend on (see the design guide):
# core includes none of sim/, gloo/, cuda/, styles/; styles none of sim/, gloo/, cuda/; sim and gloo
# none of the other backends nor styles/. (Gloo's own headers are included with <>, so a quoted
# "gloo/" is always this project's folder.)
set(rules "core:sim/|gloo/|cuda/|styles/" "styles:sim/|gloo/|cuda/" "sim:gloo/|cuda/|styles/"
          "gloo:sim/|cuda/|styles/")
set(violations "")
foreach(rule ${rules})
  string(REPLACE ":" ";" parts "${rule}")
  list(GET parts 0 folder)
  list(GET parts 1 forbidden)
  file(GLOB_RECURSE files ${ROOT}/${folder}/*.h ${ROOT}/${folder}/*.cpp ${ROOT}/${folder}/*.cu ${ROOT}/${folder}/*.cuh)
  foreach(f ${files})
    file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"(${forbidden})")
    if(lines)
      string(APPEND violations "${f}: ${lines}\n")
    endif()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "dependency rule broken:\n${violations}")
endif()
message(STATUS "dependency rule holds")
