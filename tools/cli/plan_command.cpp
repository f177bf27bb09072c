// `tensorpar plan`: what a tensor x data parallel plan of the reference Transformer costs on a
// cluster, in time, memory and communication, from shape-only runs of the real step and the
// cost model (docs/cost_model.md); every plan that divides evenly, ranked, or one plan alone.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "core/comm/profiler.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/json.h"
#include "tools/cli/trace.h"
#include "tools/plan/planner.h"

namespace tensorpar::cli {

const char* const kPlanUsage =
    "usage: tensorpar plan --hardware NAME|FILE --gpus N [--gpus-per-node 8]\n"
    "                      --layers L --dim H --heads A --seq S [--vocab 51200]\n"
    "                      [--dropout 0.1]\n"
    "                      --global-batch B [--micro-batch b] [--tp t] [--dp d]\n"
    "                      [--sequence-parallel] [--recompute none|selective|full]\n"
    "                      [--dtype bf16|fp16|f32] [--overlap-grad-reduce] [--json]\n"
    "                      [--trace FILE]\n\n"
    "Predicts one training iteration of the reference Transformer (the model of 'tensorpar\n"
    "train') under tensor parallel t x data parallel d on N GPUs: time split into compute,\n"
    "exposed tensor-parallel communication, data-parallel gradient all_reduce (25 MiB buckets\n"
    "after the backward) and optimizer; memory per GPU by kind; the collectives\n"
    "of a step with their bytes; model FLOPs utilisation. The workload is read off shape-only\n"
    "runs of the real step (1 and 2 layers, extrapolated); the hardware comes from a profile.\n"
    "  --hardware       a built-in profile (a100-sxm4-40gb, a100-sxm4-80gb, h100-sxm, h200-sxm,\n"
    "                   v100-dgx2h)\n"
    "                   or a JSON profile file (tensorpar calibrate writes one)\n"
    "  --gpus-per-node  GPUs per node (default: the profile's)\n"
    "  Without --tp and --dp, or without --micro-batch, every plan that divides evenly is\n"
    "  evaluated and ranked (plans that fit in memory first, then by iteration time): tp\n"
    "  dividing --heads and --gpus, d = N / t dividing --global-batch, b dividing B / d,\n"
    "  sequence parallel on and off (tp > 1), each recompute; --sequence-parallel and\n"
    "  --recompute, when given, fix theirs. With them, that plan alone.\n"
    "  --dropout        the model's dropout (default 0.1: the GPT recipes' and Megatron-LM's;\n"
    "                   'tensorpar train' defaults to 0, so give --dropout 0 to predict its runs)\n"
    "  --dtype          the training dtype (default bf16, mixed precision); fp16 is modelled as\n"
    "                   bf16\n"
    "  --overlap-grad-reduce  run each gradient bucket's all_reduce beside the rest of the last\n"
    "                   micro-batch's backward (default: after it, as DistributedDataParallel's\n"
    "                   reduce_gradients() does)\n"
    "  --json           one JSON object: {hardware, gpus, model, global_batch, plans: [{tp, dp,\n"
    "                   micro_batch, micro_batches, sequence_parallel, recompute, iteration_ms,\n"
    "                   memory_gib, fits, mfu, breakdown {...}, memory {...}, collectives\n"
    "                   [...]}]} with the plans best first\n"
    "  --trace FILE     the predicted timeline of one iteration of the best plan as a Chrome\n"
    "                   trace (the format of 'tensorpar train --trace')\n";

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct Options {
  plan::PlanQuery query;
  std::string hardware_flag;
  bool json = false;
  std::string trace_path;
};

DType dtype_flag(const Args& args) {
  const std::string d = args.get_or("dtype", "bf16");
  if (d == "bf16" || d == "fp16") return DType::BFloat16;
  if (d == "f32") return DType::Float32;
  throw UsageError("--dtype must be bf16, fp16 or f32, got '" + d + "'");
}

cost::Recompute recompute_flag(const std::string& r) {
  if (r == "none") return cost::Recompute::None;
  if (r == "selective") return cost::Recompute::Selective;
  if (r == "full") return cost::Recompute::Full;
  throw UsageError("--recompute must be none, selective or full, got '" + r + "'");
}

Options parse_options(const std::vector<std::string>& argv) {
  const Args args(
      argv,
      {"hardware", "gpus", "gpus-per-node", "layers", "dim", "heads", "seq", "vocab",
       "global-batch", "micro-batch", "tp", "dp", "recompute", "dtype", "trace", "dropout"},
      {"sequence-parallel", "json", "overlap-grad-reduce"});
  Options o;
  plan::PlanQuery& q = o.query;
  o.hardware_flag = args.require("hardware");
  const auto required = [&](const char* name, std::int64_t lo, std::int64_t hi) {
    args.require(name);
    return integer_flag(args, name, 0, lo, hi);
  };
  q.gpus = int(required("gpus", 1, 1 << 20));
  q.model.layers = required("layers", 1, 100000);
  q.model.hidden = required("dim", 1, 1 << 20);
  q.model.heads = required("heads", 1, 1 << 16);
  q.model.seq = required("seq", 1, 1 << 24);
  q.model.vocab = integer_flag(args, "vocab", 51200, 1, 1 << 24);
  q.global_batch = required("global-batch", 1, 1 << 30);
  if (args.has("micro-batch")) q.micro_batch = integer_flag(args, "micro-batch", 1, 1, 1 << 30);
  if (args.has("tp")) q.tp = int(integer_flag(args, "tp", 1, 1, 1 << 20));
  if (args.has("dp")) q.dp = int(integer_flag(args, "dp", 1, 1, 1 << 20));
  q.dtype = dtype_flag(args);
  const bool one_plan = (q.tp || q.dp) && q.micro_batch;
  if (args.has("sequence-parallel") || one_plan)
    q.sequence_parallel = args.has("sequence-parallel");
  if (args.has("recompute") || one_plan) {
    q.recompute = recompute_flag(args.get_or("recompute", "none"));
  }
  try {
    q.hardware = cost::load_hardware(o.hardware_flag);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--hardware: ") + e.what());
  }
  q.gpus_per_node =
      int(integer_flag(args, "gpus-per-node", q.hardware.node.gpus_per_node, 1, 1024));
  q.overlap_dp = args.has("overlap-grad-reduce");
  q.dropout = real_flag(args, "dropout", q.dropout);
  if (!(q.dropout >= 0 && q.dropout < 1)) {
    throw UsageError("--dropout " + *args.get("dropout") + " is not in [0, 1)");
  }
  o.json = args.has("json");
  o.trace_path = args.get_or("trace", "");
  return o;
}

double ms(double seconds) { return seconds * 1e3; }

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string bytes_text(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return fixed(bytes, u == 0 ? 0 : 2) + " " + units[u];
}

std::string plan_name(const cost::ParallelConfig& c) {
  return "tp " + std::to_string(c.tp) + " x dp " + std::to_string(c.dp) + ", micro-batch " +
         std::to_string(c.micro_batch) + (c.sequence_parallel ? ", sequence parallel" : "") +
         ", recompute " + cost::recompute_name(c.recompute);
}

std::string collective_label(const cost::IterationEstimate::CollectiveTotal& t) {
  return std::string(t.data_parallel ? "dp " : "tp ") + phase_name(t.phase) + " " +
         std::string(collective_name(t.kind)) + " (" + std::to_string(t.group_size) + " ranks)";
}

Json plan_json(const plan::PlanResult& r) {
  const cost::IterationEstimate& t = r.time;
  Json collectives = Json::array();
  for (const auto& c : t.collective_totals) {
    collectives.push(Json::object()
                         .set("group", c.data_parallel ? "dp" : "tp")
                         .set("phase", phase_name(c.phase))
                         .set("kind", std::string(collective_name(c.kind)))
                         .set("ranks", c.group_size)
                         .set("count", c.count)
                         .set("bytes", c.bytes));
  }
  return Json::object()
      .set("tp", r.config.tp)
      .set("dp", r.config.dp)
      .set("micro_batch", r.config.micro_batch)
      .set("micro_batches", r.micro_batches)
      .set("sequence_parallel", r.config.sequence_parallel)
      .set("recompute", cost::recompute_name(r.config.recompute))
      .set("iteration_ms", ms(r.iteration_s()))
      .set("memory_gib", r.memory.total() / kGiB)
      .set("fits", r.fits)
      .set("mfu", r.mfu)
      .set("breakdown", Json::object()
                            .set("compute_ms", ms(t.compute_s))
                            .set("tp_comm_ms", ms(t.tp_comm_s))
                            .set("dp_comm_ms", ms(t.dp_comm_s))
                            .set("optimizer_ms", ms(t.optimizer_s)))
      .set("memory", Json::object()
                         .set("parameters_gib", r.memory.parameters / kGiB)
                         .set("gradients_gib", r.memory.gradients / kGiB)
                         .set("optimizer_gib", r.memory.optimizer / kGiB)
                         .set("activations_gib", r.memory.activations / kGiB)
                         .set("shape_only_peak_gib", r.shape_only_peak_bytes / kGiB))
      .set("dp_buckets", json_ints(t.dp_buckets))
      .set("collectives", std::move(collectives));
}

void print_table(std::ostream& os, const std::vector<plan::PlanResult>& plans, std::size_t shown) {
  char line[256];
  std::snprintf(line, sizeof line, "%4s %4s %5s %4s %3s %-9s %12s %10s %9s %9s %9s %8s %4s %6s\n",
                "rank", "tp", "dp", "mb", "sp", "recompute", "iteration_ms", "compute", "tp_comm",
                "dp_comm", "optimizer", "mem_gib", "fits", "mfu");
  os << line;
  for (std::size_t i = 0; i < std::min(shown, plans.size()); ++i) {
    const plan::PlanResult& r = plans[i];
    const cost::IterationEstimate& t = r.time;
    std::snprintf(line, sizeof line,
                  "%4zu %4d %5d %4lld %3s %-9s %12.2f %10.2f %9.2f %9.2f %9.2f %8.2f %4s %5.1f%%\n",
                  i + 1, r.config.tp, r.config.dp, static_cast<long long>(r.config.micro_batch),
                  r.config.sequence_parallel ? "on" : "off",
                  cost::recompute_name(r.config.recompute), ms(r.iteration_s()), ms(t.compute_s),
                  ms(t.tp_comm_s), ms(t.dp_comm_s), ms(t.optimizer_s), r.memory.total() / kGiB,
                  r.fits ? "yes" : "no", 100 * r.mfu);
    os << line;
  }
  if (plans.size() > shown) {
    os << "  ... " << plans.size() - shown << " more (--json lists every plan)\n";
  }
}

void print_detail(std::ostream& os, const plan::PlanResult& r, double device_memory) {
  const cost::IterationEstimate& t = r.time;
  const double total = r.iteration_s();
  auto share = [&](double s) {
    return fixed(ms(s), 2) + " ms (" + fixed(100 * s / total, 1) + "%)";
  };
  os << "\n"
     << plan_name(r.config) << ": " << r.micro_batches
     << (r.micro_batches == 1 ? " micro-batch" : " micro-batches") << " per iteration\n";
  os << "  iteration       " << fixed(ms(total), 2) << " ms\n";
  os << "    compute       " << share(t.compute_s) << "\n";
  os << "    tp comm       " << share(t.tp_comm_s) << "  exposed\n";
  os << "    dp comm       " << share(t.dp_comm_s) << "  exposed, " << t.dp_buckets.size()
     << " buckets\n";
  os << "    optimizer     " << share(t.optimizer_s) << "\n";
  os << "  memory per GPU  " << fixed(r.memory.total() / kGiB, 2) << " GiB of "
     << fixed(device_memory / kGiB, 2) << (r.fits ? " (fits)" : " (does not fit)") << "\n";
  os << "    parameters    " << fixed(r.memory.parameters / kGiB, 2) << " GiB\n";
  os << "    gradients     " << fixed(r.memory.gradients / kGiB, 2) << " GiB\n";
  os << "    optimizer     " << fixed(r.memory.optimizer / kGiB, 2) << " GiB\n";
  os << "    activations   " << fixed(r.memory.activations / kGiB, 2) << " GiB\n";
  os << "    (shape-only step's high-water mark, float32, no recompute: "
     << fixed(r.shape_only_peak_bytes / kGiB, 2) << " GiB)\n";
  os << "  collectives per step\n";
  for (const auto& c : t.collective_totals) {
    char line[160];
    std::snprintf(line, sizeof line, "    %-42s %7lld  %s\n", collective_label(c).c_str(),
                  static_cast<long long>(c.count), bytes_text(double(c.bytes)).c_str());
    os << line;
  }
  os << "  MFU             " << fixed(100 * r.mfu, 1) << "% (" << fixed(r.model_flops / 1e15, 2)
     << " PFLOP per iteration: 72 B s l h^2 (1 + s/6h) + 6 B s h V)\n";
}

// The predicted timeline as a Chrome trace: the compute stream as rank 0's track, the DP
// gradient all_reduce stream as a second track.
void write_trace(const std::string& path, const cost::IterationEstimate& est, const Options& o,
                 const plan::PlanResult& best) {
  std::vector<profiler::Event> lanes[2];
  TraceTrack tracks[2];
  for (const cost::TimelineEvent& e : est.timeline) {
    const auto start = std::int64_t(e.start_s * 1e9), duration = std::int64_t(e.duration_s * 1e9);
    if (e.category == "phase" || e.category == "step") {
      tracks[0].spans.push_back({e.name, e.category, start, duration});
      continue;
    }
    const CommPhase phase = e.phase == "optimizer"  ? CommPhase::Optimizer
                            : e.phase == "backward" ? CommPhase::Backward
                                                    : CommPhase::Forward;
    lanes[e.lane == 1 ? 1 : 0].push_back(
        {e.name,
         e.category == "collective" ? profiler::Category::Collective : profiler::Category::Op,
         start, duration, duration, e.bytes, phase});
  }
  tracks[0].rank = 0;
  tracks[0].events = &lanes[0];
  tracks[1].rank = 1;
  tracks[1].events = &lanes[1];
  tracks[1].label = "rank 0 data-parallel stream";
  std::ofstream out(path);
  if (!out)
    throw std::runtime_error("--trace: cannot open '" + path + "': " + std::strerror(errno));
  write_chrome_trace(out, {tracks[0], tracks[1]},
                     {{"command", "tensorpar plan"},
                      {"hardware", o.query.hardware.name},
                      {"plan", plan_name(best.config)},
                      {"predicted_iteration_ms", fixed(ms(best.iteration_s()), 3)}});
  if (!out.flush()) throw std::runtime_error("--trace: cannot write '" + path + "'");
}

}  // namespace

int run_plan(const std::vector<std::string>& argv) {
  const Options o = parse_options(argv);
  const plan::PlanQuery& q = o.query;
  std::vector<plan::PlanResult> plans;
  try {
    plans = plan::plan(q);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (!o.trace_path.empty()) {
    write_trace(o.trace_path, plan::plan_timeline(q, plans.front().config), o, plans.front());
  }
  if (o.json) {
    Json list = Json::array();
    for (const plan::PlanResult& r : plans) list.push(plan_json(r));
    std::cout << Json::object()
                     .set("hardware", q.hardware.name)
                     .set("gpus", q.gpus)
                     .set("gpus_per_node", q.gpus_per_node)
                     .set("model", Json::object()
                                       .set("layers", q.model.layers)
                                       .set("dim", q.model.hidden)
                                       .set("heads", q.model.heads)
                                       .set("seq", q.model.seq)
                                       .set("vocab", q.model.vocab))
                     .set("global_batch", q.global_batch)
                     .set("dtype", std::string(dtype_name(plans.front().config.dtype)))
                     .set("plans", std::move(list))
                     .str()
              << "\n";
    return 0;
  }
  std::size_t fitting = 0;
  for (const plan::PlanResult& r : plans) fitting += r.fits ? 1 : 0;
  std::cout << "tensorpar plan: " << q.model.layers << " layers, dim " << q.model.hidden << ", "
            << q.model.heads << " heads, seq " << q.model.seq << ", vocab " << q.model.vocab
            << ", global batch " << q.global_batch << " on " << q.gpus << " x " << q.hardware.name
            << " (" << q.gpus_per_node << " per node), " << dtype_name(plans.front().config.dtype)
            << "\n";
  std::cout << plans.size() << (plans.size() == 1 ? " plan" : " plans") << ", " << fitting
            << " fit in " << fixed(q.hardware.device.memory_bytes / kGiB, 2)
            << " GiB per GPU; best first:\n\n";
  print_table(std::cout, plans, 20);
  print_detail(std::cout, plans.front(), q.hardware.device.memory_bytes);
  if (!o.trace_path.empty()) std::cout << "\ntrace: " << o.trace_path << "\n";
  return 0;
}

}  // namespace tensorpar::cli
