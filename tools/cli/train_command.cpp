// `tensorpar train`: trains the reference Transformer with tensor parallelism on the simulated
// backend, next to the same model on one device from the same seed and batches, and reports
// the loss curves, the collectives per step and phase, and where the time went (train_report.h).
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <functional>
#include <memory>
#include <optional>

#include "core/base/error.h"
#include "core/dtensor/placement.h"
#include "sim/world.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/job.h"
#include "tools/cli/memory_estimate.h"
#include "tools/cli/mesh_flags.h"
#include "tools/cli/progress.h"
#include "tools/cli/trace.h"
#include "tools/cli/device_flag.h"
#include "tools/cli/train_checkpoint.h"
#include "tools/cli/train_report.h"
#include "tools/cli/train_run.h"

namespace tensorpar::cli {

const char* const kTrainUsage =
    "usage: tensorpar train [--backend sim|gloo|nccl] [--device cpu|standin|cuda]\n"
    "                       [--world 4 | --mesh dp=2,tp=2]\n"
    "                       [--layers 2 --dim 64 --heads 4 --vocab 64 --seq 32\n"
    "                       --batch 8] [--sequence-parallel] [--loss-parallel] [--dropout 0]\n"
    "                       [--steps 50] [--optimizer adam|sgd] [--lr X] [--dtype f32|f64]\n"
    "                       [--seed 0] [--no-compare] [--trace FILE] [--json]\n"
    "                       [--progress auto|redraw|lines|off]\n"
    "                       [--save DIR [--save-every N]] [--load DIR|FILE.safetensors]\n\n"
    "Trains the reference Transformer with tensor parallelism over --world simulated ranks on a\n"
    "next-token task drawn from --seed, and the same model on one device from the same seed and\n"
    "batches. Prints the loss curve against that reference, the collectives per step split into\n"
    "forward/backward/optimizer, and where the time went. Exits 1 when the losses differ by more\n"
    "than the tolerance (1e-3 relative for f32, 1e-9 for f64), and when a loss is not finite\n"
    "(both runs stop at that step). Sizes past this machine's memory are refused up front.\n"
    "  --backend sim    (default) --world ranks as threads of this process\n"
    "  --backend gloo   this process is one rank of a job started by 'tensorpar run' (or\n"
    "                   torchrun): the world is WORLD_SIZE (--world, if given, must equal it);\n"
    "                   rank 0 also runs the reference and prints the report, the others only\n"
    "                   errors. TENSORPAR_TIMEOUT_MS sets the collective timeout (default 300000).\n"
    "                   example: tensorpar run --nproc-per-node 4 -- tensorpar train --backend gloo\n"
    "  --backend nccl   as gloo, one process per GPU (cuda:LOCAL_RANK), NCCL's collectives;\n"
    "                   --device defaults to cuda and must be cuda (a build with NCCL)\n"
    "  --device cpu     (default) every tensor in host memory\n"
    "  --device standin the stand-in accelerator: memory host code may not read, served by the\n"
    "                   CPU kernels; the same losses and collectives as on cpu\n"
    "  --device cuda    NVIDIA GPUs (a build with CUDA): with --backend sim every rank thread\n"
    "                   shares cuda:0\n"
    "  --mesh dp=D,tp=T\n"
    "                   a 2-D mesh of D x T ranks (tp the inner dim): tensor parallel over tp,\n"
    "                   the batch split over dp (torch.chunk rows; uneven when D does not divide\n"
    "                   --batch) and the gradients averaged over dp once per step in 25 MiB\n"
    "                   buckets (one all_reduce each, counted in backward). Without --mesh: a\n"
    "                   1-D tp mesh of --world ranks. Not with --dropout when D > 1\n"
    "  --heads must be divisible by --world (by T with --mesh: each rank takes whole heads); the\n"
    "  sequence may split unevenly under --sequence-parallel.\n"
    "  --lr defaults to 1e-2 (adam) or 0.1 (sgd).\n"
    "  --save DIR     write a sharded checkpoint into DIR after the last step (and with\n"
    "                 --save-every N after every N steps): model, optimizer, step, generator\n"
    "  --load DIR     resume from a checkpoint saved at any --world, with or without\n"
    "                 --sequence-parallel, on any backend: --steps more steps follow the saved\n"
    "                 one, numbered and trained as in an uninterrupted run; the reference\n"
    "                 resumes from it too.\n"
    "                 A lone .safetensors file (tensorpar checkpoint consolidate) gives the\n"
    "                 weights only and starts at step 0\n"
    "  --no-compare   skip the single-device reference\n"
    "  --trace FILE   write a Chrome trace-event JSON (Perfetto, chrome://tracing): one track\n"
    "                 per rank with every op and collective\n"
    "  --json         print one JSON object on stdout (world, steps [{step, loss, ref_loss}],\n"
    "                 max_abs_loss_diff, comm {forward, backward, optimizer}, tokens_per_s,\n"
    "                 verified, ...)\n"
    "  --progress M   on stderr: auto (default: redraw on a terminal, else lines; off under\n"
    "                 --json without a terminal), redraw (one line, refreshed twice a second),\n"
    "                 lines (every 10% of the steps or 10 s), off\n";

namespace {

// What a 2-D mesh does not take: a batch that leaves a dp rank no rows, and dropout over more
// than one dp rank (its draws are numbered per dp shard, so the run would not equal the
// single-device one).
void check_data_parallel(const Args& args, const TrainConfig& c) {
  const std::string mesh = "--mesh " + *args.get("mesh");
  const std::int64_t per_rank = padded_chunk_size(c.batch, c.dp);
  if (c.batch - (c.dp - 1) * per_rank < 1) {
    throw UsageError(cat("--batch ", c.batch, " leaves a data-parallel rank of ", mesh,
                         " no rows (torch.chunk gives ", per_rank, " rows per rank); use --batch ",
                         "of at least ", (c.dp - 1) * per_rank + 1, " or a smaller dp"));
  }
  if (c.dp > 1 && c.dropout > 0) {
    throw UsageError(cat("--dropout ", *args.get("dropout"), " with ", mesh,
                         ": each dp rank would number its dropout draws from its own rows, so the "
                         "run could not equal the single-device run; use dp=1 or --dropout 0"));
  }
}

struct Options {
  TrainConfig config;
  std::string trace_path;
  bool json = false;
  ProgressMode progress = ProgressMode::Off;
};

Options parse_options(const std::vector<std::string>& argv) {
  const Args args(argv,
                  {"world", "mesh", "layers", "dim", "heads", "vocab", "seq", "batch", "dropout", "steps",
                   "optimizer", "lr", "dtype", "seed", "trace", "backend", "device", "progress",
                   "save", "save-every", "load"},
                  {"sequence-parallel", "loss-parallel", "no-compare", "json"});
  Options o;
  TrainConfig& c = o.config;
  c.backend = backend_flag(args);
  // nccl moves CUDA tensors: --device defaults to cuda there, and must be cuda.
  const bool nccl = c.backend == "nccl";
  c.device = device_flag(args, nccl ? "cuda" : "cpu");
  if (c.backend == "gloo" && c.device != cpu()) {
    throw UsageError("--backend gloo moves CPU tensors only; use --device cpu");
  }
  if (nccl && c.device.type != DeviceType::CUDA) {
    throw UsageError("--backend nccl moves CUDA tensors only; use --device cuda");
  }
  c.world = static_cast<int>(integer_flag(args, "world", c.world, 1, 64));
  std::optional<DataTensorMesh> mesh;
  if (args.has("mesh")) {
    mesh = parse_data_tensor_mesh(*args.get("mesh"), 64);
    if (args.has("world") && c.world != mesh->ranks()) {
      throw UsageError(cat("--mesh ", *args.get("mesh"), " has ", mesh->ranks(),
                           " ranks but --world is ", c.world, " (give one of them, or agree)"));
    }
    c.world = mesh->ranks();
    c.dp = mesh->dp;
  }
  if (c.backend != "sim") {
    const ProcessEnv env = launched_env(c.backend, "train", args.has("world") ? c.world : 0);
    c.world = env.world_size;
    // One process per GPU: the launcher's LOCAL_RANK picks it.
    if (nccl) c.device = cuda_device_for_rank(env.local_rank);
    if (mesh && mesh->ranks() != c.world) {
      throw UsageError(cat("--mesh ", *args.get("mesh"), " has ", mesh->ranks(),
                           " ranks but WORLD_SIZE=", c.world,
                           " (under a launcher the world is the job's)"));
    }
  }
  c.layers = integer_flag(args, "layers", c.layers, 1, 64);
  c.dim = integer_flag(args, "dim", c.dim, 1, 8192);
  c.heads = integer_flag(args, "heads", c.heads, 1, 1024);
  c.vocab = integer_flag(args, "vocab", c.vocab, 2, 1 << 20);
  c.seq = integer_flag(args, "seq", c.seq, 1, 1 << 16);
  c.batch = integer_flag(args, "batch", c.batch, 1, 1 << 16);
  c.steps = static_cast<int>(integer_flag(args, "steps", c.steps, 1, 1000000));
  c.seed = static_cast<std::uint64_t>(integer_flag(args, "seed", 0, 0, INT64_MAX));
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
  if (c.heads % tp_degree(c) != 0) {
    throw UsageError("--heads " + std::to_string(c.heads) + " is not divisible by " +
                     (mesh ? "tp " + std::to_string(tp_degree(c)) + " of --mesh"
                           : "--world " + std::to_string(c.world)) +
                     " (each rank takes whole attention heads)");
  }
  c.sequence_parallel = args.has("sequence-parallel");
  c.loss_parallel = args.has("loss-parallel");
  c.compare = !args.has("no-compare");
  o.trace_path = args.get_or("trace", "");
  if (args.has("trace") && o.trace_path.empty()) throw UsageError("--trace needs a file name");
  c.keep_trace = !o.trace_path.empty();
  // Refused before anything is allocated when it cannot fit (memory_estimate.h).
  check_fits(train_memory(c, c.backend == "sim" ? c.world : 1), machine_memory_bytes(),
             cat("--layers ", c.layers, " --dim ", c.dim, " --heads ", c.heads, " --vocab ",
                 c.vocab, " --seq ", c.seq, " --batch ", c.batch, " (", dtype_name(c.dtype), ", ",
                 c.optimizer, ")"));
  o.json = args.has("json");
  c.save_dir = args.get_or("save", "");
  if (args.has("save") && c.save_dir.empty()) throw UsageError("--save needs a folder");
  c.save_every = static_cast<int>(integer_flag(args, "save-every", 0, 1, 1000000));
  if (args.has("save-every") && c.save_dir.empty()) {
    throw UsageError("--save-every " + *args.get("save-every") + " needs --save DIR");
  }
  c.load_path = args.get_or("load", "");
  if (args.has("load") && c.load_path.empty()) throw UsageError("--load needs a folder or file");
  if (mesh) check_data_parallel(args, c);
  o.progress = progress_mode(args.get_or("progress", "auto"), o.json, isatty(STDERR_FILENO) != 0);
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The --trace file, opened before the run so that a path it cannot write is refused up front
// (a usage error) instead of after the training.
std::unique_ptr<std::ofstream> open_trace(const std::string& path) {
  if (path.empty()) return nullptr;
  auto file = std::make_unique<std::ofstream>(path);
  if (!*file) {
    throw UsageError("--trace " + path + ": cannot open it for writing: " + std::strerror(errno));
  }
  return file;
}

void write_trace(const TrainResult& r, std::ofstream& file) {
  std::vector<TraceTrack> tracks;
  for (std::size_t rank = 0; rank < r.ranks.size(); ++rank) {
    const RankRun& run = r.ranks[rank];
    if (run.phase_marks.empty()) continue;  // a process backend's other ranks
    TraceTrack t;
    t.rank = static_cast<int>(rank);
    t.events = &run.events;
    for (std::size_t s = 0; s < run.phase_marks.size(); ++s) {
      const auto& m = run.phase_marks[s];
      t.spans.push_back({"step " + std::to_string(run.step_number(s)), "step", m[0], m[3] - m[0]});
      const char* names[] = {"forward", "backward", "optimizer"};
      for (int p = 0; p < 3; ++p) t.spans.push_back({names[p], "phase", m[p], m[p + 1] - m[p]});
    }
    tracks.push_back(std::move(t));
  }
  const TrainConfig& c = r.config;
  write_chrome_trace(file, tracks,
                     {{"command", "tensorpar train"},
                      {"world", std::to_string(c.world)},
                      {"mesh", c.dp > 0 ? cat("dp=", dp_degree(c), ",tp=", tp_degree(c))
                                        : cat("tp=", c.world)},
                      {"model", std::to_string(c.layers) + " layers, dim " + std::to_string(c.dim) +
                                    ", " + std::to_string(c.heads) + " heads, vocab " +
                                    std::to_string(c.vocab) + ", seq " + std::to_string(c.seq)},
                      {"sequence_parallel", c.sequence_parallel ? "true" : "false"},
                      {"loss_parallel", c.loss_parallel ? "true" : "false"}});
  file.flush();
  if (!file) throw std::runtime_error("train: writing --trace file '" + r.trace_path + "' failed");
}

void print_header(const TrainConfig& c) {
  {
    std::printf(
        "training a %lld-layer Transformer (dim %lld, %lld heads, vocab %lld, seq %lld), "
        "batch %lld, %s, %s lr %g, dropout %g, seed %llu\n",
        static_cast<long long>(c.layers), static_cast<long long>(c.dim),
        static_cast<long long>(c.heads), static_cast<long long>(c.vocab),
        static_cast<long long>(c.seq), static_cast<long long>(c.batch),
        std::string(dtype_name(c.dtype)).c_str(), c.optimizer.c_str(),
        c.lr > 0 ? c.lr : default_lr(c.optimizer), c.dropout,
        static_cast<unsigned long long>(c.seed));
    if (c.dp > 0) {
      std::printf("2-D mesh dp %d x tp %d (%d %s): tensor parallel over tp, the batch and the "
                  "gradient all_reduce over dp; sequence parallel %s, loss parallel %s\n",
                  dp_degree(c), tp_degree(c), c.world, ranks_noun(c).c_str(),
                  c.sequence_parallel ? "on" : "off", c.loss_parallel ? "on" : "off");
    } else {
      std::printf("tensor parallel over %d %s, sequence parallel %s, loss parallel %s\n", c.world,
                  ranks_noun(c).c_str(), c.sequence_parallel ? "on" : "off",
                  c.loss_parallel ? "on" : "off");
    }
    std::fflush(stdout);
  }
}

int report(const Options& o, TrainResult& result, std::ofstream* trace) {
  if (trace != nullptr) write_trace(result, *trace);
  const TrainSummary summary = summarize(result);
  if (o.json) {
    std::cout << summary_json(result, summary).str() << "\n";
  } else {
    print_summary(std::cout, result, summary);
  }
  if (const std::string stop = non_finite_message(summary); !stop.empty()) {
    std::cerr << "tensorpar train: " << stop << "; training stopped there\n";
    return 1;
  }
  return !result.config.compare || summary.verified ? 0 : 1;
}

constexpr CommPhase kPhases[] = {CommPhase::Forward, CommPhase::Backward, CommPhase::Optimizer};

// What rank `rank` of a process backend sends rank 0 after training: its losses, phase times,
// profile totals per phase, wall time of its loop, and a fingerprint of each step's collectives.
constexpr std::uint64_t kExactInDouble = (1ULL << 52) - 1;

double comm_fingerprint(const StepComm& s) {
  std::string text;
  for (const auto& [phase, counts] : s.counts) {
    for (const auto& [name, n] : counts) text += cat(phase_name(phase), name, n, ";");
  }
  for (const auto& [phase, bytes] : s.bytes) text += cat(phase_name(phase), bytes, ";");
  for (const auto& [phase, counts] : s.dp_counts) {
    for (const auto& [name, n] : counts) text += cat("dp", phase_name(phase), name, n, ";");
  }
  for (const auto& [phase, bytes] : s.dp_bytes) text += cat("dp", phase_name(phase), bytes, ";");
  return static_cast<double>(std::hash<std::string>{}(text) & kExactInDouble);
}

std::vector<double> rank_payload(const RankRun& run) {
  std::vector<double> out;
  out.push_back(static_cast<double>(run.phase_marks.back()[3] - run.run_start_ns) * 1e-9);
  for (double l : run.losses) out.push_back(l);
  for (const PhaseTimes& t : run.times) out.insert(out.end(), {t.forward_s, t.backward_s, t.optimizer_s});
  for (CommPhase p : kPhases) {
    const auto op = run.profile.op_s.find(p), coll = run.profile.collective_s.find(p);
    out.push_back(op == run.profile.op_s.end() ? 0.0 : op->second);
    out.push_back(coll == run.profile.collective_s.end() ? 0.0 : coll->second);
  }
  for (const StepComm& s : run.comm) out.push_back(comm_fingerprint(s));
  return out;
}

// Rank r's record on rank 0: the steps' collectives are rank 0's where the fingerprints agree,
// and a record that cannot equal any real step where they do not.
RankRun decode_payload(const std::vector<double>& in, int steps, const RankRun& rank0,
                       double& wall_s) {
  RankRun run;
  run.first_step = rank0.first_step;  // every rank resumed from the same checkpoint
  std::size_t i = 0;
  wall_s = in.at(i++);
  for (int s = 0; s < steps; ++s) run.losses.push_back(in.at(i++));
  for (int s = 0; s < steps; ++s) {
    run.times.push_back({in.at(i), in.at(i + 1), in.at(i + 2)});
    i += 3;
  }
  for (CommPhase p : kPhases) {
    run.profile.op_s[p] = in.at(i++);
    run.profile.collective_s[p] = in.at(i++);
  }
  for (int s = 0; s < steps; ++s) {
    const StepComm& mine = rank0.comm.at(static_cast<std::size_t>(s));
    if (in.at(i++) == comm_fingerprint(mine)) {
      run.comm.push_back(mine);
    } else {
      StepComm differs;
      differs.counts[CommPhase::Forward]["(differs from rank 0)"] = -1;
      run.comm.push_back(differs);
    }
  }
  return run;
}

// The single-device reference run, with its progress line and wall time, into result.
void run_timed_reference(const TrainConfig& c, const ProgressOptions& shown, TrainResult& result) {
  Progress progress("reference", c.steps, c.batch * c.seq, nullptr, shown);
  const auto t0 = std::chrono::steady_clock::now();
  result.reference = run_reference(c, [&](int step, double loss) { progress.update(step, loss); });
  result.reference_wall_s = seconds_since(t0);
}

// One rank of a job (--backend gloo or nccl): train this rank's part, send rank 0 the record, and on
// rank 0 run the reference and report.
int run_train_in_job(const Options& o) {
  const TrainConfig& c = o.config;
  set_default_device(c.device);  // cuda:LOCAL_RANK under nccl: the world's device too
  std::unique_ptr<ProcessWorld> job = join_job(c.backend);
  const int rank = job->env().rank;
  // Only rank 0 writes the trace; it fails here, before training, and the launcher stops the rest.
  const std::unique_ptr<std::ofstream> trace = rank == 0 ? open_trace(o.trace_path) : nullptr;
  ProgressOptions shown{.mode = rank == 0 ? o.progress : ProgressMode::Off};
  if (rank == 0 && !o.json) print_header(c);
  TrainResult result;
  result.config = c;
  result.trace_path = o.trace_path;
  std::vector<std::vector<double>> payloads;
  try {
    // The line numbers a resumed run's steps as the uninterrupted run does (from the saved step).
    if (rank == 0) shown.first_step = resume_step(c);
    Progress progress("train", c.steps, c.batch * c.seq, nullptr, shown);
    result.ranks.push_back(
        train_rank(c, rank, [&](int step, double loss) { progress.update(step, loss); }));
    progress.finish();
    payloads = all_gather_doubles(*job->world(), rank_payload(result.ranks[0]));
  } catch (const std::exception& e) {
    std::cerr << "tensorpar train: rank " << rank << ": " << e.what() << "\n";
    return 1;
  }
  job.reset();  // every rank has what it needs: leave the job before the reference
  if (rank != 0) return 0;
  for (std::size_t r = 0; r < payloads.size(); ++r) {
    double wall = 0;
    // Every rank stopped after the same step (train_rank): rank 0's count is everyone's.
    const auto steps_run = static_cast<int>(result.ranks[0].losses.size());
    RankRun other = decode_payload(payloads[r], steps_run, result.ranks[0], wall);
    result.wall_s = std::max(result.wall_s, wall);
    if (r > 0) result.ranks.push_back(std::move(other));
  }
  if (c.compare) run_timed_reference(c, shown, result);
  return report(o, result, trace.get());
}

}  // namespace

int run_train(const std::vector<std::string>& argv) {
  const Options o = parse_options(argv);
  if (o.config.backend != "sim") return run_train_in_job(o);
  const TrainConfig& c = o.config;
  const std::unique_ptr<std::ofstream> trace = open_trace(o.trace_path);
  set_default_device(c.device);  // the rank threads and the reference both run there
  if (!o.json) print_header(c);

  TrainResult result;
  result.config = c;
  result.trace_path = o.trace_path;
  // The line numbers a resumed run's steps as the uninterrupted run does (from the saved step).
  const ProgressOptions shown{.mode = o.progress, .first_step = resume_step(c)};
  if (c.compare) run_timed_reference(c, shown, result);
  {
    Progress progress("train", c.steps, c.batch * c.seq, c.compare ? &result.reference : nullptr,
                      shown);
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
  return report(o, result, trace.get());
}

}  // namespace tensorpar::cli
