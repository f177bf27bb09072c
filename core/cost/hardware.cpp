#include "core/cost/hardware.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "core/cost/builtin_profiles.h"

namespace tensorpar::cost {

namespace {

using Json = nlohmann::json;

// The profile files' units: the key names say them (_tflops, _gib, _gbs, _us, _by_gflop, _by_mb).
constexpr double kTera = 1e12, kGiga = 1e9, kMega = 1e6, kMicro = 1e-6, kGiB = 1073741824.0;

const CollectiveKind kAllKinds[] = {
    CollectiveKind::AllReduce, CollectiveKind::AllGather, CollectiveKind::ReduceScatter,
    CollectiveKind::AllToAll,  CollectiveKind::Broadcast, CollectiveKind::Scatter,
    CollectiveKind::Send,      CollectiveKind::Recv,      CollectiveKind::Barrier};

// Reads one JSON object of a profile, naming the file and the key's path in every error, and
// refusing keys it was never asked for (a misspelt optional key would otherwise be ignored).
class Reader {
 public:
  Reader(const Json& object, std::string origin, std::string path)
      : object_(object), origin_(std::move(origin)), path_(std::move(path)) {
    if (!object_.is_object()) fail(path_.empty() ? "the profile" : path_, "must be an object");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw std::invalid_argument("hardware profile " + origin_ + ": " + key + " " + what);
  }
  std::string key_path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  bool has(const std::string& key) {
    seen_.push_back(key);
    return object_.contains(key);
  }
  const Json& at(const std::string& key) {
    if (!has(key)) fail("'" + key_path(key) + "'", "is missing");
    return object_.at(key);
  }
  Reader object(const std::string& key) { return Reader(at(key), origin_, key_path(key)); }

  double number(const std::string& key, double min, bool min_allowed) {
    const Json& v = at(key);
    return checked_number(v, key_path(key), min, min_allowed);
  }
  double number_or(const std::string& key, double fallback, double min, bool min_allowed) {
    return has(key) ? number(key, min, min_allowed) : fallback;
  }
  std::string text(const std::string& key) {
    const Json& v = at(key);
    if (!v.is_string()) fail("'" + key_path(key) + "'", "must be a string, got " + v.dump());
    return v.get<std::string>();
  }
  std::string text_or(const std::string& key, std::string fallback) {
    return has(key) ? text(key) : fallback;
  }
  // {"ring": 8.4, ...} scaled by `unit`; every value >= 0 (> 0 unless zero_allowed).
  std::map<std::string, double> number_map(const std::string& key, double unit,
                                           bool zero_allowed = true) {
    const Json& v = at(key);
    if (!v.is_object()) fail("'" + key_path(key) + "'", "must be an object, got " + v.dump());
    std::map<std::string, double> out;
    for (const auto& [name, value] : v.items()) {
      out[name] = checked_number(value, key_path(key) + "." + name, 0, zero_allowed) * unit;
    }
    return out;
  }
  // [[size, efficiency], ...] with sizes > 0 increasing and efficiencies in (0, 1].
  EfficiencyCurve curve(const std::string& key, double unit) {
    EfficiencyCurve c;
    if (!has(key)) return c;
    const Json& v = object_.at(key);
    const std::string where = "'" + key_path(key) + "'";
    if (!v.is_array()) fail(where, "must be a list of [size, efficiency] pairs, got " + v.dump());
    for (const Json& point : v) {
      if (!point.is_array() || point.size() != 2 || !point[0].is_number() ||
          !point[1].is_number()) {
        fail(where, "must be a list of [size, efficiency] pairs, got the entry " + point.dump());
      }
      const double size = point[0].get<double>(), eff = point[1].get<double>();
      if (!(size > 0) || !(eff > 0 && eff <= 1)) {
        fail(where, "needs sizes > 0 and efficiencies in (0, 1], got " + point.dump());
      }
      if (!c.points.empty() && size * unit <= c.points.back().first) {
        fail(where, "needs increasing sizes, got " + point.dump() + " after a larger one");
      }
      c.points.emplace_back(size * unit, eff);
    }
    return c;
  }

  // Every key present was read.
  void check_no_unknown_keys() const {
    for (const auto& [key, value] : object_.items()) {
      if (std::find(seen_.begin(), seen_.end(), key) == seen_.end()) {
        fail("'" + key_path(key) + "'", "is not a key of the format (docs/cost_model.md)");
      }
    }
  }

 private:
  double checked_number(const Json& v, const std::string& path, double min,
                        bool min_allowed) const {
    if (!v.is_number()) fail("'" + path + "'", "must be a number, got " + v.dump());
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < min || (!min_allowed && x == min)) {
      std::ostringstream bound;
      bound << (min_allowed ? ">= " : "> ") << min;
      fail("'" + path + "'", "must be " + bound.str() + ", got " + v.dump());
    }
    return x;
  }

  const Json& object_;
  std::string origin_;
  std::string path_;
  std::vector<std::string> seen_;
};

CollectiveKind kind_named(const std::string& name, const Reader& r, const std::string& path) {
  for (CollectiveKind k : kAllKinds) {
    if (collective_name(k) == name) return k;
  }
  r.fail("'" + path + "'", "names no collective: \"" + name + "\"");
}

DeviceProfile read_device(Reader r) {
  DeviceProfile d;
  d.name = r.text("name");
  d.peak_flops = r.number_map("peak_tflops", kTera, false);
  d.memory_bytes = r.number("memory_gib", 0, false) * kGiB;
  d.memory_bandwidth = r.number("memory_bandwidth_gbs", 0, false) * kGiga;
  d.gemm_efficiency = r.curve("gemm_efficiency_by_gflop", kGiga);
  d.memory_efficiency = r.curve("memory_efficiency_by_mb", kMega);
  d.kernel_launch_s = r.number("kernel_launch_us", 0, true) * kMicro;
  d.shared_compute_units = int(r.number_or("shared_compute_units", 0, 0, true));
  r.check_no_unknown_keys();
  return d;
}

NodeProfile read_node(Reader r) {
  NodeProfile n;
  n.gpus_per_node = int(r.number("gpus_per_node", 1, true));
  n.nvlink_bandwidth = r.number("nvlink_gbs", 0, true) * kGiga;
  n.nics_per_node = int(r.number("nics_per_node", 0, true));
  n.nic_bandwidth = r.number("nic_gbs", 0, true) * kGiga;
  r.check_no_unknown_keys();
  return n;
}

CollectiveProtocol read_protocol(Reader r) {
  CollectiveProtocol p;
  p.name = r.text("name");
  p.base_latency_s = r.number_map("base_latency_us", kMicro);
  p.nvlink_hop_s = r.number("nvlink_hop_us", 0, true) * kMicro;
  p.network_hop_s = r.number("network_hop_us", 0, true) * kMicro;
  p.bandwidth_share = r.number("bandwidth_share", 0, false);
  r.check_no_unknown_keys();
  return p;
}

CollectiveProfile read_collectives(Reader r, const std::string& origin) {
  CollectiveProfile c;
  c.base_latency_s = r.number_map("base_latency_us", kMicro);
  if (!c.base_latency_s.count("ring")) {
    r.fail("'" + r.key_path("base_latency_us.ring") + "'", "is missing");
  }
  c.nvlink_hop_s = r.number("nvlink_hop_us", 0, true) * kMicro;
  c.network_hop_s = r.number("network_hop_us", 0, true) * kMicro;
  c.intra_node_busbw = r.number("intra_node_busbw_gbs", 0, false) * kGiga;
  c.nvls_busbw = r.number_or("nvls_busbw_gbs", 0, 0, true) * kGiga;
  c.inter_node_efficiency = r.number_or("inter_node_efficiency", 1.0, 0, false);
  if (r.has("protocols")) {
    const Json& list = r.at("protocols");
    if (!list.is_array()) r.fail("'" + r.key_path("protocols") + "'", "must be a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      c.protocols.push_back(read_protocol(
          Reader(list[i], origin, r.key_path("protocols[" + std::to_string(i) + "]"))));
    }
  }
  if (r.has("measured")) {
    const Json& list = r.at("measured");
    if (!list.is_array()) r.fail("'" + r.key_path("measured") + "'", "must be a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      Reader m(list[i], origin, r.key_path("measured[" + std::to_string(i) + "]"));
      MeasuredCollective point;
      point.kind = kind_named(m.text("kind"), m, m.key_path("kind"));
      point.ranks = int(m.number("ranks", 1, true));
      point.bytes = std::int64_t(m.number("bytes", 0, true));
      point.seconds = m.number("us", 0, false) * kMicro;
      m.check_no_unknown_keys();
      c.measured.push_back(point);
    }
  }
  r.check_no_unknown_keys();
  return c;
}

// 12 significant digits: 989.5e12 / 1e12 writes as 989.5, not 989.49999999999989.
double tidy(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.12g", x);
  return std::strtod(text, nullptr);
}

Json curve_json(const EfficiencyCurve& c, double unit) {
  Json out = Json::array();
  for (const auto& [size, eff] : c.points) out.push_back({tidy(size / unit), tidy(eff)});
  return out;
}

Json map_json(const std::map<std::string, double>& m, double unit) {
  Json out = Json::object();
  for (const auto& [key, value] : m) out[key] = tidy(value / unit);
  return out;
}

std::string read_text_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = bool(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

double EfficiencyCurve::at(double size) const {
  if (points.empty()) return 1.0;
  if (size <= points.front().first) return points.front().second;
  if (size >= points.back().first) return points.back().second;
  auto upper = std::upper_bound(points.begin(), points.end(), size,
                                [](double s, const auto& p) { return s < p.first; });
  const auto& [x1, y1] = *upper;
  const auto& [x0, y0] = *(upper - 1);
  const double w = std::log(size / x0) / std::log(x1 / x0);
  return y0 + w * (y1 - y0);
}

double DeviceProfile::peak_flops_per_s(DType dtype) const {
  const char* key = dtype == DType::BFloat16  ? "bf16"
                    : dtype == DType::Float32 ? "f32"
                    : dtype == DType::Float64 ? "f64"
                                              : "i64";
  auto it = peak_flops.find(key);
  if (it == peak_flops.end()) {
    std::string known;
    for (const auto& [name, value] : peak_flops) known += (known.empty() ? "" : ", ") + name;
    throw std::invalid_argument("device '" + name + "' has no peak_tflops for dtype " +
                                std::string(dtype_name(dtype)) + " (\"" + key + "\"; it has " +
                                known + ")");
  }
  return it->second;
}

std::vector<std::string> builtin_hardware_names() {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < detail::kBuiltinProfileCount; ++i) {
    names.emplace_back(detail::kBuiltinProfiles[i].name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

HardwareProfile parse_hardware_json(const std::string& text, const std::string& origin) {
  Json json;
  try {
    json = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw std::invalid_argument("hardware profile " + origin + " is not JSON: " + e.what());
  }
  Reader r(json, origin, "");
  HardwareProfile h;
  h.name = r.text("name");
  h.description = r.text_or("description", "");
  if (r.has("sources")) {
    const Json& sources = r.at("sources");
    if (!sources.is_array()) r.fail("'sources'", "must be a list of strings");
    for (const Json& s : sources) {
      if (!s.is_string()) r.fail("'sources'", "must be a list of strings, got " + s.dump());
      h.sources.push_back(s.get<std::string>());
    }
  }
  h.device = read_device(r.object("device"));
  h.node = read_node(r.object("node"));
  h.collectives = read_collectives(r.object("collectives"), origin);
  r.check_no_unknown_keys();
  return h;
}

std::string hardware_to_json(const HardwareProfile& p) {
  Json device = {{"name", p.device.name},
                 {"peak_tflops", map_json(p.device.peak_flops, kTera)},
                 {"memory_gib", tidy(p.device.memory_bytes / kGiB)},
                 {"memory_bandwidth_gbs", tidy(p.device.memory_bandwidth / kGiga)},
                 {"gemm_efficiency_by_gflop", curve_json(p.device.gemm_efficiency, kGiga)},
                 {"memory_efficiency_by_mb", curve_json(p.device.memory_efficiency, kMega)},
                 {"kernel_launch_us", tidy(p.device.kernel_launch_s / kMicro)},
                 {"shared_compute_units", p.device.shared_compute_units}};
  Json node = {{"gpus_per_node", p.node.gpus_per_node},
               {"nvlink_gbs", tidy(p.node.nvlink_bandwidth / kGiga)},
               {"nics_per_node", p.node.nics_per_node},
               {"nic_gbs", tidy(p.node.nic_bandwidth / kGiga)}};
  const CollectiveProfile& c = p.collectives;
  Json protocols = Json::array();
  for (const CollectiveProtocol& proto : c.protocols) {
    protocols.push_back({{"name", proto.name},
                         {"base_latency_us", map_json(proto.base_latency_s, kMicro)},
                         {"nvlink_hop_us", tidy(proto.nvlink_hop_s / kMicro)},
                         {"network_hop_us", tidy(proto.network_hop_s / kMicro)},
                         {"bandwidth_share", tidy(proto.bandwidth_share)}});
  }
  Json measured = Json::array();
  for (const MeasuredCollective& m : c.measured) {
    measured.push_back({{"kind", std::string(collective_name(m.kind))},
                        {"ranks", m.ranks},
                        {"bytes", m.bytes},
                        {"us", tidy(m.seconds / kMicro)}});
  }
  Json collectives = {{"base_latency_us", map_json(c.base_latency_s, kMicro)},
                      {"nvlink_hop_us", tidy(c.nvlink_hop_s / kMicro)},
                      {"network_hop_us", tidy(c.network_hop_s / kMicro)},
                      {"intra_node_busbw_gbs", tidy(c.intra_node_busbw / kGiga)},
                      {"nvls_busbw_gbs", tidy(c.nvls_busbw / kGiga)},
                      {"inter_node_efficiency", tidy(c.inter_node_efficiency)},
                      {"protocols", protocols},
                      {"measured", measured}};
  Json out = {{"name", p.name},       {"description", p.description},
              {"sources", p.sources}, {"device", device},
              {"node", node},         {"collectives", collectives}};
  return out.dump(2) + "\n";
}

HardwareProfile load_hardware(const std::string& name_or_file) {
  for (std::size_t i = 0; i < detail::kBuiltinProfileCount; ++i) {
    if (name_or_file == detail::kBuiltinProfiles[i].name) {
      return parse_hardware_json(detail::kBuiltinProfiles[i].text,
                                 "built-in '" + name_or_file + "'");
    }
  }
  bool ok = false;
  std::string text = read_text_file(name_or_file, ok);
  if (!ok) {
    std::string names;
    for (const std::string& n : builtin_hardware_names()) names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown hardware '" + name_or_file +
                                "': neither a built-in profile (" + names +
                                ") nor a readable file");
  }
  return parse_hardware_json(text, "'" + name_or_file + "'");
}

}  // namespace tensorpar::cost
