// The CPU's DeviceInterface: memcpy, loops and the tiled host reduction. It serves any device
// whose memory the host can address (the stand-in device reuses it).
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/base/error.h"
#include "core/tensor/device_interface.h"
#include "core/tensor/host_reduce.h"

namespace tensorpar {

namespace {

// One element converted. bfloat16 goes through float32; floating -> int64 truncates toward zero
// and throws for NaN, infinities and values outside the int64 range (a C++ cast would be UB).
template <class To, class From>
To convert_one(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (std::is_same_v<From, BFloat16>) {
    return convert_one<To>(static_cast<float>(value));
  } else if constexpr (std::is_same_v<To, BFloat16>) {
    return BFloat16(static_cast<float>(value));
  } else if constexpr (std::is_same_v<To, std::int64_t>) {
    const double v = static_cast<double>(value);
    if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) {
      throw std::invalid_argument(cat("value ", v, " is not representable as int64"));
    }
    return static_cast<std::int64_t>(value);
  } else {
    return static_cast<To>(value);
  }
}

class CpuDeviceInterface final : public DeviceInterface {
 public:
  CpuDeviceInterface() : DeviceInterface("cpu") {}

  void copy(void* dst, const void* src, std::size_t bytes) override {
    if (bytes != 0 && dst != src) std::memmove(dst, src, bytes);
  }
  void copy_from_host(void* dst, const void* src, std::size_t bytes) override {
    copy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, std::size_t bytes) override {
    copy(dst, src, bytes);
  }

  // Merges the trailing dims the box covers whole in both arrays into one contiguous run, then
  // walks the dims before it with an odometer.
  void copy_box(void* dst, const Shape& dst_shape, const Shape& dst_start, const void* src,
                const Shape& src_shape, const Shape& src_start, const Shape& extent,
                std::size_t es) override {
    const std::size_t nd = extent.size();
    if (numel(extent) == 0) return;
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    if (nd == 0) {
      std::memcpy(d, s, es);
      return;
    }
    std::size_t inner = nd - 1;
    std::int64_t run = extent[inner];
    while (inner > 0 && extent[inner] == src_shape[inner] && extent[inner] == dst_shape[inner] &&
           src_start[inner] == 0 && dst_start[inner] == 0) {
      --inner;
      run *= extent[inner];
    }
    const auto sstr = contiguous_strides(src_shape);
    const auto dstr = contiguous_strides(dst_shape);
    std::vector<std::int64_t> idx(inner, 0);
    while (true) {
      std::int64_t so = src_start[inner] * sstr[inner], doff = dst_start[inner] * dstr[inner];
      for (std::size_t i = 0; i < inner; ++i) {
        so += (src_start[i] + idx[i]) * sstr[i];
        doff += (dst_start[i] + idx[i]) * dstr[i];
      }
      std::memcpy(d + doff * es, s + so * es, static_cast<std::size_t>(run) * es);
      std::size_t i = inner;
      while (i > 0) {
        --i;
        if (++idx[i] < extent[i]) break;
        idx[i] = 0;
        if (i == 0) return;
      }
      if (inner == 0) return;
    }
  }

  void fill(void* dst, DType dtype, std::int64_t n, double value) override {
    visit_dtype(dtype, [&]<class T>() {
      const T v = convert_one<T>(value);
      T* p = static_cast<T*>(dst);
      std::fill(p, p + n, v);
    });
  }

  void convert(void* dst, DType to, const void* src, DType from, std::int64_t n) override {
    if (n == 0) return;
    if (from == to) {
      std::memmove(dst, src, std::size_t(n) * dtype_size(from));
      return;
    }
    visit_dtype(from, [&]<class S>() {
      visit_dtype(to, [&]<class D>() {
        const S* s = static_cast<const S*>(src);
        D* d = static_cast<D*>(dst);
        for (std::int64_t i = 0; i < n; ++i) d[i] = convert_one<D>(s[i]);
      });
    });
  }

  void reduce(DType dtype, ReduceOp op, std::span<const void* const> srcs,
              std::span<void* const> dsts, std::int64_t count) override {
    host_reduce_buffers(dtype, op, srcs, dsts, count);
  }
};

}  // namespace

DeviceInterface& cpu_device_interface() {
  static CpuDeviceInterface* cpu = new CpuDeviceInterface;  // never destroyed, like the allocator
  return *cpu;
}

}  // namespace tensorpar
