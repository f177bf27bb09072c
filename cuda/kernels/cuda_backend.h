#pragma once
// The CUDA kernel backend: every entry of kernels::KernelBackend (core/kernels/backend.h) on CUDA
// memory, registered for DeviceType::CUDA by register_cuda_device(). Kernels run on the rank's
// current stream of their tensors' device (cuda/stream.h) and never wait for the host, except
// where a result is a host value (equal, allclose, max_abs_diff) or the data may be bad (an
// index out of range, an integer division by zero), which the entry checks after its launch.
//
// One file per family beside this one; each kernel sits next to the CPU reference it must match
// (core/kernels/cpu/<family>.cpp), and tests/cuda checks one against the other:
//   elementwise.cu   binary, scalar, unary and their backwards as one functor template per family
//   reduce.cu        sums, means, max/argmax, comparisons (CUB block reductions)
//   layout.cu        cat, permute, the causal mask
//   matmul.cpp       matmul, linear and its backward through cuBLASLt
//   rows.cu          softmax, log-softmax, layer and RMS norm: one block per row
//   nn.cu            embedding, losses, vocab-parallel pieces, Philox blocks, fused optimizers
#include <atomic>

#include "core/kernels/backend.h"

namespace tensorpar::cuda {

using kernels::AdamHyper;
using kernels::BinaryOp;
using kernels::CrossEntropyResult;
using kernels::GlobalBlock;
using kernels::KernelBackend;
using kernels::LinearGrads;
using kernels::MaxResult;
using kernels::NormGrads;
using kernels::NormResult;
using kernels::Reduction;
using kernels::SgdHyper;
using kernels::UnaryOp;

class CudaBackend final : public KernelBackend {
 public:
  CudaBackend();

  // f32 matmul and linear may use TF32 tensor cores (10-bit mantissa products, f32 sums):
  // off by default, so f32 results stay within f32 rounding of the CPU's.
  void set_allow_tf32(bool allow) { allow_tf32_.store(allow, std::memory_order_relaxed); }
  bool allow_tf32() const { return allow_tf32_.load(std::memory_order_relaxed); }

  Tensor broadcast_to(const Tensor& t, const Shape& shape) override;
  Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& shape,
                const char* what) override;
  void binary_(BinaryOp op, Tensor& a, const Tensor& b, const char* what) override;
  Tensor binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_on_left,
                       const char* what) override;
  void binary_scalar_(BinaryOp op, Tensor& a, double s, const char* what) override;
  Tensor pow_scalar(const Tensor& a, double exponent) override;
  Tensor pow_scalar_backward(const Tensor& grad, const Tensor& a, double exponent) override;
  Tensor unary(UnaryOp op, const Tensor& x) override;
  Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x, const Tensor& y) override;
  void axpy_(Tensor& a, double alpha, const Tensor& b) override;
  void affine_(Tensor& t, double a, double b) override;
  Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) override;
  Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) override;
  MaxResult max_dim(const Tensor& x, std::int64_t dim, bool keepdim) override;
  Tensor max_dim_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape,
                          std::int64_t dim, bool keepdim) override;
  Tensor reduce_all(kernels::ReduceOp op, const Tensor& x) override;
  Tensor reduce_dim(kernels::ReduceOp op, const Tensor& x, std::int64_t dim, bool keepdim) override;
  bool equal(const Tensor& a, const Tensor& b) override;
  bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) override;
  double max_abs_diff(const Tensor& a, const Tensor& b) override;
  Tensor cat(const std::vector<Tensor>& tensors, std::int64_t d, const Shape& shape) override;
  Tensor permute(const Tensor& x, const std::vector<std::int64_t>& perm) override;
  Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) override;
  Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) override;
  LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& w, bool need_x,
                              bool need_w, bool need_bias) override;
  Tensor softmax(const Tensor& x, std::int64_t dim) override;
  Tensor softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) override;
  Tensor log_softmax(const Tensor& x, std::int64_t dim) override;
  Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, std::int64_t dim) override;
  NormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        double eps) override;
  NormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                const Tensor& mean, const Tensor& rstd, bool need_weight,
                                bool need_bias) override;
  NormResult rms_norm(const Tensor& x, const Tensor& weight, double eps) override;
  NormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                              const Tensor& rstd, bool need_weight) override;
  Tensor embedding(const Tensor& weight, const Tensor& indices, std::int64_t row_offset,
                   std::int64_t num_embeddings) override;
  Tensor embedding_backward(const Tensor& grad, const Tensor& indices, std::int64_t local_rows,
                            std::int64_t row_offset) override;
  CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                   std::int64_t ignore_index, Reduction reduction) override;
  CrossEntropyResult nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                              std::int64_t ignore_index, Reduction reduction) override;
  Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& target,
                                const Tensor& weight, std::int64_t ignore_index,
                                Reduction reduction, const Tensor& total_weight) override;
  Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, const Tensor& weight,
                           std::int64_t ignore_index, Reduction reduction,
                           const Tensor& total_weight, const Shape& input_shape,
                           DType dtype) override;
  Tensor gather_class(const Tensor& values, const Tensor& target, std::int64_t class_offset,
                      std::int64_t classes, std::int64_t ignore_index, const char* what) override;
  Tensor class_weights(const Tensor& target, const Tensor& weight, std::int64_t classes,
                       std::int64_t ignore_index, DType dtype, const char* what) override;
  void scatter_class_add_(Tensor& out, const Tensor& target, const Tensor& src,
                          std::int64_t class_offset, std::int64_t ignore_index) override;
  Tensor uniform_block(const Shape& local_shape, DType dtype, Device device, std::uint64_t seed,
                       std::uint64_t counter_base, const GlobalBlock& block) override;
  Tensor normal_block(const Shape& local_shape, DType dtype, Device device, std::uint64_t seed,
                      std::uint64_t counter_base, const GlobalBlock& block) override;
  Tensor dropout_mask(const Shape& local_shape, DType dtype, Device device, double p,
                      std::uint64_t seed, std::uint64_t counter_base,
                      const GlobalBlock& block) override;
  void causal_mask_(Tensor& scores) override;
  void causal_mask_backward_(Tensor& grad) override;
  void sgd_update_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first,
                   const SgdHyper& h) override;
  void adam_update_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                    Tensor& max_exp_avg_sq, const AdamHyper& h) override;

 private:
  std::atomic<bool> allow_tf32_{false};
};

// The process-wide instance (made on first use, never destroyed).
CudaBackend& cuda_backend();

}  // namespace tensorpar::cuda
