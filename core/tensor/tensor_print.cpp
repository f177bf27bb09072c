// PyTorch-style printing (torch/_tensor_str.py with default print options: precision 4,
// threshold 1000, edgeitems 3, linewidth 80), always followed by the dtype:
//   tensor([[0., 1.],
//           [2., 3.]], dtype=float32)
// Floating values print as integers with a trailing "." when all are integral, in fixed notation
// with 4 decimals otherwise, and in scientific notation when the non-zero finite magnitudes span
// more than 1000x, exceed 1e8 or (non-integral only) fall below 1e-4. Past 1000 elements each dim
// longer than 6 shows its first and last 3 entries around "...".
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/tensor/tensor.h"

namespace tensorpar {

namespace {

constexpr std::int64_t kThreshold = 1000;
constexpr std::int64_t kEdgeItems = 3;
constexpr std::int64_t kLineWidth = 80;
constexpr int kPrecision = 4;
constexpr std::int64_t kIndent = 7;  // strlen("tensor(")

std::string printf_str(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, kPrecision, value);
  return buf;
}

std::string non_finite_str(double v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

// Read access to the elements that get printed: all of them, or the edges of each dim when
// summarising (only those are ever read, so printing a huge tensor stays cheap).
class Values {
 public:
  Values(const Tensor& t, bool summarize)
      : data_(t.data_ptr()), dtype_(t.dtype()), summarize_(summarize) {}
  bool summarize() const { return summarize_; }
  // Indices along a dim of `size` that are shown.
  std::vector<std::int64_t> shown(std::int64_t size) const {
    std::vector<std::int64_t> idx;
    const bool cut = summarize_ && size > 2 * kEdgeItems;
    for (std::int64_t i = 0; i < size; ++i) {
      if (cut && i == kEdgeItems) i = size - kEdgeItems;
      idx.push_back(i);
    }
    return idx;
  }
  bool is_int() const { return dtype_ == DType::Int64; }
  double at(std::int64_t i) const {
    return visit_dtype(dtype_, [&]<class T>() {
      const T v = static_cast<const T*>(data_)[i];
      if constexpr (std::is_same_v<T, BFloat16>)
        return double(static_cast<float>(v));
      else
        return double(v);
    });
  }
  std::int64_t int_at(std::int64_t i) const { return static_cast<const std::int64_t*>(data_)[i]; }

 private:
  const void* data_;
  DType dtype_;
  bool summarize_;
};

// One width and one notation for every printed element (torch's _Formatter).
class Formatter {
 public:
  Formatter(const Values& values, const std::vector<std::int64_t>& shown) : ints_(values.is_int()) {
    if (ints_) {
      for (std::int64_t i : shown)
        width_ = std::max(width_, std::to_string(values.int_at(i)).size());
      return;
    }
    std::vector<double> finite;
    for (std::int64_t i : shown) {
      const double v = values.at(i);
      if (std::isfinite(v) && v != 0) finite.push_back(v);
    }
    if (finite.empty()) return;
    double lo = std::abs(finite[0]), hi = lo;
    for (double v : finite) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    sci_ = hi / lo > 1000.0 || hi > 1.0e8 || (!int_mode_ && lo < 1.0e-4);
    for (double v : finite) {
      std::size_t len = sci_        ? printf_str("%.*e", v).size()
                        : int_mode_ ? printf_str("%.0f", v).size() + 1
                                    : printf_str("%.*f", v).size();
      width_ = std::max(width_, len);
    }
  }

  std::size_t width() const { return width_; }

  std::string format(const Values& values, std::int64_t i) const {
    std::string s;
    if (ints_) {
      s = std::to_string(values.int_at(i));
    } else {
      const double v = values.at(i);
      if (!std::isfinite(v))
        s = non_finite_str(v);
      else if (sci_)
        s = printf_str("%.*e", v);
      else if (int_mode_)
        s = printf_str("%.0f", v) + ".";
      else
        s = printf_str("%.*f", v);
    }
    if (s.size() < width_) s.insert(0, width_ - s.size(), ' ');
    return s;
  }

 private:
  bool ints_;
  bool int_mode_ = true;
  bool sci_ = false;
  std::size_t width_ = 1;
};

void collect_shown(const Values& values, const Shape& shape,
                   const std::vector<std::int64_t>& strides, std::size_t depth, std::int64_t base,
                   std::vector<std::int64_t>& out) {
  if (depth == shape.size()) {
    out.push_back(base);
    return;
  }
  for (std::int64_t i : values.shown(shape[depth])) {
    collect_shown(values, shape, strides, depth + 1, base + i * strides[depth], out);
  }
}

struct Printer {
  const Values& values;
  const Formatter& fmt;
  const Shape& shape;
  std::vector<std::int64_t> strides;

  std::string vector_str(std::int64_t base, std::int64_t indent) const {
    const std::int64_t size = shape.back();
    const std::int64_t per_line =
        std::max<std::int64_t>(1, (kLineWidth - indent) / std::int64_t(fmt.width() + 2));
    std::vector<std::string> items;
    for (std::int64_t i : values.shown(size)) {
      if (values.summarize() && size > 2 * kEdgeItems && i == size - kEdgeItems) {
        items.push_back(" ...");
      }
      items.push_back(fmt.format(values, base + i));
    }
    std::string s = "[";
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (k > 0) {
        if (k % std::size_t(per_line) == 0) {
          s += ",\n";
          s.append(std::size_t(indent + 1), ' ');
        } else {
          s += ", ";
        }
      }
      s += items[k];
    }
    return s + "]";
  }

  std::string str(std::size_t depth, std::int64_t base, std::int64_t indent) const {
    if (depth + 1 == shape.size()) return vector_str(base, indent);
    const std::int64_t size = shape[depth];
    std::string sep(shape.size() - depth - 1, '\n');
    sep.insert(0, 1, ',');
    sep.append(std::size_t(indent + 1), ' ');
    std::string s = "[";
    bool first = true;
    for (std::int64_t i : values.shown(size)) {
      if (!first) s += sep;
      if (values.summarize() && size > 2 * kEdgeItems && i == size - kEdgeItems) {
        s += "...";
        s += sep;
      }
      s += str(depth + 1, base + i * strides[depth], indent + 1);
      first = false;
    }
    return s + "]";
  }
};

// Appends ", suffix" to the text, or ",\n" + indent + suffix when the last line would pass the
// line width (torch's _add_suffixes, including its +2 in the last line's length).
std::string add_suffixes(std::string text, const std::vector<std::string>& suffixes) {
  const std::size_t newline = text.rfind('\n');
  std::size_t last_line =
      newline == std::string::npos ? text.size() + 2 : text.size() - newline + 1;
  for (const std::string& suffix : suffixes) {
    if (last_line + suffix.size() + 2 > std::size_t(kLineWidth)) {
      text += ",\n";
      text.append(std::size_t(kIndent), ' ');
      last_line = std::size_t(kIndent) + suffix.size();
    } else {
      text += ", ";
      last_line += suffix.size() + 2;
    }
    text += suffix;
  }
  return text + ")";
}

}  // namespace

// A tensor on another device prints its values (copied to the host) with device='...' first
// among the suffixes, as torch does: tensor([1., 2.], device='standin:0', dtype=float32). A meta
// tensor has no values to show: tensor(..., device='meta', size=(2, 3), dtype=float32).
std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<std::string> suffixes;
  if (!is_host(device())) suffixes.push_back(cat("device='", device_str(device()), "'"));
  if (device().type == DeviceType::Meta) {  // no values to show: torch's "tensor(..., ...)"
    std::string size = "size=(";
    for (std::size_t i = 0; i < shape().size(); ++i) size += cat(i ? ", " : "", shape()[i]);
    suffixes.push_back(size + (shape().size() == 1 ? ",)" : ")"));
    suffixes.push_back(cat("dtype=", dtype_name(dtype())));
    return add_suffixes("tensor(...", suffixes);
  }
  const Tensor host = is_host(device()) ? *this : to(cpu());
  if (numel() == 0) {
    if (shape() != Shape{0}) {
      std::string size = "size=(";
      for (std::size_t i = 0; i < shape().size(); ++i) size += cat(i ? ", " : "", shape()[i]);
      suffixes.push_back(size + ")");
    }
    suffixes.push_back(cat("dtype=", dtype_name(dtype())));
    return add_suffixes("tensor([]", suffixes);
  }
  suffixes.push_back(cat("dtype=", dtype_name(dtype())));
  const Values values(host, numel() > kThreshold);
  const std::vector<std::int64_t> strides = contiguous_strides(shape());
  std::vector<std::int64_t> shown;
  collect_shown(values, shape(), strides, 0, 0, shown);
  const Formatter fmt(values, shown);
  if (dim() == 0) return add_suffixes("tensor(" + fmt.format(values, 0), suffixes);
  const Printer printer{values, fmt, shape(), strides};
  return add_suffixes("tensor(" + printer.str(0, 0, kIndent), suffixes);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace tensorpar
