// The meta backend's element-wise, reduction, comparison and layout entries. FLOPs per element:
// 1 for every binary, scalar and unary op (a transcendental counts as one, as a GPU's special
// function unit issues it), 2 for a unary or pow backward and for axpy_ / affine_ (a multiply
// and an add), 1 per input element for a reduction; 0 for data movement (broadcast_to, cat,
// permute).
#include "core/kernels/meta/meta_backend.h"

#include <stdexcept>

#include "core/base/error.h"
#include "core/kernels/common.h"
#include "core/kernels/meta/meta_common.h"

namespace tensorpar::kernels {

using meta::bytes_of;
using meta::note;
using meta::note_in_place;

namespace {

[[noreturn]] void no_values(const char* kernel) {
  throw std::invalid_argument(cat(kernel, ": meta tensors have no values"));
}

}  // namespace

MetaBackend::MetaBackend() : KernelBackend("meta") {}

MetaBackend& meta_backend() {
  static auto* backend = new MetaBackend;  // outlives every kernel call
  return *backend;
}

Tensor MetaBackend::broadcast_to(const Tensor& t, const Shape& shape) {
  Tensor out = Tensor::empty(shape, t.dtype(), t.device());
  note("broadcast_to", "", 0, bytes_of(t), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& shape,
                           const char*) {
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  note("binary", binary_name(op), out.numel(), bytes_of({&a, &b}), bytes_of(out), out);
  return out;
}

void MetaBackend::binary_(BinaryOp op, Tensor& a, const Tensor& b, const char*) {
  note_in_place("binary_", binary_name(op), a, 1, bytes_of(b));
}

Tensor MetaBackend::binary_scalar(BinaryOp op, const Tensor& a, double, bool, const char*) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  note("binary_scalar", binary_name(op), out.numel(), bytes_of(a), bytes_of(out), out);
  return out;
}

void MetaBackend::binary_scalar_(BinaryOp op, Tensor& a, double, const char*) {
  note_in_place("binary_scalar_", binary_name(op), a, 1, 0);
}

Tensor MetaBackend::pow_scalar(const Tensor& a, double) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  note("pow_scalar", "", out.numel(), bytes_of(a), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::pow_scalar_backward(const Tensor& grad, const Tensor& a, double) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  note("pow_scalar_backward", "", 2 * out.numel(), bytes_of({&grad, &a}), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::unary(UnaryOp op, const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  note("unary", unary_name(op), out.numel(), bytes_of(x), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x,
                                   const Tensor& y) {
  Tensor out = Tensor::empty(grad.shape(), grad.dtype(), grad.device());
  // Only the operand the op reads counts (unary_backward_reads_output).
  const Tensor& read = unary_backward_reads_output(op) ? y : (op == UnaryOp::Neg ? Tensor() : x);
  note("unary_backward", unary_name(op), 2 * out.numel(), bytes_of({&grad, &read}), bytes_of(out),
       out);
  return out;
}

void MetaBackend::axpy_(Tensor& a, double, const Tensor& b) {
  note_in_place("axpy_", "", a, 2, bytes_of(b));
}

void MetaBackend::affine_(Tensor& t, double, double) { note_in_place("affine_", "", t, 2, 0); }

Tensor MetaBackend::sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = reduced_mask(x.dim(), dims, "sum");
  Tensor out = Tensor::empty(reduced_shape(x.shape(), mask, keepdim), x.dtype(), x.device());
  note("sum", "", x.numel(), bytes_of(x), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = reduced_mask(x.dim(), dims, "mean");
  Tensor out = Tensor::empty(reduced_shape(x.shape(), mask, keepdim), x.dtype(), x.device());
  note("mean", "", x.numel() + out.numel(), bytes_of(x), bytes_of(out), out);
  return out;
}

MaxResult MetaBackend::max_dim(const Tensor& x, std::int64_t dim, bool keepdim) {
  const Split s = split_at(x.shape(), dim, keepdim, "max_dim");
  MaxResult result{Tensor::empty(s.values_shape, x.dtype(), x.device()),
                   Tensor::empty(s.values_shape, DType::Int64, x.device())};
  note("max_dim", "", x.numel(), bytes_of(x), bytes_of({&result.values, &result.indices}),
       result.values);
  return result;
}

Tensor MetaBackend::max_dim_backward(const Tensor& grad, const Tensor& indices,
                                     const Shape& input_shape, std::int64_t, bool) {
  Tensor out = Tensor::empty(input_shape, grad.dtype(), grad.device());
  note("max_dim_backward", "", 0, bytes_of({&grad, &indices}), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::reduce_all(ReduceOp op, const Tensor& x) {
  Tensor out = Tensor::empty({}, x.dtype(), x.device());
  note("reduce_all", reduce_name(op), x.numel(), bytes_of(x), bytes_of(out), out);
  return out;
}

Tensor MetaBackend::reduce_dim(ReduceOp op, const Tensor& x, std::int64_t dim, bool keepdim) {
  Tensor out = Tensor::empty(reduced_dim_shape(x.shape(), dim, keepdim), x.dtype(), x.device());
  note("reduce_dim", reduce_name(op), x.numel(), bytes_of(x), bytes_of(out), out);
  return out;
}

bool MetaBackend::equal(const Tensor&, const Tensor&) { no_values("equal"); }

bool MetaBackend::allclose(const Tensor&, const Tensor&, double, double) { no_values("allclose"); }

double MetaBackend::max_abs_diff(const Tensor&, const Tensor&) { no_values("max_abs_diff"); }

Tensor MetaBackend::cat(const std::vector<Tensor>& tensors, std::int64_t, const Shape& shape) {
  Tensor out = Tensor::empty(shape, tensors.front().dtype(), tensors.front().device());
  std::int64_t read = 0;
  for (const Tensor& t : tensors) read += bytes_of(t);
  note("cat", "", 0, read, bytes_of(out), out);
  return out;
}

Tensor MetaBackend::permute(const Tensor& x, const std::vector<std::int64_t>& perm) {
  Shape out_shape(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) out_shape[i] = x.shape()[std::size_t(perm[i])];
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  note("permute", "", 0, bytes_of(x), bytes_of(out), out);
  return out;
}

}  // namespace tensorpar::kernels
