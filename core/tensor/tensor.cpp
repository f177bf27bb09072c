// Tensor basics: storage, accessors, views, copies, conversion, factories.
#include "core/tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/base/error.h"

namespace tensorpar {

namespace {

// Converts one element. bfloat16 goes through float32; floating -> int64 truncates toward zero
// and throws for NaN, infinities and values outside the int64 range (a C++ cast would be UB).
template <class To, class From>
To convert(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (std::is_same_v<From, BFloat16>) {
    return convert<To>(static_cast<float>(value));
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

// convert(), with the caller named in a conversion error: "fill_: value nan is not ...".
template <class To, class From>
To convert(From value, const char* what) {
  try {
    return convert<To>(value);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(cat(what, ": ", e.what()));
  }
}

// Copies n elements of type `from` at src into elements of type `to` at dst; one dispatch per
// call. `what` names the caller in errors.
void convert_elements(const void* src, DType from, void* dst, DType to, std::int64_t n,
                      const char* what) {
  if (n == 0) return;
  if (from == to) {
    std::memmove(dst, src, std::size_t(n) * dtype_size(from));
    return;
  }
  try {
    visit_dtype(from, [&]<class S>() {
      visit_dtype(to, [&]<class D>() {
        const S* s = static_cast<const S*>(src);
        D* d = static_cast<D*>(dst);
        for (std::int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
      });
    });
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(cat(what, ": ", e.what()));
  }
}

void check_cpu(const Tensor& t, const char* what) {
  check_arg(t.device().type == DeviceType::CPU, what, ": expects a CPU tensor, got ",
            device_str(t.device()));
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
  data_ = allocator_->allocate(nbytes);
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
  impl->storage =
      std::make_shared<Storage>(std::size_t(tensorpar::numel(shape)) * dtype_size(dtype), device);
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
  check_cpu(*this, "Tensor::item");
  double value = 0;
  convert_elements(data_ptr(), dtype(), &value, DType::Float64, 1, "Tensor::item");
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
  check_cpu(*this, "narrow");
  Tensor out = empty(shape, impl.dtype, device());
  const std::size_t elem = dtype_size(impl.dtype);
  const std::size_t run = std::size_t(length * inner) * elem;
  const char* src = static_cast<const char*>(data_ptr()) + std::size_t(start * inner) * elem;
  char* dst = static_cast<char*>(out.data_ptr());
  for (std::int64_t o = 0; o < outer; ++o) {
    std::memcpy(dst + std::size_t(o) * run, src + std::size_t(o * extent * inner) * elem, run);
  }
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
  check_cpu(t, "clone");
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  if (out.nbytes() > 0) std::memcpy(out.data_ptr(), t.data_ptr(), out.nbytes());
  return out;
}

Tensor convert_dtype(const Tensor& t, DType dtype) {
  check_arg(t.defined(), "to: the tensor is undefined");
  check_arg(!t.is_distributed(), "to: a DTensor converts through tensorpar::to_dtype");
  if (t.dtype() == dtype) return t;
  check_cpu(t, "to");
  Tensor out = Tensor::empty(t.shape(), dtype, t.device());
  convert_elements(t.data_ptr(), t.dtype(), out.data_ptr(), dtype, out.numel(), "to");
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  const TensorImpl& impl = dense("copy_");
  src.checked("copy_ (src)");
  check_arg(impl.shape == src.shape(), "copy_: src shape ", shape_text(src.shape()),
            " does not match destination shape ", shape_text(impl.shape));
  check_cpu(*this, "copy_");
  check_cpu(src, "copy_");
  // Overlapping storage with a dtype change would read already-converted bytes.
  const Tensor source = (src.dtype() != impl.dtype && shares_storage_with(src)) ? src.clone() : src;
  convert_elements(source.data_ptr(), source.dtype(), data_ptr(), impl.dtype, numel(), "copy_");
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
  check_cpu(*this, "narrow_assign_");
  check_cpu(src, "narrow_assign_");
  const Tensor source = src.clone().to(impl.dtype);  // src may alias the destination
  const std::int64_t outer = extent_product(impl.shape, 0, d);
  const std::int64_t inner = extent_product(impl.shape, d + 1, ndim);
  const std::size_t elem = dtype_size(impl.dtype);
  const std::size_t run = std::size_t(length * inner) * elem;
  if (run == 0) return *this;
  const char* s = static_cast<const char*>(source.data_ptr());
  char* dst = static_cast<char*>(data_ptr()) + std::size_t(start * inner) * elem;
  for (std::int64_t o = 0; o < outer; ++o) {
    std::memcpy(dst + std::size_t(o * extent * inner) * elem, s + std::size_t(o) * run, run);
  }
  return *this;
}

Tensor& Tensor::fill_(double value) {
  const TensorImpl& impl = dense("fill_");
  check_cpu(*this, "fill_");
  visit_dtype(impl.dtype, [&]<class T>() {
    const T v = convert<T>(value, "fill_");
    T* p = data<T>();
    std::fill(p, p + numel(), v);
  });
  return *this;
}

// ---- factories ----

Tensor zeros(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype).fill_(0.0); }

Tensor ones(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype).fill_(1.0); }

Tensor full(const Shape& shape, double value, DType dtype) {
  return Tensor::empty(shape, dtype).fill_(value);
}

Tensor arange(std::int64_t end, DType dtype) {
  check_arg(end >= 0, "arange: end ", end, " is negative");
  Tensor out = Tensor::empty({end}, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = out.data<T>();
    for (std::int64_t i = 0; i < end; ++i) p[i] = convert<T>(i);
  });
  return out;
}

Tensor arange(double start, double end, double step, DType dtype) {
  check_arg(std::isfinite(start) && std::isfinite(end), "arange: start ", start, " and end ", end,
            " must be finite");
  check_arg(step != 0 && std::isfinite(step), "arange: step ", step,
            " must be finite and non-zero");
  check_arg((end - start) * step >= 0, "arange: step ", step,
            " has the wrong sign to go from start ", start, " to end ", end);
  const double count = std::ceil((end - start) / step);
  check_arg(count < 9.0e15, "arange: ", count, " elements are too many");
  const std::int64_t n = std::int64_t(count);
  Tensor out = Tensor::empty({n}, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = out.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = convert<T>(start + double(i) * step, "arange");
  });
  return out;
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  Tensor out = Tensor::empty(shape, dtype_of<T>());  // validates the shape first
  check_arg(std::int64_t(values.size()) == out.numel(), "from_vector: ", values.size(),
            " values do not fill shape ", shape_text(shape), " (", out.numel(), " elements)");
  if (!values.empty()) std::memcpy(out.data_ptr(), values.data(), values.size() * sizeof(T));
  return out;
}

template <class T>
std::vector<T> to_vector(const Tensor& t) {
  check_arg(t.defined(), "to_vector: the tensor is undefined");
  check_cpu(t, "to_vector");
  std::vector<T> values(std::size_t(t.numel()));
  convert_elements(t.data_ptr(), t.dtype(), values.data(), dtype_of<T>(), t.numel(), "to_vector");
  return values;
}

template Tensor from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor from_vector<std::int64_t>(const std::vector<std::int64_t>&, const Shape&);
template Tensor from_vector<BFloat16>(const std::vector<BFloat16>&, const Shape&);
template std::vector<float> to_vector<float>(const Tensor&);
template std::vector<double> to_vector<double>(const Tensor&);
template std::vector<std::int64_t> to_vector<std::int64_t>(const Tensor&);
template std::vector<BFloat16> to_vector<BFloat16>(const Tensor&);

}  // namespace tensorpar
