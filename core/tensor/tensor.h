#pragma once
// Tensor: a dense, contiguous, row-major array with a dtype and a device.
//
// A Tensor is a handle: copying it shares the same data (as torch.Tensor does in Python).
// clone() makes an independent copy. Storage comes from the allocator of the tensor's device.
//
//   Tensor t = arange(6, DType::Float32).reshape({2, 3});   // [[0,1,2],[3,4,5]]
//   Tensor c = t.narrow(1, 1, 2);                            // [[1,2],[4,5]]
//   std::vector<Tensor> parts = t.chunk(2, 0);               // [[0,1,2]], [[3,4,5]]
//
// Views: reshape() and narrow()/chunk() along the outermost non-unit dim share storage with the
// source; narrow()/chunk() along an inner dim return a fresh copy (storage stays contiguous).
// Treat narrow()/chunk() results as values: to write into a region use narrow_assign_().
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/tensor/device.h"
#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"

namespace tensorpar {

class Generator;
struct AutogradMeta;
struct DTensorSpec;
class Tensor;
class Node;

// Raw memory from a device allocator, shared by every tensor viewing it.
class Storage {
 public:
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  // The allocator that produced data_: it frees it even if the registry changes meanwhile.
  Allocator* allocator_ = nullptr;
};

struct DistributedPart;

// The state behind a Tensor handle.
//
// A dense tensor owns (a view of) storage. A distributed tensor (a DTensor, dtensor.h) has no
// storage of its own: `dist` holds this rank's local tensor and the spec, and `shape`/`dtype`
// are the global ones. Autograd state (autograd.h) is allocated on first use.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // in elements, into storage
  Shape shape;
  DType dtype = DType::Float32;
  Device device;  // the storage's device; for a DTensor, its local tensor's
  std::shared_ptr<const DistributedPart> dist;
  std::shared_ptr<AutogradMeta> autograd;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialised contents, on the calling rank's current device unless given (device.h).
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32,
                      Device device = current_device());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  // Extent of one dim; negative dims count from the end.
  std::int64_t size(std::int64_t dim) const;
  std::int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::size_t nbytes() const;

  // Host code's pointer to the elements: throws unless the tensor lives in host memory (a CPU
  // tensor). Device memory (cuda, the stand-in device) is reached through device_data().
  void* data_ptr();
  const void* data_ptr() const;
  // The elements' address on the tensor's own device, whatever it is. Only kernel backends,
  // device interfaces and communicators may use it: host code that reads through it breaks on
  // every accelerator.
  void* device_data();
  const void* device_data() const;
  // Typed pointer; throws when T does not match dtype().
  template <class T>
  T* data();
  template <class T>
  const T* data() const;

  // Value of a one-element tensor, converted to double.
  double item() const;

  // The same data with another shape of equal numel; one extent may be -1 (inferred).
  // Recorded by autograd (and sharding-aware on a DTensor) like tensorpar::reshape; defined with
  // the ops (core/ops/tensor_methods.cpp), which is what a recorded reshape needs.
  Tensor reshape(const Shape& shape) const;
  // Elements [start, start + length) along `dim` (see the header comment on views).
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  // torch.chunk: ceil(size/chunks) elements per chunk; may return fewer than `chunks` chunks
  // (chunk(4) of 5 elements gives sizes [2, 2, 1]); never returns empty chunks unless size is 0.
  std::vector<Tensor> chunk(std::int64_t chunks, std::int64_t dim = 0) const;
  // A deep, independent copy.
  Tensor clone() const;
  // Converted copy (or *this when dtype already matches).
  Tensor to(DType dtype) const;
  // A copy on `device` (or *this when already there), through the devices' interfaces
  // (device_interface.h): to(cpu()) is how host code reads a device tensor.
  Tensor to(Device device) const;

  // In-place: copies src into *this (same shape; dtypes may differ and are converted).
  Tensor& copy_(const Tensor& src);
  // In-place: writes src into elements [start, start + src.size(dim)) along `dim`.
  Tensor& narrow_assign_(std::int64_t dim, std::int64_t start, const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // In-place element-wise ops (same shape) and scalar ops.
  Tensor& add_(const Tensor& other);
  Tensor& mul_(double scalar);
  Tensor& div_(double scalar);

  // ---- autograd (autograd.h) ----
  bool requires_grad() const;
  // Marks a leaf as needing gradients: "requires_grad_: only leaf tensors can change
  // requires_grad" for results of recorded ops.
  Tensor& requires_grad_(bool requires_grad = true);
  // The gradient accumulated by backward() for a leaf (undefined before the first backward).
  // A DTensor's gradient is a DTensor with its own placements, which may be Partial.
  Tensor grad() const;
  void set_grad(const Tensor& grad);
  // The node that produced this tensor; null for leaves.
  std::shared_ptr<Node> grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  // The same data, cut off from the graph (shares storage; requires_grad false).
  Tensor detach() const;
  // Reverse-mode differentiation from this tensor: `grad` defaults to 1 for a one-element tensor.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // True for a DTensor (dtensor.h): then shape() is global and data_ptr() is unavailable.
  bool is_distributed() const;

  // True when both handles share storage (views of one another, or the same tensor).
  bool shares_storage_with(const Tensor& other) const;
  // Python-like printing: tensor([[0., 1.], [2., 3.]], dtype=float32)
  std::string to_string() const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

 private:
  const TensorImpl& checked() const;
  // The impl, or std::invalid_argument "<what>: the tensor is undefined".
  const TensorImpl& checked(const char* what) const;
  // checked(), and not a DTensor: "<what>: not available on a DTensor ...".
  const TensorImpl& dense(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// The plain-tensor forms of Tensor::reshape, clone and to, which record nothing and throw
// std::invalid_argument on a DTensor: a view with another shape (one extent may be -1), a deep
// copy, a converted copy (t itself when the dtype matches).
Tensor reshape_view(const Tensor& t, const Shape& shape);
Tensor clone_data(const Tensor& t);
Tensor convert_dtype(const Tensor& t, DType dtype);

// ---- factories ----
// Every factory makes its tensor on `device`, by default the calling rank's current device
// (device.h: CPU unless a DeviceGuard says otherwise), so a function written once creates its
// tensors on whichever device its rank runs.
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = current_device());
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = current_device());
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
            Device device = current_device());
// [0, 1, ..., end-1] as a 1-D tensor.
Tensor arange(std::int64_t end, DType dtype = DType::Int64, Device device = current_device());
// [start, start+step, ...) up to end (exclusive).
Tensor arange(double start, double end, double step, DType dtype,
              Device device = current_device());
// From values in row-major order; values.size() must equal numel(shape).
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                   Device device = current_device());
// Copies the elements out to the host, converted to T.
template <class T>
std::vector<T> to_vector(const Tensor& t);

// Uniform [0, 1) and standard normal samples from a counter-based Philox stream (philox.h):
// element i of the result is the value at counter gen.offset() + i; the generator then advances
// by numel. Any slice of a stream can therefore be reproduced exactly.
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::Float32,
           Device device = current_device());
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::Float32,
            Device device = current_device());

// Copies the box of `extent` starting at `src_start` in src to `dst_start` in dst (same dtype,
// rank and device; both row-major contiguous), through the device interface. Example: dst
// zeros([3, 4]), src [2, 2]: copy_box(dst, {1, 2}, src, {0, 0}, {2, 2}) writes dst[1:3, 2:4].
void copy_box(Tensor& dst, const Shape& dst_start, const Tensor& src, const Shape& src_start,
              const Shape& extent);

// ---- shape ops ----
// Concatenation along `dim`; all other extents and dtypes must match. Differentiable, and on
// DTensors it concatenates the global tensors (defined with the ops, core/ops/shape_ops.cpp).
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);

// ---- comparisons ----
// Same shape, same dtype and identical values.
bool equal(const Tensor& a, const Tensor& b);
// Same shape and |a - b| <= atol + rtol * |b| element-wise (dtypes may differ).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
// Largest |a - b| (same shapes); 0 for empty tensors.
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace tensorpar
