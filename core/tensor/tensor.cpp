// Tensor basics: storage, accessors, views, copies, conversion, factories.
#include "core/tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/base/error.h"
#include "core/tensor/device_interface.h"
#include "core/tensor/out_of_memory.h"

namespace tensorpar {

namespace {

// Runs f, prefixing the message of a std::invalid_argument it throws with "<what>: ".
template <class F>
void with_context(const char* what, F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(cat(what, ": ", e.what()));
  }
}

DeviceInterface& memory_of(const Tensor& t) { return device_interface(t.device().type); }

// n elements of `from` at src (on src_device) written as `to` at dst (on dst_device).
void convert_across(void* dst, DType to, Device dst_device, const void* src, DType from,
                    Device src_device, std::int64_t n, const char* what) {
  if (n == 0) return;
  with_context(what, [&] {
    if (from == to) {
      copy_between(dst, dst_device, src, src_device, std::size_t(n) * dtype_size(from));
    } else if (dst_device == src_device) {
      device_interface(dst_device.type).convert(dst, to, src, from, n);
    } else {  // convert on the source's device, then move
      Tensor staged = Tensor::empty({n}, to, src_device);
      device_interface(src_device.type).convert(staged.device_data(), to, src, from, n);
      copy_between(dst, dst_device, staged.device_data(), src_device,
                   std::size_t(n) * dtype_size(to));
    }
  });
}

// Product of the extents of dims [begin, end).
std::int64_t extent_product(const Shape& shape, std::int64_t begin, std::int64_t end) {
  std::int64_t n = 1;
  for (std::int64_t i = begin; i < end; ++i) n *= shape[std::size_t(i)];
  return n;
}

}  // namespace

// ---- Storage ----

Storage::Storage(std::size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(&allocator_for(device.type)) {
  data_ = allocator_->allocate_on(device, nbytes);
}

Storage::~Storage() { allocator_->deallocate(data_, nbytes_); }

// ---- accessors ----

const TensorImpl& Tensor::checked() const { return checked("Tensor"); }

const TensorImpl& Tensor::dense(const char* what) const {
  const TensorImpl& impl = checked(what);
  check_arg(impl.dist == nullptr, what, ": not available on a DTensor (global shape ",
            shape_text(impl.shape), "); use to_local() for this rank's shard");
  return impl;
}

const TensorImpl& Tensor::checked(const char* what) const {
  check_arg(impl_ != nullptr, what, ": the tensor is undefined");
  return *impl_;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (std::int64_t extent : shape) {
    check_arg(extent >= 0, "empty: negative extent ", extent, " in shape ", shape_text(shape));
  }
  dtype_size(dtype);  // rejects an unknown dtype
  auto impl = std::make_shared<TensorImpl>();
  const auto elements = std::size_t(tensorpar::numel(shape));
  if (elements > std::numeric_limits<std::size_t>::max() / dtype_size(dtype)) {
    throw OutOfMemory(cat("out of memory: a ", shape_text(shape), " ", dtype_name(dtype),
                          " tensor on ", device_str(device), " needs more bytes than memory can "
                          "address"));
  }
  const std::size_t nbytes = elements * dtype_size(dtype);
  try {
    impl->storage = std::make_shared<Storage>(nbytes, device);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(cat("out of memory: cannot allocate ", nbytes, " bytes for a ",
                          shape_text(shape), " ", dtype_name(dtype), " tensor on ",
                          device_str(device)));
  }
  impl->shape = shape;
  impl->dtype = dtype;
  impl->device = device;
  return Tensor(std::move(impl));
}

const Shape& Tensor::shape() const { return checked("Tensor::shape").shape; }

std::int64_t Tensor::size(std::int64_t dim) const {
  const Shape& s = checked("Tensor::size").shape;
  return s[std::size_t(normalize_dim(dim, std::int64_t(s.size()), "Tensor::size"))];
}

std::int64_t Tensor::numel() const { return tensorpar::numel(checked("Tensor::numel").shape); }

DType Tensor::dtype() const { return checked("Tensor::dtype").dtype; }

Device Tensor::device() const {
  const TensorImpl& impl = checked("Tensor::device");
  return impl.device;
}

std::size_t Tensor::nbytes() const { return std::size_t(numel()) * dtype_size(dtype()); }

void* Tensor::device_data() {
  const TensorImpl& impl = checked("Tensor::device_data");
  check_arg(impl.storage != nullptr,
            "Tensor::data_ptr: a DTensor has no single buffer; use to_local() for this rank's "
            "shard or full_tensor() for the whole tensor");
  return static_cast<char*>(impl.storage->data()) +
         impl.offset * std::int64_t(dtype_size(impl.dtype));
}

const void* Tensor::device_data() const { return const_cast<Tensor*>(this)->device_data(); }

void* Tensor::data_ptr() {
  const TensorImpl& impl = checked("Tensor::data_ptr");
  check_arg(is_host(impl.device), "Tensor::data_ptr: the tensor is on ", device_str(impl.device),
            ", whose memory host code may not read; copy it to the CPU with .to(cpu()) first");
  return device_data();
}

const void* Tensor::data_ptr() const { return const_cast<Tensor*>(this)->data_ptr(); }

template <class T>
T* Tensor::data() {
  check_arg(dtype() == dtype_of<T>(), "Tensor::data: requested ", dtype_name(dtype_of<T>()),
            " but the tensor has dtype ", dtype_name(dtype()));
  return static_cast<T*>(data_ptr());
}

template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

template float* Tensor::data<float>();
template double* Tensor::data<double>();
template std::int64_t* Tensor::data<std::int64_t>();
template BFloat16* Tensor::data<BFloat16>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const std::int64_t* Tensor::data<std::int64_t>() const;
template const BFloat16* Tensor::data<BFloat16>() const;

double Tensor::item() const {
  check_arg(numel() == 1, "Tensor::item: expects a tensor with one element, got shape ",
            shape_text(shape()));

  double value = 0;
  convert_across(&value, DType::Float64, cpu(), device_data(), dtype(), device(), 1, "Tensor::item");
  return value;
}

bool Tensor::is_distributed() const { return impl_ != nullptr && impl_->dist != nullptr; }

bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage != nullptr &&
         impl_->storage == other.impl_->storage;
}

// ---- views ----

Tensor reshape_view(const Tensor& t, const Shape& new_shape) {
  check_arg(t.defined(), "Tensor::reshape: the tensor is undefined");
  check_arg(!t.is_distributed(), "Tensor::reshape: a DTensor reshapes through tensorpar::reshape");
  const TensorImpl& impl = *t.impl();
  Shape shape = new_shape;
  std::int64_t inferred = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check_arg(inferred < 0, "Tensor::reshape: more than one -1 in shape ", shape_text(new_shape));
      inferred = std::int64_t(i);
    } else {
      check_arg(shape[i] >= 0, "Tensor::reshape: negative extent ", shape[i], " in shape ",
                shape_text(new_shape));
      known *= shape[i];
    }
  }
  const std::int64_t n = tensorpar::numel(impl.shape);
  if (inferred >= 0) {
    check_arg(known != 0 && n % known == 0, "Tensor::reshape: shape ", shape_text(new_shape),
              " is invalid for a tensor of ", n, " elements");
    shape[std::size_t(inferred)] = n / known;
  }
  check_arg(tensorpar::numel(shape) == n, "Tensor::reshape: shape ", shape_text(new_shape),
            " is invalid for a tensor of ", n, " elements");
  auto view = std::make_shared<TensorImpl>(impl);
  view->autograd = nullptr;  // a view made here is not recorded by autograd
  view->shape = std::move(shape);
  return Tensor(std::move(view));
}

// A view when the selected elements are one contiguous run of storage (every dim before `dim`
// has extent 1, or the whole dim is selected, or nothing is selected); otherwise a fresh copy.
Tensor Tensor::narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const {
  const TensorImpl& impl = dense("narrow");
  const std::int64_t d = normalize_dim(dim, std::int64_t(impl.shape.size()), "narrow");
  const std::int64_t extent = impl.shape[std::size_t(d)];
  check_arg(start >= 0, "narrow: start ", start, " is negative");
  check_arg(length >= 0, "narrow: length ", length, " is negative");
  check_arg(start <= extent && length <= extent - start, "narrow: start ", start, " + length ",
            length, " exceeds size ", extent, " of dim ", d);
  const std::int64_t outer = extent_product(impl.shape, 0, d);
  const std::int64_t inner = extent_product(impl.shape, d + 1, std::int64_t(impl.shape.size()));
  Shape shape = impl.shape;
  shape[std::size_t(d)] = length;
  if (outer == 1 || length == extent || tensorpar::numel(shape) == 0) {
    auto view = std::make_shared<TensorImpl>(impl);
  view->autograd = nullptr;  // a view made here is not recorded by autograd
    view->shape = std::move(shape);
    if (outer == 1) view->offset += start * inner;
    if (tensorpar::numel(view->shape) == 0) view->offset = impl.offset;
    return Tensor(std::move(view));
  }
  Tensor out = empty(shape, impl.dtype, device());
  Shape start_index(impl.shape.size(), 0);
  start_index[std::size_t(d)] = start;
  memory_of(*this).copy_box(out.device_data(), shape, Shape(shape.size(), 0), device_data(),
                            impl.shape, start_index, shape, dtype_size(impl.dtype));
  return out;
}

// A dim of size 0 gives `chunks` empty tensors, as torch.chunk does.
std::vector<Tensor> Tensor::chunk(std::int64_t chunks, std::int64_t dim) const {
  const TensorImpl& impl = dense("chunk");
  check_arg(chunks > 0, "chunk: chunks ", chunks, " must be positive");
  const std::int64_t d = normalize_dim(dim, std::int64_t(impl.shape.size()), "chunk");
  const std::int64_t extent = impl.shape[std::size_t(d)];
  std::vector<Tensor> parts;
  if (extent == 0) {
    for (std::int64_t i = 0; i < chunks; ++i) parts.push_back(narrow(d, 0, 0));
    return parts;
  }
  const std::int64_t step = (extent + chunks - 1) / chunks;
  for (std::int64_t start = 0; start < extent; start += step) {
    parts.push_back(narrow(d, start, std::min(step, extent - start)));
  }
  return parts;
}

// ---- copies ----

Tensor clone_data(const Tensor& t) {
  check_arg(t.defined(), "clone: the tensor is undefined");
  check_arg(!t.is_distributed(), "clone: a DTensor clones through tensorpar::clone");
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  if (out.nbytes() > 0) memory_of(t).copy(out.device_data(), t.device_data(), out.nbytes());
  return out;
}

Tensor convert_dtype(const Tensor& t, DType dtype) {
  check_arg(t.defined(), "to: the tensor is undefined");
  check_arg(!t.is_distributed(), "to: a DTensor converts through tensorpar::to_dtype");
  if (t.dtype() == dtype) return t;
  Tensor out = Tensor::empty(t.shape(), dtype, t.device());
  convert_across(out.device_data(), dtype, t.device(), t.device_data(), t.dtype(), t.device(),
                 out.numel(), "to");
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  const TensorImpl& impl = dense("copy_");
  src.checked("copy_ (src)");
  check_arg(impl.shape == src.shape(), "copy_: src shape ", shape_text(src.shape()),
            " does not match destination shape ", shape_text(impl.shape));
  // Overlapping storage with a dtype change would read already-converted bytes.
  const Tensor source = (src.dtype() != impl.dtype && shares_storage_with(src)) ? src.clone() : src;
  convert_across(device_data(), impl.dtype, device(), source.device_data(), source.dtype(),
                 source.device(), numel(), "copy_");
  return *this;
}

Tensor& Tensor::narrow_assign_(std::int64_t dim, std::int64_t start, const Tensor& src) {
  const TensorImpl& impl = dense("narrow_assign_");
  src.checked("narrow_assign_ (src)");
  const std::int64_t ndim = std::int64_t(impl.shape.size());
  const std::int64_t d = normalize_dim(dim, ndim, "narrow_assign_");
  check_arg(src.dim() == ndim, "narrow_assign_: src has ", src.dim(),
            " dims but the destination has ", ndim);
  for (std::int64_t i = 0; i < ndim; ++i) {
    check_arg(i == d || src.shape()[std::size_t(i)] == impl.shape[std::size_t(i)],
              "narrow_assign_: src shape ", shape_text(src.shape()),
              " does not match destination shape ", shape_text(impl.shape), " outside dim ", d);
  }
  const std::int64_t extent = impl.shape[std::size_t(d)];
  const std::int64_t length = src.shape()[std::size_t(d)];
  check_arg(start >= 0, "narrow_assign_: start ", start, " is negative");
  check_arg(start <= extent && length <= extent - start, "narrow_assign_: start ", start,
            " + length ", length, " exceeds size ", extent, " of dim ", d);
  // src may alias the destination; bring it to this tensor's dtype and device first.
  const Tensor source = src.to(device()).clone().to(impl.dtype);
  if (source.numel() == 0) return *this;
  Shape dst_start(std::size_t(ndim), 0);
  dst_start[std::size_t(d)] = start;
  memory_of(*this).copy_box(device_data(), impl.shape, dst_start, source.device_data(),
                            source.shape(), Shape(std::size_t(ndim), 0), source.shape(),
                            dtype_size(impl.dtype));
  return *this;
}

Tensor& Tensor::fill_(double value) {
  const TensorImpl& impl = dense("fill_");
  with_context("fill_", [&] { memory_of(*this).fill(device_data(), impl.dtype, numel(), value); });
  return *this;
}

void copy_box(Tensor& dst, const Shape& dst_start, const Tensor& src, const Shape& src_start,
              const Shape& extent) {
  const std::size_t nd = extent.size();
  check_arg(dst.dtype() == src.dtype() && dst.dim() == static_cast<std::int64_t>(nd) &&
                src.dim() == static_cast<std::int64_t>(nd),
            "copy_box: dtype or rank mismatch");
  check_arg(dst.device() == src.device(), "copy_box: dst is on ", device_str(dst.device()),
            " but src is on ", device_str(src.device()));
  if (numel(extent) == 0) return;
  memory_of(dst).copy_box(dst.device_data(), dst.shape(), dst_start, src.device_data(),
                          src.shape(), src_start, extent, dtype_size(src.dtype()));
}

// ---- factories ----

Tensor zeros(const Shape& shape, DType dtype, Device device) {
  return Tensor::empty(shape, dtype, device).fill_(0.0);
}

Tensor ones(const Shape& shape, DType dtype, Device device) {
  return Tensor::empty(shape, dtype, device).fill_(1.0);
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  return Tensor::empty(shape, dtype, device).fill_(value);
}

namespace {

// A host vector of values as a tensor of `dtype` on `device` (converted on the way).
template <class T>
Tensor upload(const std::vector<T>& values, const Shape& shape, DType dtype, Device device,
              const char* what) {
  Tensor out = Tensor::empty(shape, dtype, device);  // validates the shape first
  check_arg(std::int64_t(values.size()) == out.numel(), what, ": ", values.size(),
            " values do not fill shape ", shape_text(shape), " (", out.numel(), " elements)");
  convert_across(out.device_data(), dtype, device, values.data(), dtype_of<T>(), cpu(),
                 out.numel(), what);
  return out;
}

}  // namespace

Tensor arange(std::int64_t end, DType dtype, Device device) {
  check_arg(end >= 0, "arange: end ", end, " is negative");
  std::vector<std::int64_t> values(static_cast<std::size_t>(end));
  for (std::int64_t i = 0; i < end; ++i) values[std::size_t(i)] = i;
  return upload(values, {end}, dtype, device, "arange");
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  check_arg(std::isfinite(start) && std::isfinite(end), "arange: start ", start, " and end ", end,
            " must be finite");
  check_arg(step != 0 && std::isfinite(step), "arange: step ", step,
            " must be finite and non-zero");
  check_arg((end - start) * step >= 0, "arange: step ", step,
            " has the wrong sign to go from start ", start, " to end ", end);
  const double count = std::ceil((end - start) / step);
  check_arg(count < 9.0e15, "arange: ", count, " elements are too many");
  const std::int64_t n = std::int64_t(count);
  std::vector<double> values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) values[std::size_t(i)] = start + double(i) * step;
  return upload(values, {n}, dtype, device, "arange");
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  return upload(values, shape, dtype_of<T>(), device, "from_vector");
}

template <class T>
std::vector<T> to_vector(const Tensor& t) {
  check_arg(t.defined(), "to_vector: the tensor is undefined");
  std::vector<T> values(std::size_t(t.numel()));
  convert_across(values.data(), dtype_of<T>(), cpu(), t.device_data(), t.dtype(), t.device(),
                 t.numel(), "to_vector");
  return values;
}

Tensor Tensor::to(Device device) const {
  const TensorImpl& impl = dense("to");
  if (impl.device == device) return *this;
  Tensor out = empty(impl.shape, impl.dtype, device);
  with_context("to", [&] {
    copy_between(out.device_data(), device, device_data(), impl.device, nbytes());
  });
  return out;
}

template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector<std::int64_t>(const std::vector<std::int64_t>&, const Shape&, Device);
template Tensor from_vector<BFloat16>(const std::vector<BFloat16>&, const Shape&, Device);
template std::vector<float> to_vector<float>(const Tensor&);
template std::vector<double> to_vector<double>(const Tensor&);
template std::vector<std::int64_t> to_vector<std::int64_t>(const Tensor&);
template std::vector<BFloat16> to_vector<BFloat16>(const Tensor&);

}  // namespace tensorpar
