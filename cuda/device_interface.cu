#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/base/error.h"
#include "cuda/device_interface.h"
#include "cuda/launch.cuh"
#include "cuda/pinned.h"

namespace tensorpar::cuda {

namespace {

// The device whose memory `ptr` is (cudaPointerGetAttributes), so that a call runs there.
int device_of(const void* ptr) {
  cudaPointerAttributes attributes{};
  check(cudaPointerGetAttributes(&attributes, ptr), "cudaPointerGetAttributes");
  return attributes.device < 0 ? 0 : attributes.device;
}

// ---- box copies ----

// A box copy as a walk over at most kBoxDims dims of words of W bytes: extent per dim and the
// element strides of both arrays, innermost last.
constexpr int kBoxDims = 12;
struct BoxWalk {
  int dims = 0;
  std::int64_t extent[kBoxDims];
  std::int64_t src_stride[kBoxDims];
  std::int64_t dst_stride[kBoxDims];
  std::int64_t src_base = 0, dst_base = 0;
};

template <class W>
__global__ void copy_box_kernel(W* dst, const W* src, BoxWalk walk, std::int64_t total) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t rest = i, s = walk.src_base, d = walk.dst_base;
    for (int k = walk.dims - 1; k >= 0; --k) {
      const std::int64_t at = rest % walk.extent[k];
      rest /= walk.extent[k];
      s += at * walk.src_stride[k];
      d += at * walk.dst_stride[k];
    }
    dst[d] = src[s];
  }
}

// The box in bytes: each element becomes an innermost dim of elem_size bytes; dims the box
// covers whole in both arrays merge with the dim inside them, extents of 1 drop out.
BoxWalk byte_walk(const Shape& dst_shape, const Shape& dst_start, const Shape& src_shape,
                  const Shape& src_start, const Shape& extent, std::size_t es) {
  const std::size_t nd = extent.size();
  std::vector<std::int64_t> ext, ss, ds;
  std::int64_t src_base = 0, dst_base = 0;
  std::int64_t sstride = std::int64_t(es), dstride = std::int64_t(es);
  // innermost first
  ext.push_back(std::int64_t(es));
  ss.push_back(1);
  ds.push_back(1);
  for (std::size_t j = nd; j-- > 0;) {
    src_base += src_start[j] * sstride;
    dst_base += dst_start[j] * dstride;
    if (extent[j] != 1) {
      if (ss.back() * ext.back() == sstride && ds.back() * ext.back() == dstride) {
        ext.back() *= extent[j];  // contiguous with the dims inside it in both arrays
      } else {
        ext.push_back(extent[j]);
        ss.push_back(sstride);
        ds.push_back(dstride);
      }
    }
    sstride *= src_shape[j];
    dstride *= dst_shape[j];
  }
  check_arg(int(ext.size()) <= kBoxDims, "cuda copy_box: the box ", shape_str(extent), " of ",
            shape_str(src_shape), " walks ", ext.size(), " dims, more than ", kBoxDims);
  BoxWalk walk;
  walk.dims = int(ext.size());
  for (int k = 0; k < walk.dims; ++k) {  // outermost first
    const std::size_t from = ext.size() - 1 - std::size_t(k);
    walk.extent[k] = ext[from];
    walk.src_stride[k] = ss[from];
    walk.dst_stride[k] = ds[from];
  }
  walk.src_base = src_base;
  walk.dst_base = dst_base;
  return walk;
}

// The walk in words of `w` bytes, when every extent of the innermost dim, stride and base
// allows.
bool to_words(BoxWalk& walk, std::size_t w, const void* dst, const void* src) {
  const auto ok = [&](std::int64_t v) { return v % std::int64_t(w) == 0; };
  const int in = walk.dims - 1;
  if (walk.src_stride[in] != 1 || walk.dst_stride[in] != 1 || !ok(walk.extent[in])) return false;
  if (!ok(walk.src_base) || !ok(walk.dst_base)) return false;
  if (reinterpret_cast<std::uintptr_t>(dst) % w != 0 || reinterpret_cast<std::uintptr_t>(src) % w)
    return false;
  for (int k = 0; k < in; ++k) {
    if (!ok(walk.src_stride[k]) || !ok(walk.dst_stride[k])) return false;
  }
  walk.extent[in] /= std::int64_t(w);
  for (int k = 0; k < in; ++k) {
    walk.src_stride[k] /= std::int64_t(w);
    walk.dst_stride[k] /= std::int64_t(w);
  }
  walk.src_base /= std::int64_t(w);
  walk.dst_base /= std::int64_t(w);
  return true;
}

template <class W>
void launch_box(void* dst, const void* src, const BoxWalk& walk, cudaStream_t stream) {
  std::int64_t total = 1;
  for (int k = 0; k < walk.dims; ++k) total *= walk.extent[k];
  copy_box_kernel<W><<<grid_for(total), kThreads, 0, stream>>>(
      static_cast<W*>(dst), static_cast<const W*>(src), walk, total);
  check_launch("copy_box");
}

// ---- conversion ----

template <class To, class From>
__device__ To convert_on_device(From v, unsigned long long* flag, unsigned long long* bad) {
  if constexpr (std::is_same_v<From, Bf16>) {
    return convert_on_device<To>(to_float(v), flag, bad);
  } else if constexpr (std::is_same_v<To, Bf16>) {
    return to_bf16(float(v));
  } else if constexpr (std::is_same_v<To, std::int64_t> && !std::is_same_v<From, std::int64_t>) {
    const double d = double(v);
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
      flag_set(flag, 1, __double_as_longlong(d));
      return 0;
    }
    return std::int64_t(v);
  } else {
    return To(v);
  }
}

// ---- reduction of several buffers ----

constexpr int kMaxBuffers = 32;
struct Buffers {
  const void* src[kMaxBuffers];
  void* dst[kMaxBuffers];
  int srcs = 0, dsts = 0;
};

template <class T, class A>
__device__ A load_as(const void* p, std::int64_t i) {
  if constexpr (std::is_same_v<T, Bf16>) {
    return to_float(static_cast<const Bf16*>(p)[i]);
  } else {
    return static_cast<const T*>(p)[i];
  }
}

template <class T>
void reduce_typed(ReduceOp op, const Buffers& b, std::int64_t count, cudaStream_t stream) {
  using A = std::conditional_t<std::is_same_v<T, Bf16>, float, T>;
  for_each(
      stream, count,
      [b, op] __device__(std::int64_t i) {
        A acc = load_as<T, A>(b.src[0], i);
        for (int j = 1; j < b.srcs; ++j) {
          const A v = load_as<T, A>(b.src[j], i);
          switch (op) {
            case ReduceOp::Sum:
            case ReduceOp::Avg:
              acc = acc + v;
              break;
            case ReduceOp::Product:
              acc = acc * v;
              break;
            case ReduceOp::Max:
              acc = acc < v ? v : acc;
              break;
            case ReduceOp::Min:
              acc = v < acc ? v : acc;
              break;
          }
        }
        if (op == ReduceOp::Avg) acc = acc / A(b.srcs);
        T out;
        if constexpr (std::is_same_v<T, Bf16>) {
          out = to_bf16(acc);
        } else {
          out = acc;
        }
        for (int j = 0; j < b.dsts; ++j) static_cast<T*>(b.dst[j])[i] = out;
      },
      "reduce");
}

// n elements of T at dst set to value, converted on the host as the CPU's fill converts it.
template <class T>
void fill_typed(void* dst, std::int64_t n, double value, cudaStream_t stream) {
  T v;
  if constexpr (std::is_same_v<T, BFloat16>) {
    v = BFloat16(static_cast<float>(value));
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    check_arg(value >= -9223372036854775808.0 && value < 9223372036854775808.0, "value ", value,
              " is not representable as int64");
    v = static_cast<std::int64_t>(value);
  } else {
    v = static_cast<T>(value);
  }
  using W = std::conditional_t<sizeof(T) == 8, std::uint64_t,
                               std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint16_t>>;
  W word;
  std::memcpy(&word, &v, sizeof word);
  W* out = static_cast<W*>(dst);
  for_each(
      stream, n, [out, word] __device__(std::int64_t i) { out[i] = word; }, "fill");
}

template <class S, class D>
void convert_typed(void* dst, const void* src, std::int64_t n, unsigned long long* f,
                   cudaStream_t stream) {
  using SD = DeviceElem<S>;
  using DD = DeviceElem<D>;
  const SD* s = static_cast<const SD*>(src);
  DD* d = static_cast<DD*>(dst);
  for_each(
      stream, n,
      [s, d, f] __device__(std::int64_t i) { d[i] = convert_on_device<DD>(s[i], f, f + 1); },
      "convert");
}

class CudaDeviceInterface final : public DeviceInterface {
 public:
  CudaDeviceInterface() : DeviceInterface("cuda") {}

  void copy(void* dst, const void* src, std::size_t bytes) override {
    if (bytes == 0 || dst == src) return;
    On on(device_of(dst));
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, on.stream), "cudaMemcpyAsync");
  }

  // Two staging buffers in flight: the host fills one while the other's copy runs.
  void copy_from_host(void* dst, const void* host_src, std::size_t bytes) override {
    if (bytes == 0) return;
    On on(device_of(dst));
    std::unique_ptr<PinnedBuffer> staging[2] = {pinned_.take(), pinned_.take()};
    Event done[2];
    bool pending[2] = {false, false};
    std::size_t chunk_index = 0;
    for (std::size_t at = 0; at < bytes; at += PinnedPool::kBytes, ++chunk_index) {
      const std::size_t n = std::min(PinnedPool::kBytes, bytes - at);
      const std::size_t k = chunk_index % 2;
      if (pending[k]) done[k].synchronize();
      std::memcpy(staging[k]->data(), static_cast<const char*>(host_src) + at, n);
      check(cudaMemcpyAsync(static_cast<char*>(dst) + at, staging[k]->data(), n,
                            cudaMemcpyHostToDevice, on.stream),
            "cudaMemcpyAsync");
      done[k].record(on.stream);
      pending[k] = true;
    }
    for (int k = 0; k < 2; ++k) {
      if (pending[k]) done[k].synchronize();
      pinned_.give_back(std::move(staging[k]));
    }
  }

  void copy_to_host(void* host_dst, const void* src, std::size_t bytes) override {
    if (bytes == 0) return;
    On on(device_of(src));
    std::unique_ptr<PinnedBuffer> staging = pinned_.take();
    for (std::size_t at = 0; at < bytes; at += PinnedPool::kBytes) {
      const std::size_t n = std::min(PinnedPool::kBytes, bytes - at);
      check(cudaMemcpyAsync(staging->data(), static_cast<const char*>(src) + at, n,
                            cudaMemcpyDeviceToHost, on.stream),
            "cudaMemcpyAsync");
      check(cudaStreamSynchronize(on.stream), "cudaStreamSynchronize");
      std::memcpy(static_cast<char*>(host_dst) + at, staging->data(), n);
    }
    pinned_.give_back(std::move(staging));
  }

  void copy_box(void* dst, const Shape& dst_shape, const Shape& dst_start, const void* src,
                const Shape& src_shape, const Shape& src_start, const Shape& extent,
                std::size_t es) override {
    if (numel(extent) == 0) return;
    On on(device_of(dst));
    BoxWalk walk = byte_walk(dst_shape, dst_start, src_shape, src_start, extent, es);
    if (to_words(walk, 8, dst, src)) {
      launch_box<std::uint64_t>(dst, src, walk, on.stream);
    } else if (to_words(walk, 4, dst, src)) {
      launch_box<std::uint32_t>(dst, src, walk, on.stream);
    } else if (to_words(walk, 2, dst, src)) {
      launch_box<std::uint16_t>(dst, src, walk, on.stream);
    } else {
      launch_box<std::uint8_t>(dst, src, walk, on.stream);
    }
  }

  void fill(void* dst, DType dtype, std::int64_t n, double value) override {
    if (n == 0) return;
    On on(device_of(dst));
    visit_dtype(dtype, [&]<class T>() { fill_typed<T>(dst, n, value, on.stream); });
  }

  void convert(void* dst, DType to, const void* src, DType from, std::int64_t n) override {
    if (n == 0) return;
    if (from == to) {
      copy(dst, src, std::size_t(n) * dtype_size(from));
      return;
    }
    On on(device_of(dst));
    // [0]: the flag, [1]: the bits of a value int64 cannot hold
    Tensor flag = Tensor::empty({2}, DType::Int64, Device{DeviceType::CUDA, device_of(dst)});
    check(cudaMemsetAsync(flag.device_data(), 0, 16, on.stream), "cudaMemsetAsync");
    auto* f = static_cast<unsigned long long*>(flag.device_data());
    const bool checks = to == DType::Int64 && is_floating(from);
    visit_dtype(from, [&]<class S>() {
      visit_dtype(to, [&]<class D>() { convert_typed<S, D>(dst, src, n, f, on.stream); });
    });
    if (!checks) return;
    std::uint64_t host[2];
    copy_to_host(host, flag.device_data(), sizeof host);
    if (host[0] != 0) {
      double bad;
      std::memcpy(&bad, &host[1], sizeof bad);
      throw std::invalid_argument(tensorpar::cat("value ", bad, " is not representable as int64"));
    }
  }

  void reduce(DType dtype, ReduceOp op, std::span<const void* const> srcs,
              std::span<void* const> dsts, std::int64_t count) override {
    if (count <= 0 || srcs.empty()) return;
    check_arg(srcs.size() <= std::size_t(kMaxBuffers) && dsts.size() <= std::size_t(kMaxBuffers),
              "cuda reduce: at most ", kMaxBuffers, " sources and destinations, got ", srcs.size(),
              " and ", dsts.size());
    Buffers b;
    b.srcs = int(srcs.size());
    b.dsts = int(dsts.size());
    for (int j = 0; j < b.srcs; ++j) b.src[j] = srcs[std::size_t(j)];
    for (int j = 0; j < b.dsts; ++j) b.dst[j] = dsts[std::size_t(j)];
    On on(device_of(dsts.empty() ? srcs[0] : dsts[0]));
    visit_dtype(dtype, [&]<class T>() { reduce_typed<DeviceElem<T>>(op, b, count, on.stream); });
  }

 private:
  PinnedPool pinned_;
};

}  // namespace

DeviceInterface& cuda_device_interface() {
  static CudaDeviceInterface* interface = new CudaDeviceInterface;  // outlives every tensor
  return *interface;
}

}  // namespace tensorpar::cuda

namespace tensorpar::cuda {

ErrorFlag::ErrorFlag(const Tensor& like) : words_(Tensor::empty({2}, DType::Int64, like.device())) {
  On on(like);
  check(cudaMemsetAsync(words_.device_data(), 0, 2 * sizeof(std::uint64_t), on.stream),
        "cudaMemsetAsync");
}

std::uint64_t ErrorFlag::read() {
  std::uint64_t words[2] = {0, 0};
  cuda_device_interface().copy_to_host(words, words_.device_data(), sizeof words);
  value_ = static_cast<std::int64_t>(words[1]);
  return words[0];
}

}  // namespace tensorpar::cuda
