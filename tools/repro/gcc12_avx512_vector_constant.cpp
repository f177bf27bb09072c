// GCC 12.2 (Debian 12.2.0-14) wrong code with AVX-512: a vector constant whose non-zero elements
// are all equal and whose trailing elements are zero is materialised with a broadcast, so the
// zeros are lost. Found on this project's build machines; this is why native builds default to
// TENSORPAR_AVX512=OFF (see CMakeLists.txt).
//
//   g++ -O2 -mavx512f tools/repro/gcc12_avx512_vector_constant.cpp && ./a.out   # exit 1: 3 3 3 3
//   g++ -O2 -mavx2    tools/repro/gcc12_avx512_vector_constant.cpp && ./a.out   # exit 0: 3 3 3 0
//
// The store is SLP-vectorised into "vpbroadcastq .LC(3), %ymm0; vmovdqu %ymm0, (%rax)".
// Affected: -O2/-O3 with -mavx512f (also -march=x86-64-v4, -march=native on AVX-512 CPUs), for
// {3,3,3,0}, {3,3,0,0}, {5,5,5,5,5,5,5,0}. Not affected: {3,3,0,3}, {1,2,3,0}, -O1,
// -fno-tree-slp-vectorize, -fno-tree-vectorize, -mprefer-vector-width=128, or no AVX-512.
#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
  std::vector<std::int64_t> v{3, 3, 3, 0};
  for (auto x : v) std::printf("%ld ", static_cast<long>(x));
  std::printf("\n");
  return v[3] == 0 ? 0 : 1;
}
