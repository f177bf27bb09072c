# FindNCCL: NVIDIA's collective communication library, header nccl.h and library libnccl.
#
# Looks in, first to last: NCCL_ROOT (a CMake or environment variable: the prefix holding
# include/ and lib/), the CUDA toolkit's folders (CUDAToolkit_INCLUDE_DIRS and
# CUDAToolkit_LIBRARY_DIR when find_package(CUDAToolkit) ran, else /usr/local/cuda), then the
# system's default paths. For example, NCCL from Python's nvidia-nccl wheel:
#
#   cmake -DNCCL_ROOT=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))')
#
# Gives NCCL_FOUND, NCCL_INCLUDE_DIR, NCCL_LIBRARY, NCCL_VERSION ("2.28.9", read from the
# header) and the imported target NCCL::nccl.
set(_nccl_hints)
foreach(root IN ITEMS "${NCCL_ROOT}" "$ENV{NCCL_ROOT}")
  if(root)
    list(APPEND _nccl_hints "${root}")
  endif()
endforeach()
set(_nccl_toolkit_include ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
set(_nccl_toolkit_lib ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64 /usr/local/cuda/lib)

find_path(NCCL_INCLUDE_DIR nccl.h
          HINTS ${_nccl_hints} PATH_SUFFIXES include
          PATHS ${_nccl_toolkit_include})
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2
             HINTS ${_nccl_hints} PATH_SUFFIXES lib lib64
             PATHS ${_nccl_toolkit_lib})

if(NCCL_INCLUDE_DIR AND EXISTS "${NCCL_INCLUDE_DIR}/nccl.h")
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_version_lines
       REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX REPLACE ".*#define NCCL_${part} +([0-9]+).*" "\\1" _nccl_${part}
                         "${_nccl_version_lines}")
  endforeach()
  set(NCCL_VERSION "${_nccl_MAJOR}.${_nccl_MINOR}.${_nccl_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR
                                  VERSION_VAR NCCL_VERSION)

if(NCCL_FOUND AND NOT TARGET NCCL::nccl)
  add_library(NCCL::nccl UNKNOWN IMPORTED)
  set_target_properties(NCCL::nccl PROPERTIES IMPORTED_LOCATION "${NCCL_LIBRARY}"
                                              INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
unset(_nccl_hints)
unset(_nccl_toolkit_include)
unset(_nccl_toolkit_lib)
