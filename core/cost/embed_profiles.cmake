# Writes a C++ source holding the text of every hardware profile in PROFILE_DIR (*.json) as
# tensorpar::cost::detail::kBuiltinProfiles, named by file stem (core/cost/builtin_profiles.h):
#
#   cmake -DPROFILE_DIR=core/cost/profiles -DOUTPUT=build/builtin_profiles.cpp -P embed_profiles.cmake
cmake_minimum_required(VERSION 3.25)
file(GLOB profiles ${PROFILE_DIR}/*.json)
list(SORT profiles)
if(NOT profiles)
  message(FATAL_ERROR "no hardware profiles (*.json) in ${PROFILE_DIR}")
endif()
set(entries "")
foreach(profile ${profiles})
  get_filename_component(name ${profile} NAME_WE)
  file(READ ${profile} text)
  string(FIND "${text}" ")profile\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${profile} contains the raw-string delimiter )profile\"")
  endif()
  string(APPEND entries "    {\"${name}\", R\"profile(${text})profile\"},\n")
endforeach()
set(source "// Generated from ${PROFILE_DIR}/*.json by core/cost/embed_profiles.cmake: edit those.
#include \"core/cost/builtin_profiles.h\"

namespace tensorpar::cost::detail {

const BuiltinProfile kBuiltinProfiles[] = {
${entries}};
const std::size_t kBuiltinProfileCount = sizeof kBuiltinProfiles / sizeof kBuiltinProfiles[0];

}  // namespace tensorpar::cost::detail
")
# Rewrite only on change, so that an unchanged profile set recompiles nothing.
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} previous)
endif()
if(NOT "${previous}" STREQUAL "${source}")
  file(WRITE ${OUTPUT} "${source}")
endif()
