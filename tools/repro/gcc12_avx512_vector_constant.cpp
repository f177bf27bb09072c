// GCC 12.2 (Debian 12.2.0-14) wrong code with AVX-512: a copy of constant data that is expanded
// inline in 32- or 64-byte pieces is materialised with a broadcast of the first element when the
// constant's leading elements (at least 16 bytes) are equal and the rest are zero, so the zeros
// are lost. Found on this project's build machines. CMake compiles and runs this file at configure
// time (tools/cmake/native_avx512.cmake): with -march=native alone, then with the workaround
// flags, and builds with AVX-512 only where the output is correct; ctest's
// build_flags_copy_constant_data_correctly runs it built with the project's own flags.
//
//   g++ -O2 -mavx512f tools/repro/gcc12_avx512_vector_constant.cpp && ./a.out   # exit 1
//   g++ -O2 -mavx2    tools/repro/gcc12_avx512_vector_constant.cpp && ./a.out   # exit 0
//   g++ -O2 -mavx512f -mmove-max=128 -mstore-max=128 ...                          # exit 0
//
// For double[7] {3, 3, 0, 0, 0, 0, 0} the copy becomes
//   movabsq $<3.0>, %rax; vpbroadcastq %rax, %ymm0; vmovdqu %ymm0, (%rdi)   # 3 3 3 3
//   vpxor %xmm0, %xmm0, %xmm0; vmovdqu %ymm0, 24(%rdi)                      # .. .. .. 0 0 0 0
// and out[2] reads 3. The broadcast from a general register needs AVX-512 (VL), hence no bug
// with AVX2. Affected: std::vector initializer lists, copy loops from a constant array (folded
// into memcpy), memcpy of a vector-typed constant (this one at -O1 too); int8 to int64, float,
// double; {3, 3, 0, 0} and {3, 3, 3, 0} as int64/double, {3, 3, 3, 3, 0, 0, 0, 0} as int32/float,
// longer tables alike. Not affected: other shapes ({3, 3, 0, 3}, {1, 2, 3, 0}, {3, 3, 3, 5}),
// intrinsics (_mm256_setr_pd(3, 3, 0, 0)) and Eigen's fixed-size types, 16-byte pieces.
// Flags, on generated variants (6 element types, lengths 2 to 32, leading/inner/trailing zeros,
// 6 to 8 ways of writing the copy): without a workaround 208 of 4277 are wrong at -O2 and at -O3;
// -fno-tree-slp-vectorize leaves 166 wrong at -O2 (it fixes only the initializer lists);
// -mprefer-vector-width=128 leaves the copy loops wrong; -mmove-max=128 -mstore-max=128 (inline
// copies in 16-byte pieces; the vectorisers and intrinsics keep 256/512-bit registers) leaves none
// of 5813 wrong at -O2, and this file correct at -O2 and -O3.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

int failures = 0;

template <class T>
void expect(const char* what, const T* got, std::initializer_list<T> want) {
  int i = 0;
  for (T w : want) {
    // volatile: the comparison must read what the copy wrote, not a folded constant.
    if (static_cast<const volatile T*>(got)[i] != w) {
      std::printf("wrong: %s, element %d\n", what, i);
      ++failures;
      return;
    }
    ++i;
  }
}

}  // namespace

// External linkage and noinline, so each copy is compiled on its own as in a library.
__attribute__((noinline)) std::vector<std::int64_t> initializer_list_int64() {
  return std::vector<std::int64_t>{3, 3, 3, 0};
}

__attribute__((noinline)) void copy_loop_double(double* out) {
  static const double table[7] = {3, 3, 0, 0, 0, 0, 0};
  for (int i = 0; i < 7; ++i) out[i] = table[i];
}

__attribute__((noinline)) void vector_constant_int64_zmm(std::int64_t* out) {
  typedef std::int64_t V __attribute__((vector_size(64)));
  const V v = {3, 3, 3, 3, 3, 3, 0, 0};
  std::memcpy(out, &v, sizeof v);
}

__attribute__((noinline)) void vector_constant_int32(std::int32_t* out) {
  typedef std::int32_t V __attribute__((vector_size(32)));
  const V v = {3, 3, 3, 3, 0, 0, 0, 0};
  std::memcpy(out, &v, sizeof v);
}

int main() {
  const std::vector<std::int64_t> v = initializer_list_int64();
  expect<std::int64_t>("std::vector<int64_t>{3, 3, 3, 0}", v.data(), {3, 3, 3, 0});
  double d[7];
  copy_loop_double(d);
  expect<double>("copy of double[7]{3, 3, 0, 0, 0, 0, 0}", d, {3, 3, 0, 0, 0, 0, 0});
  std::int64_t l[8];
  vector_constant_int64_zmm(l);
  expect<std::int64_t>("memcpy of int64 x 8 constant {3, 3, 3, 3, 3, 3, 0, 0}", l,
                       {3, 3, 3, 3, 3, 3, 0, 0});
  std::int32_t i[8];
  vector_constant_int32(i);
  expect<std::int32_t>("memcpy of int32 x 8 constant {3, 3, 3, 3, 0, 0, 0, 0}", i,
                       {3, 3, 3, 3, 0, 0, 0, 0});
  if (failures == 0) std::printf("correct\n");
  return failures == 0 ? 0 : 1;
}
