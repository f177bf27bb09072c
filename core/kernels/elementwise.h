#pragma once
// Element-wise kernels with numpy broadcasting: the arithmetic behind the autograd ops. Each
// function checks its arguments, then runs on its inputs' device through backend.h.
//
// Inputs are dense row-major tensors on one device; every result is a new tensor of the input
// dtype on that device.
// float32 and float64 are supported everywhere; int64 also for add/sub/mul (wrapping modulo
// 2^64) and for the data movement of broadcast_to (which takes every dtype). Anything else throws
// "<op>: dtype bfloat16 is not supported"; mixed dtypes throw naming both.
//
// Broadcasting aligns trailing dims; an extent of 1 stretches to the other operand's:
//   [4, 1, 3] * [5, 1]  ->  [4, 5, 3]      [2, 3] + [3]  ->  [2, 3]      [2, 3] + [4]  throws
#include <cstdint>

#include "core/tensor/shape.h"
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

// numpy broadcasting: align trailing dims; an extent of 1 stretches.
// "<op>: shapes [2, 3] and [4] cannot be broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// A new tensor of `shape` holding t repeated along the stretched and prepended dims:
//   broadcast_to([[1], [2]], [2, 3]) == [[1, 1, 1], [2, 2, 2]]. Any dtype.
Tensor broadcast_to(const Tensor& t, const Shape& shape, const char* op = "broadcast_to");
// The backward of broadcast_to: sums t over the dims that broadcasting added or stretched so the
// result has `shape`: sum_to_shape(ones([4, 2, 3]), [2, 1]) == [[12], [12]] (dim 0 was added,
// dim 2 stretched from 1 to 3; each output element sums 4 * 3 ones).
// Always a new tensor, even when t already has `shape`.
Tensor sum_to_shape(const Tensor& t, const Shape& shape);

enum class BinaryOp { Add, Sub, Mul, Div };
// "add", "sub", "mul", "div".
const char* binary_name(BinaryOp op);
// a op b with broadcasting; same dtype required. `what` names the caller in errors. Division
// is float-only (int64 a / b throws).
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* what);
// a op b for equal shapes and every dtype: bfloat16 computes in float32 and rounds back, int64
// add/sub/mul wrap and int64 division truncates toward zero ("div: integer division by zero",
// "div: integer division overflow (int64 min / -1)"). Different shapes take binary() above.
// Errors name the op: "mul: dtype mismatch float32 vs bfloat16", "add: shape mismatch ...".
Tensor binary_every_dtype(BinaryOp op, const Tensor& a, const Tensor& b);
// a op s for every dtype, as binary_every_dtype (an int64 tensor needs an integral s).
Tensor binary_scalar_every_dtype(BinaryOp op, const Tensor& a, double s);
// In place, equal shapes and dtypes, every dtype: a op= b; `what` names the caller in errors.
void binary_(BinaryOp op, Tensor& a, const Tensor& b, const char* what);
// In place, every dtype: a op= s.
void binary_scalar_(BinaryOp op, Tensor& a, double s, const char* what);

// a op s. For int64 tensors s must be an integer ("add: scalar 0.5 is not an integer ...").
Tensor binary_scalar(BinaryOp op, const Tensor& a, double s);
// s op a  (e.g. 1 - a, 1 / a).
Tensor scalar_binary(BinaryOp op, double s, const Tensor& a);

// a^exponent element-wise (float only); pow_scalar(a, 2) squares exactly.
Tensor pow_scalar(const Tensor& a, double exponent);
// grad * e * a^(e-1); zero everywhere for e == 0 (as torch, even at a == 0).
Tensor pow_scalar_backward(const Tensor& grad, const Tensor& a, double exponent);

enum class UnaryOp { Neg, Relu, GeluTanh, GeluExact, Silu, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid };
// "neg", "relu", "gelu_tanh", "gelu_exact", "silu", "exp", "log", "sqrt", "rsqrt", "tanh",
// "sigmoid".
const char* unary_name(UnaryOp op);
// Float only. gelu_exact(x) = 0.5 x (1 + erf(x / sqrt 2));
// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), as torch's approximate="tanh".
// relu(NaN) is NaN, as in torch.
Tensor unary(UnaryOp op, const Tensor& x);
// grad * d op(x) / dx, given the forward input x and output y = unary(op, x) (use whichever is
// cheaper). Which one is read: neg neither; relu, exp, sqrt, rsqrt, tanh and sigmoid read y;
// gelu_tanh, gelu_exact, silu and log read x. The one not read may be an undefined Tensor.
Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& x, const Tensor& y);
// Whether unary_backward reads the forward output y (relu, exp, sqrt, rsqrt, tanh, sigmoid) rather
// than x (neg reads neither).
bool unary_backward_reads_output(UnaryOp op);

// In place: a += alpha * b (same shape and dtype, float only). Used for gradient accumulation
// and optimizers. b may be a itself.
void axpy_(Tensor& a, double alpha, const Tensor& b);

// In place: t <- a + b * t, each element computed in double and rounded once (float only).
// Turns uniform [0, 1) or standard normal draws into the initialisers' ranges.
void affine_(Tensor& t, double a, double b, const char* what = "affine_");

}  // namespace tensorpar::kernels
