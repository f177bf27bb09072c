# Finds the CUDA toolkit for cuda/ and sets TENSORPAR_HAVE_CUDA. nvcc is looked for where
# check_language(CUDA) looks (CUDACXX, CMAKE_CUDA_COMPILER, PATH), then in /usr/local/cuda/bin,
# where the toolkit installs it without touching PATH. A machine without it builds everything
# else and says so here, once.
set(TENSORPAR_HAVE_CUDA OFF)
if(NOT TENSORPAR_CUDA)
  message(STATUS "CUDA: off (TENSORPAR_CUDA=OFF): building without the cuda device")
  return()
endif()
# The CUDA runtime and the sanitizers do not mix (ASan's shadow memory needs protect_shadow_gap=0
# to let the driver map device memory; TSan does not see the driver's threads): sanitizer builds
# leave CUDA out.
if(NOT TENSORPAR_SANITIZE STREQUAL "")
  message(STATUS "CUDA: off under TENSORPAR_SANITIZE=${TENSORPAR_SANITIZE}: building without the "
                 "cuda device")
  return()
endif()
include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(ENV{CUDACXX} /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "CUDA: nvcc not found: building without the cuda device (--device cuda will "
                 "say so)")
  return()
endif()
set(CMAKE_CUDA_ARCHITECTURES "${TENSORPAR_CUDA_ARCHITECTURES}")
enable_language(CUDA)
# CMake 3.25 knows nvcc's dialects up to C++17; nvcc 12 and later take C++20, as the rest of the
# build is written in.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
find_package(CUDAToolkit)
if(NOT TARGET CUDA::cudart OR NOT TARGET CUDA::cublasLt)
  message(STATUS "CUDA: nvcc found but not the runtime and cuBLASLt: building without the cuda "
                 "device")
  return()
endif()
# ccache caches nvcc's objects too.
if(TENSORPAR_CCACHE AND NOT CMAKE_CUDA_COMPILER_LAUNCHER)
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${TENSORPAR_CCACHE})
endif()
set(TENSORPAR_HAVE_CUDA ON)
message(STATUS "CUDA: ${CUDAToolkit_VERSION} (${CMAKE_CUDA_COMPILER}), architectures "
               "${CMAKE_CUDA_ARCHITECTURES}")
