// The kernel backend registry and the defaults every entry starts from.
#include "core/kernels/backend.h"

#include <array>
#include <atomic>
#include <stdexcept>

#include "core/base/error.h"
#include "core/kernels/cpu/cpu_backend.h"
#include "core/kernels/meta/meta_backend.h"

namespace tensorpar::kernels {

namespace {

// One atomic pointer per device type: kernel_backend is a single load, with no lock.
struct Registry {
  std::array<std::atomic<KernelBackend*>, kDeviceTypes> backends{};
  Registry() {
    backends[slot(DeviceType::CPU)].store(&cpu_backend(), std::memory_order_release);
    backends[slot(DeviceType::Meta)].store(&meta_backend(), std::memory_order_release);
  }

  static std::size_t slot(DeviceType type) {
    const auto i = std::size_t(type);
    check_arg(i < std::size_t(kDeviceTypes), "kernel_backend: unknown device type ", int(type));
    return i;
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

// "cuda" for a device type (device_str without the index).
std::string type_name(DeviceType type) {
  const std::string s = device_str(Device{type, 0});
  return s.substr(0, s.find(':'));
}

}  // namespace

KernelBackend::KernelBackend(std::string device_name) : device_name_(std::move(device_name)) {}

void KernelBackend::unsupported(const char* kernel) const {
  throw std::runtime_error(tensorpar::cat(device_name_, " does not support ", kernel));
}

KernelBackend& kernel_backend(DeviceType type) {
  KernelBackend* backend =
      registry().backends[Registry::slot(type)].load(std::memory_order_acquire);
  if (backend == nullptr) {
    throw std::invalid_argument(tensorpar::cat(
        "kernel_backend: no kernel backend registered for device type ", type_name(type)));
  }
  return *backend;
}

void register_kernel_backend(DeviceType type, KernelBackend* backend) {
  registry().backends[Registry::slot(type)].store(backend, std::memory_order_release);
}

KernelBackend* registered_kernel_backend(DeviceType type) {
  return registry().backends[Registry::slot(type)].load(std::memory_order_acquire);
}

KernelBackend& backend_for(std::initializer_list<const Tensor*> tensors,
                           std::initializer_list<const char*> names, const char* what) {
  const Tensor* first = nullptr;
  const char* first_name = "";
  auto name = names.begin();
  for (const Tensor* t : tensors) {
    const char* n = name != names.end() ? *name++ : "tensor";
    if (!t->defined()) continue;
    if (first == nullptr) {
      first = t;
      first_name = n;
    } else if (!(t->device() == first->device())) {
      throw std::invalid_argument(
          tensorpar::cat(what, ": tensors on different devices: ", first_name, " is ",
                         device_str(first->device()), ", ", n, " is ", device_str(t->device())));
    }
  }
  return kernel_backend(first != nullptr ? first->device().type : DeviceType::CPU);
}

// ---- the defaults: "<device> does not support <kernel>" ----

Tensor KernelBackend::broadcast_to(const Tensor&, const Shape&) { unsupported("broadcast_to"); }
Tensor KernelBackend::binary(BinaryOp, const Tensor&, const Tensor&, const Shape&, const char*) {
  unsupported("binary");
}
void KernelBackend::binary_(BinaryOp, Tensor&, const Tensor&, const char*) {
  unsupported("binary_");
}
Tensor KernelBackend::binary_scalar(BinaryOp, const Tensor&, double, bool, const char*) {
  unsupported("binary_scalar");
}
void KernelBackend::binary_scalar_(BinaryOp, Tensor&, double, const char*) {
  unsupported("binary_scalar_");
}
Tensor KernelBackend::pow_scalar(const Tensor&, double) { unsupported("pow_scalar"); }
Tensor KernelBackend::pow_scalar_backward(const Tensor&, const Tensor&, double) {
  unsupported("pow_scalar_backward");
}
Tensor KernelBackend::unary(UnaryOp, const Tensor&) { unsupported("unary"); }
Tensor KernelBackend::unary_backward(UnaryOp, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("unary_backward");
}
void KernelBackend::axpy_(Tensor&, double, const Tensor&) { unsupported("axpy_"); }
void KernelBackend::affine_(Tensor&, double, double) { unsupported("affine_"); }
Tensor KernelBackend::sum(const Tensor&, const std::vector<std::int64_t>&, bool) {
  unsupported("sum");
}
Tensor KernelBackend::mean(const Tensor&, const std::vector<std::int64_t>&, bool) {
  unsupported("mean");
}
MaxResult KernelBackend::max_dim(const Tensor&, std::int64_t, bool) { unsupported("max_dim"); }
Tensor KernelBackend::max_dim_backward(const Tensor&, const Tensor&, const Shape&, std::int64_t,
                                       bool) {
  unsupported("max_dim_backward");
}
Tensor KernelBackend::reduce_all(ReduceOp, const Tensor&) { unsupported("reduce_all"); }
Tensor KernelBackend::reduce_dim(ReduceOp, const Tensor&, std::int64_t, bool) {
  unsupported("reduce_dim");
}
bool KernelBackend::equal(const Tensor&, const Tensor&) { unsupported("equal"); }
bool KernelBackend::allclose(const Tensor&, const Tensor&, double, double) {
  unsupported("allclose");
}
double KernelBackend::max_abs_diff(const Tensor&, const Tensor&) { unsupported("max_abs_diff"); }
Tensor KernelBackend::cat(const std::vector<Tensor>&, std::int64_t, const Shape&) {
  unsupported("cat");
}
Tensor KernelBackend::permute(const Tensor&, const std::vector<std::int64_t>&) {
  unsupported("permute");
}
Tensor KernelBackend::matmul(const Tensor&, const Tensor&, bool, bool) { unsupported("matmul"); }
Tensor KernelBackend::linear(const Tensor&, const Tensor&, const Tensor&) { unsupported("linear"); }
LinearGrads KernelBackend::linear_backward(const Tensor&, const Tensor&, const Tensor&, bool, bool,
                                           bool) {
  unsupported("linear_backward");
}
Tensor KernelBackend::softmax(const Tensor&, std::int64_t) { unsupported("softmax"); }
Tensor KernelBackend::softmax_backward(const Tensor&, const Tensor&, std::int64_t) {
  unsupported("softmax_backward");
}
Tensor KernelBackend::log_softmax(const Tensor&, std::int64_t) { unsupported("log_softmax"); }
Tensor KernelBackend::log_softmax_backward(const Tensor&, const Tensor&, std::int64_t) {
  unsupported("log_softmax_backward");
}
NormResult KernelBackend::layer_norm(const Tensor&, const Tensor&, const Tensor&, double) {
  unsupported("layer_norm");
}
NormGrads KernelBackend::layer_norm_backward(const Tensor&, const Tensor&, const Tensor&,
                                             const Tensor&, const Tensor&, bool, bool) {
  unsupported("layer_norm_backward");
}
NormResult KernelBackend::rms_norm(const Tensor&, const Tensor&, double) {
  unsupported("rms_norm");
}
NormGrads KernelBackend::rms_norm_backward(const Tensor&, const Tensor&, const Tensor&,
                                           const Tensor&, bool) {
  unsupported("rms_norm_backward");
}
Tensor KernelBackend::embedding(const Tensor&, const Tensor&, std::int64_t, std::int64_t) {
  unsupported("embedding");
}
Tensor KernelBackend::embedding_backward(const Tensor&, const Tensor&, std::int64_t, std::int64_t) {
  unsupported("embedding_backward");
}
CrossEntropyResult KernelBackend::cross_entropy(const Tensor&, const Tensor&, const Tensor&,
                                                std::int64_t, Reduction) {
  unsupported("cross_entropy");
}
CrossEntropyResult KernelBackend::nll_loss(const Tensor&, const Tensor&, const Tensor&,
                                           std::int64_t, Reduction) {
  unsupported("nll_loss");
}
Tensor KernelBackend::cross_entropy_backward(const Tensor&, const Tensor&, const Tensor&,
                                             const Tensor&, std::int64_t, Reduction,
                                             const Tensor&) {
  unsupported("cross_entropy_backward");
}
Tensor KernelBackend::nll_loss_backward(const Tensor&, const Tensor&, const Tensor&, std::int64_t,
                                        Reduction, const Tensor&, const Shape&, DType) {
  unsupported("nll_loss_backward");
}
Tensor KernelBackend::gather_class(const Tensor&, const Tensor&, std::int64_t, std::int64_t,
                                   std::int64_t, const char*) {
  unsupported("gather_class");
}
Tensor KernelBackend::class_weights(const Tensor&, const Tensor&, std::int64_t, std::int64_t, DType,
                                    const char*) {
  unsupported("class_weights");
}
void KernelBackend::scatter_class_add_(Tensor&, const Tensor&, const Tensor&, std::int64_t,
                                       std::int64_t) {
  unsupported("scatter_class_add_");
}
Tensor KernelBackend::uniform_block(const Shape&, DType, Device, std::uint64_t, std::uint64_t,
                                    const GlobalBlock&) {
  unsupported("uniform_block");
}
Tensor KernelBackend::normal_block(const Shape&, DType, Device, std::uint64_t, std::uint64_t,
                                   const GlobalBlock&) {
  unsupported("normal_block");
}
Tensor KernelBackend::dropout_mask(const Shape&, DType, Device, double, std::uint64_t,
                                   std::uint64_t, const GlobalBlock&) {
  unsupported("dropout_mask");
}
void KernelBackend::causal_mask_(Tensor&) { unsupported("causal_mask_"); }
void KernelBackend::causal_mask_backward_(Tensor&) { unsupported("causal_mask_backward_"); }
void KernelBackend::sgd_update_(Tensor&, const Tensor&, Tensor&, bool, const SgdHyper&) {
  unsupported("sgd_update_");
}
void KernelBackend::adam_update_(Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&,
                                 const AdamHyper&) {
  unsupported("adam_update_");
}
}  // namespace tensorpar::kernels
