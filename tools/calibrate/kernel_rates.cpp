#include "tools/calibrate/kernel_rates.h"

#include <cstdint>
#include <functional>
#include <string>

#include "core/cost/kernel_model.h"
#include "core/kernels/elementwise.h"
#include "core/kernels/layout.h"
#include "core/kernels/matmul.h"
#include "core/kernels/meta/op_record.h"
#include "core/kernels/norm.h"
#include "core/kernels/softmax.h"
#include "core/tensor/meta_device.h"
#include "core/tensor/philox.h"
#include "core/tensor/tensor.h"
#include "tools/calibrate/stopwatch.h"

namespace tensorpar::calibrate {
namespace {

// Makes a kernel call's inputs on `device` and returns the call.
using CallMaker = std::function<std::function<void()>(Device device)>;

struct Counted {
  double flops = 0, bytes = 0;
  double gemm_size = 0;  // FLOPs of one GEMM, where the cost model reads its curve
};

// The FLOPs and bytes the shape-only run counts for the call (run once on the meta device; the
// making of its inputs is not counted).
Counted count_on_meta(const CallMaker& make) {
  const std::function<void()> call = make(meta_device());
  kernels::OpRecorder recorder;
  call();
  Counted c;
  for (const kernels::OpRecord& r : recorder.records()) {
    c.flops += static_cast<double>(r.flops);
    c.bytes += static_cast<double>(r.bytes_read + r.bytes_written);
    if (const int gemms = cost::gemm_count(r); gemms > 0) c.gemm_size = double(r.flops) / gemms;
  }
  return c;
}

Tensor random(const Shape& shape, Device device) {
  static Generator gen(20261207);
  return randn(shape, gen, DType::Float32, device);
}

// The calls of linear with bias at width d (see the header), forward and backward: the
// attention projection (d -> d), and the MLP's two projections (d -> 4d, 4d -> d) together, as
// their GEMMs have the same FLOPs.
std::vector<std::vector<CallMaker>> linear_calls(std::int64_t d) {
  const std::int64_t t = 4 * d;
  const auto forward_and_backward = [t](std::int64_t in, std::int64_t out) {
    return std::vector<CallMaker>{
        [=](Device dev) -> std::function<void()> {
          return [x = random({t, in}, dev), w = random({out, in}, dev), b = random({out}, dev)] {
            kernels::linear(x, w, b);
          };
        },
        [=](Device dev) -> std::function<void()> {
          return [g = random({t, out}, dev), x = random({t, in}, dev), w = random({out, in}, dev)] {
            kernels::linear_backward(g, x, w, true, true, true);
          };
        },
    };
  };
  std::vector<CallMaker> mlp = forward_and_backward(d, 4 * d);
  for (CallMaker& call : forward_and_backward(4 * d, d)) mlp.push_back(std::move(call));
  return {forward_and_backward(d, d), mlp};
}

// A Transformer layer's element-wise kernels at n elements (rows of 256; n a multiple of 256).
std::vector<CallMaker> elementwise_calls(std::int64_t n) {
  const Shape shape{n / 256, 256};
  const auto x_and = [shape](auto body) {
    return [=](Device dev) -> std::function<void()> { return body(random(shape, dev), dev); };
  };
  using kernels::BinaryOp;
  using kernels::UnaryOp;
  return {
      x_and([shape](Tensor x, Device dev) {
        return [x, y = random(shape, dev)] { kernels::binary(BinaryOp::Add, x, y, "add"); };
      }),
      x_and([](Tensor x, Device) {
        return [x] { kernels::binary_scalar(BinaryOp::Mul, x, 0.125); };
      }),
      x_and([](Tensor x, Device) { return [x] { kernels::unary(UnaryOp::GeluExact, x); }; }),
      x_and([shape](Tensor x, Device dev) {
        return [x, g = random(shape, dev)] {
          kernels::unary_backward(UnaryOp::GeluExact, g, x, Tensor());
        };
      }),
      x_and([](Tensor x, Device) { return [x] { kernels::softmax(x, -1); }; }),
      x_and([shape](Tensor x, Device dev) {
        return [y = kernels::softmax(x, -1), g = random(shape, dev)] {
          kernels::softmax_backward(g, y, -1);
        };
      }),
      x_and([](Tensor x, Device dev) {
        return [x, w = random({256}, dev), b = random({256}, dev)] {
          kernels::layer_norm(x, w, b, 1e-5);
        };
      }),
      x_and([shape](Tensor x, Device dev) {
        const Tensor w = random({256}, dev);
        const kernels::NormResult r = kernels::layer_norm(x, w, random({256}, dev), 1e-5);
        return [x, w, r, g = random(shape, dev)] {
          kernels::layer_norm_backward(g, x, w, r.mean, r.rstd, true, true);
        };
      }),
      x_and([n](Tensor x, Device) {
        return [x3 = x.reshape({n / 256, 16, 16})] { kernels::permute(x3, {1, 0, 2}); };
      }),
  };
}

// Times each call (the lower quartile of `reps` runs) and returns the totals of the set.
struct SetTiming {
  double seconds = 0, flops = 0, bytes = 0, gemm_size = 0;
};
SetTiming time_set(const std::vector<CallMaker>& calls, int reps) {
  SetTiming total;
  for (const CallMaker& make : calls) {
    const Counted c = count_on_meta(make);
    total.flops += c.flops;
    total.bytes += c.bytes;
    if (total.gemm_size == 0) total.gemm_size = c.gemm_size;
    total.seconds += lower_quartile_seconds(reps, make(cpu()));
  }
  return total;
}

}  // namespace

KernelRates measure_kernel_rates(bool quick) {
  KernelRates rates;
  const std::vector<std::int64_t> widths =
      quick ? std::vector<std::int64_t>{32, 128}
            : std::vector<std::int64_t>{16, 32, 64, 128, 256, 512};
  for (const std::int64_t d : widths) {
    for (const std::vector<CallMaker>& forward_backward : linear_calls(d)) {
      const SetTiming t = time_set(forward_backward, d >= 256 ? 3 : quick ? 5 : 9);
      rates.gemm.push_back({t.gemm_size, t.flops / t.seconds});
    }
  }
  const std::vector<std::int64_t> sizes =
      quick ? std::vector<std::int64_t>{4096, 65536, 1 << 20}
            : std::vector<std::int64_t>{4096, 16384, 65536, 262144, 1 << 20, 1 << 22};
  for (const std::int64_t n : sizes) {
    const int reps = n >= (1 << 20) ? 3 : quick ? 5 : 9;
    const std::vector<CallMaker> calls = elementwise_calls(n);
    const SetTiming mix = time_set(calls, reps);
    rates.elementwise.push_back({mix.bytes / double(calls.size()), mix.bytes / mix.seconds});
    const SetTiming add = time_set({calls.front()}, reps);
    rates.stream.push_back({add.bytes, add.bytes / add.seconds});
  }
  return rates;
}

}  // namespace tensorpar::calibrate
