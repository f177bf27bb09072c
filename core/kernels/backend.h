#pragma once
// One kernel interface per device. The public kernel functions (elementwise.h, matmul.h, ...)
// check their arguments once, with the messages every device gives, then call the backend of
// their inputs' device through kernel_backend(). A backend receives checked arguments, allocates
// its results on the inputs' device (Tensor::empty(shape, dtype, x.device())) and returns them;
// data-dependent errors (an index out of range, an integer division by zero) are its own to
// raise, with the public function's message.
//
// Every entry has a default that throws "<device> does not support <kernel>", so a device may
// start with a few kernels and grow (the habit of c10d's Backend). docs/device_seam.md lists
// the entries with what each computes and which dtypes it takes.
//
// The CPU backend (kernels/cpu) is registered for DeviceType::CPU by default. It reads memory
// through Tensor::device_data() only, so any device whose memory the host can address may
// register it too.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/kernels/elementwise.h"
#include "core/kernels/embedding.h"
#include "core/kernels/loss.h"
#include "core/kernels/matmul.h"
#include "core/kernels/norm.h"
#include "core/kernels/optim.h"
#include "core/kernels/random_block.h"
#include "core/kernels/reduce.h"
#include "core/kernels/vocab_parallel.h"
#include "core/tensor/device.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

class KernelBackend {
 public:
  // device_name names the device in "does not support" errors: "cpu", "cuda", "standin".
  explicit KernelBackend(std::string device_name);
  virtual ~KernelBackend() = default;
  KernelBackend(const KernelBackend&) = delete;
  KernelBackend& operator=(const KernelBackend&) = delete;

  const std::string& device_name() const { return device_name_; }

  // ---- element-wise (elementwise.h) ----
  virtual Tensor broadcast_to(const Tensor& t, const Shape& shape);
  // a op b into a new tensor of `shape` (the broadcast of both). Equal shapes take every dtype
  // (bfloat16 computed in float32, int64 wrapping, int64 division truncating); broadcasting
  // takes float32/float64 and int64 add/sub/mul.
  virtual Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& shape,
                        const char* what);
  // a op= b in place, equal shapes and dtypes, every dtype.
  virtual void binary_(BinaryOp op, Tensor& a, const Tensor& b, const char* what);
  // a op s, or s op a when scalar_on_left; every dtype (int64 needs an integral s).
  virtual Tensor binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_on_left,
                               const char* what);
  // a op= s in place.
  virtual void binary_scalar_(BinaryOp op, Tensor& a, double s, const char* what);
  virtual Tensor pow_scalar(const Tensor& a, double exponent);
  virtual Tensor pow_scalar_backward(const Tensor& grad, const Tensor& a, double exponent);
  virtual Tensor unary(UnaryOp op, const Tensor& x);
  // x or y is undefined when the op does not read it (unary_backward in elementwise.h).
  virtual Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x, const Tensor& y);
  virtual void axpy_(Tensor& a, double alpha, const Tensor& b);
  // t <- a + b * t, computed in double and rounded once (parameter initialisation).
  virtual void affine_(Tensor& t, double a, double b);

  // ---- reductions (reduce.h) ----
  virtual Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim);
  virtual Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim);
  virtual MaxResult max_dim(const Tensor& x, std::int64_t dim, bool keepdim);
  virtual Tensor max_dim_backward(const Tensor& grad, const Tensor& indices,
                                  const Shape& input_shape, std::int64_t dim, bool keepdim);
  // sum/max/min/prod of every element into a 0-d tensor, every dtype.
  virtual Tensor reduce_all(ReduceOp op, const Tensor& x);
  // sum/max/min/prod along one (normalised) dim, every dtype.
  virtual Tensor reduce_dim(ReduceOp op, const Tensor& x, std::int64_t dim, bool keepdim);

  // ---- comparisons and cat (tensor.h) ----
  virtual bool equal(const Tensor& a, const Tensor& b);
  virtual bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol);
  virtual double max_abs_diff(const Tensor& a, const Tensor& b);
  // Concatenation along the (normalised) dim d into a new tensor of `shape`.
  virtual Tensor cat(const std::vector<Tensor>& tensors, std::int64_t d, const Shape& shape);

  // ---- layout (layout.h) ----
  // perm is a checked, normalised permutation of x's dims.
  virtual Tensor permute(const Tensor& x, const std::vector<std::int64_t>& perm);

  // ---- matrix products (matmul.h) ----
  virtual Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
  virtual Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);
  virtual LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w,
                                      bool need_x, bool need_w, bool need_bias);

  // ---- softmax (softmax.h) ----
  virtual Tensor softmax(const Tensor& x, std::int64_t dim);
  virtual Tensor softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim);
  virtual Tensor log_softmax(const Tensor& x, std::int64_t dim);
  virtual Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim);

  // ---- norms (norm.h) ----
  virtual NormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                double eps);
  virtual NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                        const Tensor& mean, const Tensor& rstd, bool need_weight,
                                        bool need_bias);
  virtual NormResult rms_norm(const Tensor& x, const Tensor& weight, double eps);
  virtual NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                      const Tensor& rstd, bool need_weight);

  // ---- embedding (embedding.h); num_embeddings is resolved (never -1) ----
  virtual Tensor embedding(const Tensor& weight, const Tensor& indices, std::int64_t row_offset,
                           std::int64_t num_embeddings);
  virtual Tensor embedding_backward(const Tensor& grad, const Tensor& indices,
                                    std::int64_t local_rows, std::int64_t row_offset);

  // ---- losses (loss.h); the class view is checked: positions, classes, inner ----
  virtual CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& target,
                                           const Tensor& weight, std::int64_t ignore_index,
                                           Reduction reduction);
  virtual CrossEntropyResult nll_loss(const Tensor& log_probs, const Tensor& target,
                                      const Tensor& weight, std::int64_t ignore_index,
                                      Reduction reduction);
  virtual Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs,
                                        const Tensor& target, const Tensor& weight,
                                        std::int64_t ignore_index, Reduction reduction,
                                        const Tensor& total_weight);
  // The result lives on target's device.
  virtual Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, const Tensor& weight,
                                   std::int64_t ignore_index, Reduction reduction,
                                   const Tensor& total_weight, const Shape& input_shape,
                                   DType dtype);

  // ---- vocab-parallel loss pieces (vocab_parallel.h); shapes and offsets are checked,
  // the targets' values are the backend's to check ----
  virtual Tensor gather_class(const Tensor& values, const Tensor& target, std::int64_t class_offset,
                              std::int64_t classes, std::int64_t ignore_index, const char* what);
  // The result lives on target's device.
  virtual Tensor class_weights(const Tensor& target, const Tensor& weight, std::int64_t classes,
                               std::int64_t ignore_index, DType dtype, const char* what);
  virtual void scatter_class_add_(Tensor& out, const Tensor& target, const Tensor& src,
                                  std::int64_t class_offset, std::int64_t ignore_index);

  // ---- random blocks (random_block.h); `block` is resolved (global shape never empty) ----
  virtual Tensor uniform_block(const Shape& local_shape, DType dtype, Device device,
                               std::uint64_t seed, std::uint64_t counter_base,
                               const GlobalBlock& block);
  virtual Tensor normal_block(const Shape& local_shape, DType dtype, Device device,
                              std::uint64_t seed, std::uint64_t counter_base,
                              const GlobalBlock& block);
  virtual Tensor dropout_mask(const Shape& local_shape, DType dtype, Device device, double p,
                              std::uint64_t seed, std::uint64_t counter_base,
                              const GlobalBlock& block);

  // ---- attention (attention.h) ----
  virtual void causal_mask_(Tensor& scores);
  virtual void causal_mask_backward_(Tensor& grad);

  // ---- fused optimizer updates (optim.h) ----
  virtual void sgd_update_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first,
                           const SgdHyper& h);
  virtual void adam_update_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                            Tensor& max_exp_avg_sq, const AdamHyper& h);

 protected:
  // Throws std::runtime_error("<device> does not support <kernel>").
  [[noreturn]] void unsupported(const char* kernel) const;

 private:
  std::string device_name_;
};

// The backend registered for a device type: one acquire load, no lock. Throws
// std::invalid_argument "kernel_backend: no kernel backend registered for device type cuda".
KernelBackend& kernel_backend(DeviceType type);
// Registers (or replaces, or with nullptr removes) the backend of a device type; it must outlive
// every kernel call. The CPU backend is registered from the start.
void register_kernel_backend(DeviceType type, KernelBackend* backend);
// The backend registered now, or nullptr (for tests that swap one in and restore it).
KernelBackend* registered_kernel_backend(DeviceType type);

// The backend of one tensor's device.
inline KernelBackend& backend_for(const Tensor& t) { return kernel_backend(t.device().type); }
// The backend of the defined tensors among `tensors`, which must share one device, else
// "<what>: tensors on different devices: a is cpu, b is standin:0" (names[i] names tensors[i]).
// With no defined tensor, the CPU backend.
KernelBackend& backend_for(std::initializer_list<const Tensor*> tensors,
                           std::initializer_list<const char*> names, const char* what);

}  // namespace tensorpar::kernels
