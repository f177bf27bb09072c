#include "tools/cli/train_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/base/error.h"
#include "tools/cli/device_flag.h"

namespace tensorpar::cli {

namespace {

constexpr CommPhase kPhases[] = {CommPhase::Forward, CommPhase::Backward, CommPhase::Optimizer};

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string bytes_str(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) {
    b /= 1024;
    ++u;
  }
  return u == 0 ? format("%.0f B", b) : format("%.1f ", b) + units[u];
}

// A loss in the table: "%8.4f", and "nan" rather than the platform's "-nan".
std::string loss_text(double v) { return std::isnan(v) ? "     nan" : format("%8.4f", v); }

std::string ms(double s) { return format("%.2f ms", s * 1e3); }

// "all_gather 1, all_reduce 6", or "-".
std::string counts_str(const std::map<std::string, std::int64_t>& counts) {
  std::string out;
  for (const auto& [name, n] : counts)
    out += (out.empty() ? "" : ", ") + name + " " + std::to_string(n);
  return out.empty() ? "-" : out;
}

// The losses as one line of block characters on a log scale, at most `width` wide (buckets
// averaged); "?" for a bucket that is not finite.
std::string sparkline(const std::vector<double>& values, std::size_t width) {
  static const char* const kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (values.empty()) return "";
  const std::size_t n = std::min(width, values.size());
  std::vector<double> cols(n, 0.0);
  for (std::size_t c = 0; c < n; ++c) {
    const std::size_t lo = c * values.size() / n, hi = (c + 1) * values.size() / n;
    for (std::size_t i = lo; i < hi; ++i) cols[c] += values[i] / static_cast<double>(hi - lo);
    cols[c] = std::log(std::max(cols[c], 1e-12));
  }
  double mn = INFINITY, mx = -INFINITY;
  for (double v : cols) {
    if (!std::isfinite(v)) continue;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  std::string out;
  for (double v : cols) {
    if (!std::isfinite(v)) {
      out += "?";
      continue;
    }
    const double t = mx > mn ? (v - mn) / (mx - mn) : 0.0;
    out += kBlocks[std::clamp(static_cast<int>(std::lround(t * 7)), 0, 7)];
  }
  return out;
}

}  // namespace

double PhaseSplit::other_s() const { return std::max(0.0, wall_s - ops_s - collectives_s); }

std::string ranks_noun(const TrainConfig& c) {
  if (c.backend == "sim") return c.world == 1 ? "simulated rank" : "simulated ranks";
  return c.backend + (c.world == 1 ? " process" : " processes");
}

double loss_tolerance(DType dtype) { return dtype == DType::Float64 ? 1e-9 : 1e-3; }

std::string non_finite_message(const TrainSummary& s) {
  const auto& t = s.train_non_finite;
  const auto& r = s.reference_non_finite;
  if (!t && !r) return "";
  auto value = [](double v) { return std::string(std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"); };
  std::string out = "loss is ";
  if (t) out += value(t->loss) + " at step " + std::to_string(t->step) + " (train)";
  if (t && r) out += " / ";
  if (r) {
    out += value(r->loss);
    if (!t || r->step != t->step) out += " at step " + std::to_string(r->step);
    out += " (reference)";
  }
  return out;
}

TrainSummary summarize(const TrainResult& r) {
  TrainSummary s;
  const TrainConfig& c = r.config;
  s.tolerance = loss_tolerance(c.dtype);
  // The reference resumed at the same step as the ranks: rank 0's numbers are both runs'.
  const RankRun& numbering = r.ranks.at(0);
  auto first_non_finite = [&](const std::vector<double>& losses) -> std::optional<NonFiniteLoss> {
    for (std::size_t i = 0; i < losses.size(); ++i) {
      if (!std::isfinite(losses[i])) return NonFiniteLoss{numbering.step_number(i), losses[i]};
    }
    return std::nullopt;
  };
  for (const RankRun& rank : r.ranks) {
    if (!s.train_non_finite) s.train_non_finite = first_non_finite(rank.losses);
  }
  s.reference_non_finite = first_non_finite(r.reference);
  if (!r.reference.empty()) {
    std::optional<double> diff;
    bool ok = !s.train_non_finite && !s.reference_non_finite;
    for (const RankRun& rank : r.ranks) {
      ok = ok && rank.losses.size() == r.reference.size();
      for (std::size_t i = 0; i < std::min(rank.losses.size(), r.reference.size()); ++i) {
        if (!std::isfinite(rank.losses[i]) || !std::isfinite(r.reference[i])) break;
        const double d = std::abs(rank.losses[i] - r.reference[i]);
        diff = std::max(diff.value_or(0.0), d);
        ok = ok && d <= s.tolerance * std::max(1.0, std::abs(r.reference[i]));
      }
    }
    s.max_abs_loss_diff = diff;
    s.verified = ok;
  }
  s.comm = r.ranks.at(0).comm.back();
  for (const RankRun& rank : r.ranks) {
    for (const StepComm& step : rank.comm) s.comm_uniform = s.comm_uniform && step == s.comm;
  }
  const auto steps_run = static_cast<std::int64_t>(r.ranks.at(0).losses.size());
  const double per_step = static_cast<double>(r.ranks.size()) * static_cast<double>(steps_run);
  std::map<std::string, double> by_name;
  double op_total = 0;
  for (const RankRun& rank : r.ranks) {
    for (const PhaseTimes& t : rank.times) {
      s.time[CommPhase::Forward].wall_s += t.forward_s / per_step;
      s.time[CommPhase::Backward].wall_s += t.backward_s / per_step;
      s.time[CommPhase::Optimizer].wall_s += t.optimizer_s / per_step;
    }
    for (CommPhase p : kPhases) {
      auto get = [p](const std::map<CommPhase, double>& m) {
        auto it = m.find(p);
        return it == m.end() ? 0.0 : it->second;
      };
      s.time[p].ops_s += get(rank.profile.op_s) / per_step;
      s.time[p].collectives_s += get(rank.profile.collective_s) / per_step;
    }
    for (const auto& [name, t] : rank.profile.op_s_by_name) {
      by_name[name] += t;
      op_total += t;
    }
  }
  for (const auto& [name, t] : by_name)
    s.top_ops.emplace_back(name, op_total > 0 ? t / op_total : 0);
  std::sort(s.top_ops.begin(), s.top_ops.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  if (s.top_ops.size() > 6) s.top_ops.resize(6);
  s.tokens_per_s = r.wall_s > 0 ? static_cast<double>(c.batch * c.seq * steps_run) / r.wall_s : 0;
  return s;
}

void print_summary(std::ostream& os, const TrainResult& r, const TrainSummary& s) {
  const TrainConfig& c = r.config;
  const RankRun& rank0 = r.ranks.at(0);
  const std::vector<double>& losses = rank0.losses;
  const bool compared = !r.reference.empty();

  os << "\nloss curve (rank 0" << (compared ? "; reference: the same model on one device" : "")
     << ")\n";
  os << (compared ? "   step      loss  ref loss    |diff|\n" : "   step      loss\n");
  // Every step either run reached, at most 11 rows, always the first and the last.
  const int steps_run = static_cast<int>(std::max(losses.size(), r.reference.size()));
  const int rows = std::min(steps_run, 11);
  int last = -1;
  for (int k = 0; k < rows; ++k) {
    const int i = rows == 1 ? 0 : k * (steps_run - 1) / (rows - 1);
    if (i == last) continue;
    last = i;
    const auto at = static_cast<std::size_t>(i);
    const auto step = static_cast<long long>(rank0.step_number(at));
    char line[96];
    if (compared) {
      const std::string loss = at < losses.size() ? loss_text(losses[at]) : "       -";
      const std::string ref = at < r.reference.size() ? loss_text(r.reference[at]) : "       -";
      const bool both = at < losses.size() && at < r.reference.size();
      const std::string diff = both ? format("%8.1e", std::abs(losses[at] - r.reference[at])) : "       -";
      std::snprintf(line, sizeof line, "  %5lld  %s  %s  %s\n", step, loss.c_str(), ref.c_str(),
                    diff.c_str());
    } else {
      std::snprintf(line, sizeof line, "  %5lld  %s\n", step, loss_text(losses[at]).c_str());
    }
    os << line;
  }
  auto trimmed = [](double v) { return std::isnan(v) ? std::string("nan") : format("%.4f", v); };
  os << "  " << sparkline(losses, 60) << "  " << trimmed(losses.front()) << " -> "
     << trimmed(losses.back()) << " (log scale)\n";
  if (const std::string stop = non_finite_message(s); !stop.empty()) {
    os << "  " << stop << ": training stopped there (try a smaller --lr)\n";
  }
  if (compared && s.max_abs_loss_diff) {
    os << "  max |loss - ref loss| = " << format("%.2e", *s.max_abs_loss_diff) << " (tolerance "
       << format("%.0e", s.tolerance) << " x max(1, |ref loss|), " << dtype_name(c.dtype)
       << (s.train_non_finite || s.reference_non_finite ? "; finite steps" : "")
       << "): " << (s.verified ? "verified" : "MISMATCH") << "\n";
  } else if (compared) {
    os << "  no step with finite losses in both runs to compare: MISMATCH\n";
  } else {
    os << "  (no single-device reference: --no-compare)\n";
  }

  os << "\ncollectives per step (each rank"
     << (s.comm_uniform ? ""
                        : "; last step of rank 0, "
                          "steps or ranks differ")
     << ")\n";
  os << "  phase        count       bytes  collectives\n";
  for (CommPhase p : kPhases) {
    const auto it = s.comm.counts.find(p);
    const std::map<std::string, std::int64_t> counts =
        it == s.comm.counts.end() ? std::map<std::string, std::int64_t>{} : it->second;
    std::int64_t n = 0;
    for (const auto& [name, k] : counts) n += k;
    const auto b = s.comm.bytes.find(p);
    char line[160];
    std::snprintf(line, sizeof line, "  %-10s %7lld %11s  %s\n", phase_name(p),
                  static_cast<long long>(n),
                  bytes_str(b == s.comm.bytes.end() ? 0.0 : static_cast<double>(b->second)).c_str(),
                  counts_str(counts).c_str());
    os << line;
  }

  if (c.dp > 0) {
    // The same collectives split by group: the data-parallel gradient buckets, and the rest.
    os << "  of which data parallel (the dp group's gradient buckets):\n";
    for (CommPhase p : kPhases) {
      const auto it = s.comm.dp_counts.find(p);
      if (it == s.comm.dp_counts.end()) continue;
      std::int64_t n = 0;
      for (const auto& [name, k] : it->second) n += k;
      char line[160];
      std::snprintf(line, sizeof line, "  %-10s %7lld %11s  %s\n", phase_name(p),
                    static_cast<long long>(n),
                    bytes_str(static_cast<double>(s.comm.dp_bytes.at(p))).c_str(),
                    counts_str(it->second).c_str());
      os << line;
    }
  }

  os << "\nwhere time went (per step, mean over ranks)\n";
  os << "  phase            wall         ops   collectives       other\n";
  PhaseSplit total;
  auto row = [&](const char* name, const PhaseSplit& t) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-10s %10s  %10s  %12s  %10s\n", name, ms(t.wall_s).c_str(),
                  ms(t.ops_s).c_str(), ms(t.collectives_s).c_str(), ms(t.other_s()).c_str());
    os << line;
  };
  for (CommPhase p : kPhases) {
    const PhaseSplit& t = s.time.at(p);
    row(phase_name(p), t);
    total.wall_s += t.wall_s;
    total.ops_s += t.ops_s;
    total.collectives_s += t.collectives_s;
  }
  row("total", total);
  os << "  ops: the kernels; collectives: from issue to completion, waiting for the other ranks\n"
        "  included; other: autograd, sharding decisions, DTensor bookkeeping.\n";
  os << "  op time by op:";
  for (std::size_t i = 0; i < s.top_ops.size(); ++i) {
    os << (i ? ", " : " ") << s.top_ops[i].first << " "
       << format("%.0f%%", 100 * s.top_ops[i].second);
  }
  os << "\n\nthroughput: " << format("%.0f", s.tokens_per_s) << " tokens/s (" << c.batch << " x "
     << c.seq << " tokens per step, " << losses.size() << " steps in " << format("%.2f", r.wall_s)
     << " s on " << c.world << " " << ranks_noun(c)
     << (c.dp > 0 ? cat(", mesh dp ", dp_degree(c), " x tp ", tp_degree(c)) : std::string())
     << ")";
  if (compared) os << "; reference " << format("%.2f", r.reference_wall_s) << " s";
  os << "\n";
  if (!r.trace_path.empty()) {
    os << "trace: " << r.trace_path
       << " (one track per rank; open in https://ui.perfetto.dev or "
          "chrome://tracing)\n";
  }
}

Json summary_json(const TrainResult& r, const TrainSummary& s) {
  const TrainConfig& c = r.config;
  Json out = Json::object();
  out.set("backend", c.backend);
  out.set("device", device_flag_name(c.device));
  out.set("world", c.world);
  // {"dp": 2, "tp": 2} with --mesh; null for the 1-D tensor-parallel mesh.
  out.set("mesh", c.dp > 0 ? Json::object().set("dp", dp_degree(c)).set("tp", tp_degree(c))
                           : Json());
  out.set("model", Json::object()
                       .set("layers", c.layers)
                       .set("dim", c.dim)
                       .set("heads", c.heads)
                       .set("vocab", c.vocab)
                       .set("seq", c.seq)
                       .set("dropout", c.dropout)
                       .set("dtype", std::string(dtype_name(c.dtype))));
  out.set("batch", c.batch)
      .set("sequence_parallel", c.sequence_parallel)
      .set("loss_parallel", c.loss_parallel)
      .set("optimizer", c.optimizer)
      .set("lr", c.lr > 0 ? c.lr : default_lr(c.optimizer))
      .set("seed", static_cast<std::int64_t>(c.seed));
  Json steps = Json::array();
  const std::vector<double>& losses = r.ranks.at(0).losses;
  for (std::size_t i = 0; i < std::max(losses.size(), r.reference.size()); ++i) {
    steps.push(Json::object()
                   .set("step", r.ranks.at(0).step_number(i))
                   .set("loss", i < losses.size() ? Json(losses[i]) : Json())
                   .set("ref_loss", i < r.reference.size() ? Json(r.reference[i]) : Json()));
  }
  out.set("steps", steps);
  out.set("compared", !r.reference.empty());
  out.set("max_abs_loss_diff", s.max_abs_loss_diff ? Json(*s.max_abs_loss_diff) : Json());
  // {"train": {"step": 2, "loss": "nan"}, "reference": null}: where each run stopped, or null.
  auto stop_json = [](const std::optional<NonFiniteLoss>& n) {
    if (!n) return Json();
    return Json::object()
        .set("step", n->step)
        .set("loss", std::isnan(n->loss) ? "nan" : n->loss > 0 ? "inf" : "-inf");
  };
  out.set("loss_finite", !s.train_non_finite && !s.reference_non_finite);
  out.set("non_finite_loss", s.train_non_finite || s.reference_non_finite
                                 ? Json::object()
                                       .set("train", stop_json(s.train_non_finite))
                                       .set("reference", stop_json(s.reference_non_finite))
                                 : Json());
  out.set("tolerance", s.tolerance);
  Json comm = Json::object(), bytes = Json::object(), time = Json::object();
  Json tp_comm = Json::object(), tp_bytes = Json::object();
  Json dp_comm = Json::object(), dp_bytes = Json::object();
  for (CommPhase p : kPhases) {
    Json counts = Json::object(), tp_counts = Json::object(), dp_counts = Json::object();
    const std::map<std::string, std::int64_t> none;
    const auto all_it = s.comm.counts.find(p);
    const auto dp_it = s.comm.dp_counts.find(p);
    const auto& all = all_it == s.comm.counts.end() ? none : all_it->second;
    const auto& dp = dp_it == s.comm.dp_counts.end() ? none : dp_it->second;
    for (const auto& [name, n] : all) {
      counts.set(name, n);
      const auto d = dp.find(name);
      const std::int64_t in_dp = d == dp.end() ? 0 : d->second;
      if (n > in_dp) tp_counts.set(name, n - in_dp);
      if (in_dp > 0) dp_counts.set(name, in_dp);
    }
    comm.set(phase_name(p), counts);
    tp_comm.set(phase_name(p), tp_counts);
    dp_comm.set(phase_name(p), dp_counts);
    const auto b = s.comm.bytes.find(p);
    const auto db = s.comm.dp_bytes.find(p);
    const std::int64_t all_bytes = b == s.comm.bytes.end() ? 0 : b->second;
    const std::int64_t in_dp_bytes = db == s.comm.dp_bytes.end() ? 0 : db->second;
    bytes.set(phase_name(p), all_bytes);
    tp_bytes.set(phase_name(p), all_bytes - in_dp_bytes);
    dp_bytes.set(phase_name(p), in_dp_bytes);
    const PhaseSplit& t = s.time.at(p);
    time.set(phase_name(p), Json::object()
                                .set("wall_s", t.wall_s)
                                .set("ops_s", t.ops_s)
                                .set("collectives_s", t.collectives_s)
                                .set("other_s", t.other_s()));
  }
  out.set("comm", comm).set("comm_bytes", bytes).set("comm_uniform", s.comm_uniform);
  out.set("comm_tp", tp_comm).set("comm_tp_bytes", tp_bytes);
  out.set("comm_dp", dp_comm).set("comm_dp_bytes", dp_bytes);
  out.set("time_per_step", time);
  Json ops = Json::array();
  for (const auto& [name, share] : s.top_ops)
    ops.push(Json::object().set("op", name).set("share", share));
  out.set("top_ops", ops);
  out.set("tokens_per_s", s.tokens_per_s).set("wall_s", r.wall_s);
  out.set("reference_wall_s", r.reference.empty() ? Json() : Json(r.reference_wall_s));
  out.set("trace", r.trace_path.empty() ? Json() : Json(r.trace_path));
  out.set("verified", s.verified);
  return out;
}

}  // namespace tensorpar::cli
