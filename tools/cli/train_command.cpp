// `tensorpar train`: trains the reference Transformer with tensor parallelism on the simulated
// backend, next to the same model on one device from the same seed and batches, and reports
// the loss curves, the collectives per step and phase, and where the time went (train_report.h).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "sim/world.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/trace.h"
#include "tools/cli/train_report.h"
#include "tools/cli/train_run.h"

namespace tensorpar::cli {

const char* const kTrainUsage =
    "usage: tensorpar train [--world 4] [--layers 2 --dim 64 --heads 4 --vocab 64 --seq 32\n"
    "                       --batch 8] [--sequence-parallel] [--loss-parallel] [--dropout 0]\n"
    "                       [--steps 50] [--optimizer adam|sgd] [--lr X] [--dtype f32|f64]\n"
    "                       [--seed 0] [--no-compare] [--trace FILE] [--json]\n\n"
    "Trains the reference Transformer with tensor parallelism over --world simulated ranks on a\n"
    "next-token task drawn from --seed, and the same model on one device from the same seed and\n"
    "batches. Prints the loss curve against that reference, the collectives per step split into\n"
    "forward/backward/optimizer, and where the time went. Exits 1 when the losses differ by more\n"
    "than the tolerance (1e-3 relative for f32, 1e-9 for f64).\n"
    "  --heads must be divisible by --world (each rank takes whole heads); the sequence may\n"
    "  split unevenly under --sequence-parallel.\n"
    "  --lr defaults to 1e-2 (adam) or 0.1 (sgd).\n"
    "  --no-compare   skip the single-device reference\n"
    "  --trace FILE   write a Chrome trace-event JSON (Perfetto, chrome://tracing): one track\n"
    "                 per rank with every op and collective\n"
    "  --json         print one JSON object on stdout (world, steps [{step, loss, ref_loss}],\n"
    "                 max_abs_loss_diff, comm {forward, backward, optimizer}, tokens_per_s,\n"
    "                 verified, ...)\n";

namespace {

std::int64_t int_flag(const Args& args, const std::string& name, std::int64_t fallback,
                      std::int64_t lo, std::int64_t hi) {
  const auto text = args.get(name);
  if (!text) return fallback;
  std::size_t used = 0;
  std::int64_t v = 0;
  try {
    v = std::stoll(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text->size()) {
    throw UsageError("--" + name + " needs an integer, got '" + *text + "'");
  }
  if (v < lo || v > hi) {
    throw UsageError("--" + name + " " + *text + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  }
  return v;
}

double real_flag(const Args& args, const std::string& name, double fallback) {
  const auto text = args.get(name);
  if (!text) return fallback;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text->size() || !std::isfinite(v)) {
    throw UsageError("--" + name + " needs a number, got '" + *text + "'");
  }
  return v;
}

struct Options {
  TrainConfig config;
  std::string trace_path;
  bool json = false;
};

Options parse_options(const std::vector<std::string>& argv) {
  const Args args(argv,
                  {"world", "layers", "dim", "heads", "vocab", "seq", "batch", "dropout", "steps",
                   "optimizer", "lr", "dtype", "seed", "trace"},
                  {"sequence-parallel", "loss-parallel", "no-compare", "json"});
  Options o;
  TrainConfig& c = o.config;
  c.world = static_cast<int>(int_flag(args, "world", c.world, 1, 64));
  c.layers = int_flag(args, "layers", c.layers, 1, 64);
  c.dim = int_flag(args, "dim", c.dim, 1, 8192);
  c.heads = int_flag(args, "heads", c.heads, 1, 1024);
  c.vocab = int_flag(args, "vocab", c.vocab, 2, 1 << 20);
  c.seq = int_flag(args, "seq", c.seq, 1, 1 << 16);
  c.batch = int_flag(args, "batch", c.batch, 1, 1 << 16);
  c.steps = static_cast<int>(int_flag(args, "steps", c.steps, 1, 1000000));
  c.seed = static_cast<std::uint64_t>(int_flag(args, "seed", 0, 0, INT64_MAX));
  c.dropout = real_flag(args, "dropout", c.dropout);
  if (c.dropout < 0 || c.dropout >= 1) {
    throw UsageError("--dropout " + *args.get("dropout") + " is not in [0, 1)");
  }
  c.optimizer = args.get_or("optimizer", c.optimizer);
  if (c.optimizer != "adam" && c.optimizer != "sgd") {
    throw UsageError("--optimizer must be adam or sgd, got '" + c.optimizer + "'");
  }
  c.lr = real_flag(args, "lr", 0.0);
  if (args.has("lr") && c.lr <= 0)
    throw UsageError("--lr must be positive, got " + *args.get("lr"));
  const std::string dtype = args.get_or("dtype", "f32");
  if (dtype == "f32" || dtype == "float32") {
    c.dtype = DType::Float32;
  } else if (dtype == "f64" || dtype == "float64") {
    c.dtype = DType::Float64;
  } else {
    throw UsageError("--dtype must be f32 or f64, got '" + dtype + "'");
  }
  if (c.dim % c.heads != 0) {
    throw UsageError("--dim " + std::to_string(c.dim) + " is not divisible by --heads " +
                     std::to_string(c.heads));
  }
  if (c.heads % c.world != 0) {
    throw UsageError("--heads " + std::to_string(c.heads) + " is not divisible by --world " +
                     std::to_string(c.world) + " (each rank takes whole attention heads)");
  }
  c.sequence_parallel = args.has("sequence-parallel");
  c.loss_parallel = args.has("loss-parallel");
  c.compare = !args.has("no-compare");
  o.trace_path = args.get_or("trace", "");
  if (args.has("trace") && o.trace_path.empty()) throw UsageError("--trace needs a file name");
  c.keep_trace = !o.trace_path.empty();
  o.json = args.has("json");
  return o;
}

// The progress of a run on stderr: one line redrawn in place on a terminal, otherwise a line
// about every 10% of the steps. Silent when disabled.
class Progress {
 public:
  Progress(const char* label, const TrainConfig& c, bool enabled, const std::vector<double>* ref)
      : label_(label),
        steps_(c.steps),
        tokens_per_step_(c.batch * c.seq),
        enabled_(enabled),
        tty_(isatty(STDERR_FILENO) != 0),
        ref_(ref),
        start_(std::chrono::steady_clock::now()) {}

  void update(int step, double loss) {
    if (!enabled_) return;
    const int done = step + 1;
    const int every = std::max(1, steps_ / 10);
    if (!tty_ && done % every != 0 && done != steps_) return;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done * tokens_per_step_) / elapsed : 0;
    std::string bar;
    if (tty_) {
      constexpr int kWidth = 24;
      const int filled = done * kWidth / steps_;
      bar.assign(kWidth + 3, '.');
      bar.front() = '[';
      bar.replace(1, filled, filled, '#');
      bar.replace(kWidth + 1, 2, "] ");
    }
    char line[200];
    int n = std::snprintf(line, sizeof line, "%s%-10s step %*d/%d  loss %.4f", bar.c_str(), label_,
                          static_cast<int>(std::to_string(steps_).size()), done, steps_, loss);
    if (ref_ != nullptr && step < static_cast<int>(ref_->size())) {
      n += std::snprintf(line + n, sizeof line - n, "  (ref %.4f)", (*ref_)[step]);
    }
    std::snprintf(line + n, sizeof line - n, "  %.0f tokens/s", rate);
    if (tty_) {
      std::fprintf(stderr, "\r%s\033[K", line);
      if (done == steps_) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "%s\n", line);
    }
    std::fflush(stderr);
  }

 private:
  const char* label_;
  int steps_;
  std::int64_t tokens_per_step_;
  bool enabled_, tty_;
  const std::vector<double>* ref_;
  std::chrono::steady_clock::time_point start_;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_trace(const TrainResult& r) {
  std::vector<TraceTrack> tracks;
  for (std::size_t rank = 0; rank < r.ranks.size(); ++rank) {
    const RankRun& run = r.ranks[rank];
    TraceTrack t;
    t.rank = static_cast<int>(rank);
    t.events = &run.events;
    for (std::size_t s = 0; s < run.phase_marks.size(); ++s) {
      const auto& m = run.phase_marks[s];
      t.spans.push_back({"step " + std::to_string(s + 1), "step", m[0], m[3] - m[0]});
      const char* names[] = {"forward", "backward", "optimizer"};
      for (int p = 0; p < 3; ++p) t.spans.push_back({names[p], "phase", m[p], m[p + 1] - m[p]});
    }
    tracks.push_back(std::move(t));
  }
  const TrainConfig& c = r.config;
  std::ofstream file(r.trace_path);
  if (!file) throw std::runtime_error("train: cannot write --trace file '" + r.trace_path + "'");
  write_chrome_trace(file, tracks,
                     {{"command", "tensorpar train"},
                      {"world", std::to_string(c.world)},
                      {"model", std::to_string(c.layers) + " layers, dim " + std::to_string(c.dim) +
                                    ", " + std::to_string(c.heads) + " heads, vocab " +
                                    std::to_string(c.vocab) + ", seq " + std::to_string(c.seq)},
                      {"sequence_parallel", c.sequence_parallel ? "true" : "false"},
                      {"loss_parallel", c.loss_parallel ? "true" : "false"}});
  if (!file) throw std::runtime_error("train: writing --trace file '" + r.trace_path + "' failed");
}

}  // namespace

int run_train(const std::vector<std::string>& argv) {
  const Options o = parse_options(argv);
  const TrainConfig& c = o.config;
  const bool show_progress = !o.json || isatty(STDERR_FILENO);
  if (!o.json) {
    std::printf(
        "training a %lld-layer Transformer (dim %lld, %lld heads, vocab %lld, seq %lld), "
        "batch %lld, %s, %s lr %g, dropout %g, seed %llu\n",
        static_cast<long long>(c.layers), static_cast<long long>(c.dim),
        static_cast<long long>(c.heads), static_cast<long long>(c.vocab),
        static_cast<long long>(c.seq), static_cast<long long>(c.batch),
        std::string(dtype_name(c.dtype)).c_str(), c.optimizer.c_str(),
        c.lr > 0 ? c.lr : default_lr(c.optimizer), c.dropout,
        static_cast<unsigned long long>(c.seed));
    std::printf("tensor parallel over %d simulated ranks, sequence parallel %s, loss parallel %s\n",
                c.world, c.sequence_parallel ? "on" : "off", c.loss_parallel ? "on" : "off");
    std::fflush(stdout);
  }

  TrainResult result;
  result.config = c;
  result.trace_path = o.trace_path;
  if (c.compare) {
    Progress progress("reference", c, show_progress, nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    result.reference =
        run_reference(c, [&](int step, double loss) { progress.update(step, loss); });
    result.reference_wall_s = seconds_since(t0);
  }
  {
    Progress progress("train", c, show_progress, c.compare ? &result.reference : nullptr);
    try {
      result.ranks =
          run_tensor_parallel(c, [&](int step, double loss) { progress.update(step, loss); });
    } catch (const sim::RankFailure& f) {
      std::cerr << "tensorpar train: " << f.what() << "\n";
      return 1;
    }
  }
  // The training loop only: from the first rank's first step to the last rank's last one.
  std::int64_t first = result.ranks[0].run_start_ns, end = first;
  for (const RankRun& run : result.ranks) {
    first = std::min(first, run.run_start_ns);
    end = std::max(end, run.phase_marks.back()[3]);
  }
  result.wall_s = static_cast<double>(end - first) * 1e-9;
  if (!o.trace_path.empty()) write_trace(result);

  const TrainSummary summary = summarize(result);
  if (o.json) {
    std::cout << summary_json(result, summary).str() << "\n";
  } else {
    print_summary(std::cout, result, summary);
  }
  return !c.compare || summary.verified ? 0 : 1;
}

}  // namespace tensorpar::cli
