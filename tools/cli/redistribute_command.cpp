// tensorpar redistribute: runs one redistribute for real on the simulated backend (one rank
// thread per mesh rank), or as one rank of a job of gloo processes, and rank 0 prints the plan, the sharding before and after, the collectives
// counted by CommDebugMode and a verification of every rank's data.
//
// The data is integer-valued (element i holds i), so checks are exact. A Partial source is
// built so that its reduction is the input: the rank at Partial coordinate 0 holds the data and
// the others the identity of the reduction (0 for sum, 1 for product, the data itself for
// avg/max/min).
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/comm/comm_debug_mode.h"
#include "core/dtensor/dtensor.h"
#include "core/base/error.h"
#include "core/dtensor/redistribute.h"
#include "core/tensor/out_of_memory.h"
#include "sim/world.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/job.h"
#include "tools/cli/json.h"
#include "tools/cli/memory_estimate.h"
#include "tools/cli/mesh_flags.h"

namespace tensorpar::cli {

const char* const kRedistributeUsage =
    "usage: tensorpar redistribute --mesh 2x2 [--names dp,tp] --shape 10x5 --from S0,S1 --to S1,S0\n"
    "                              [--dtype f32|f64|i64] [--backend sim|gloo] [--json]\n\n"
    "Runs the redistribute on the simulated backend with one rank per mesh position, or with\n"
    "--backend gloo as one rank of a job of as many processes as the mesh has ranks:\n"
    "  tensorpar run --nproc-per-node 4 -- tensorpar redistribute --backend gloo --mesh 2x2 ...\n"
    "Placements: R, S0 or S(0), P or P(sum), P(max), P(min), P(avg), P(product); one per mesh dim.\n"
    "A Partial target is only accepted where the source has the same Partial.\n";

namespace {

struct Request {
  Shape mesh;
  std::vector<std::string> names;
  Shape shape;
  Placements from, to;
  DType dtype = DType::Float32;
  bool json = false;
  std::string backend = "sim";
};

struct RankReport {
  std::vector<std::int64_t> coordinate;
  LocalShard before, after;
  std::vector<CollectiveRecord> records;
  bool local_ok = false, full_ok = false;
};

constexpr std::int64_t kMaxRanks = 64;  // rank threads of one process

Request parse_request(const std::vector<std::string>& argv) {
  Args args(argv, {"mesh", "names", "shape", "from", "to", "dtype", "backend"}, {"json"});
  Request r;
  r.backend = backend_flag(args);
  if (r.backend == "nccl") {
    throw UsageError("--backend nccl: redistribute moves CPU tensors; use --backend sim or gloo");
  }
  MeshFlags mesh = parse_mesh_flags(args.require("mesh"), args.get("names"), kMaxRanks);
  r.mesh = std::move(mesh.mesh);
  r.names = std::move(mesh.names);
  r.shape = parse_shape_flag(args.require("shape"), "--shape");
  try {
    r.from = parse_placements(args.require("from"));
    r.to = parse_placements(args.require("to"));
    const std::string dtype = args.get_or("dtype", "f32");
    try {
      r.dtype = parse_dtype(dtype);
    } catch (const std::invalid_argument&) {
      throw UsageError("--dtype must be f32, f64 or i64, got '" + dtype + "'");
    }
    r.json = args.has("json");
    check_arg(r.dtype != DType::BFloat16, "--dtype bf16 cannot hold the test data exactly; use "
                                          "f32, f64 or i64");
    const auto ndim = static_cast<std::int64_t>(r.mesh.size());
    const auto tdim = static_cast<std::int64_t>(r.shape.size());
    r.from = normalize_placements(r.from, ndim, tdim, "--from");
    r.to = normalize_placements(r.to, ndim, tdim, "--to");
    plan_redistribute(r.mesh, r.from, r.to);  // rejects S -> P and P(a) -> P(b) up front
    for (std::size_t m = 0; m < r.to.size(); ++m) {
      // DTensor::redistribute's own rule, here so that it is a usage error before any rank runs.
      check_arg(!r.to[m].is_partial() || r.to[m] == r.from[m], "--to ", placements_str(r.to),
                ": a Partial target needs the same Partial in --from (mesh dim ", m, " has ",
                r.from[m].str(), "); redistributing to Partial is for internal use only");
    }
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  check_fits(redistribute_memory(r.shape, r.dtype, r.backend == "sim" ? numel(r.mesh) : 1),
             machine_memory_bytes(),
             cat("--shape ", args.require("shape"), " (", dtype_name(r.dtype), ") on --mesh ",
                 args.require("mesh")));
  if (r.backend != "sim") {
    const int world = launched_env(r.backend, "redistribute", 0).world_size;
    if (world != numel(r.mesh)) {
      throw UsageError(cat("--mesh ", shape_str(r.mesh), " has ", numel(r.mesh),
                           " ranks but the job has WORLD_SIZE=", world));
    }
  }
  return r;
}

Tensor source_local(const Tensor& g, const Request& r, const std::vector<std::int64_t>& coord) {
  const LocalShard s = local_shard_of(r.shape, r.mesh, r.from, coord);
  Tensor local = g;
  for (std::size_t d = 0; d < s.shape.size(); ++d) {
    local = local.narrow(static_cast<std::int64_t>(d), s.offset[d], s.shape[d]);
  }
  local = local.clone();
  bool zero = false, one = false;
  for (std::size_t m = 0; m < r.from.size(); ++m) {
    if (!r.from[m].is_partial() || coord[m] == 0) continue;
    if (r.from[m].reduce_op() == ReduceOp::Sum) zero = true;
    if (r.from[m].reduce_op() == ReduceOp::Product) one = true;
  }
  if (zero) local.fill_(0.0);
  else if (one) local.fill_(1.0);
  return local;
}

Tensor slice(const Tensor& g, const LocalShard& s) {
  Tensor out = g;
  for (std::size_t d = 0; d < s.shape.size(); ++d) {
    out = out.narrow(static_cast<std::int64_t>(d), s.offset[d], s.shape[d]);
  }
  return out;
}

// The global tensor every rank starts from: element i holds i. arange stages the values as
// float64 on the host first; a failed allocation there names the tensor too.
Tensor global_input(const Request& r) {
  try {
    return arange(0.0, static_cast<double>(numel(r.shape)), 1.0, r.dtype).reshape(r.shape);
  } catch (const OutOfMemory&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(cat("out of memory: cannot build the ", shape_str(r.shape), " ",
                          dtype_name(r.dtype), " input (",
                          bytes_text(static_cast<double>(numel(r.shape)) *
                                     static_cast<double>(8 + dtype_size(r.dtype))),
                          " with its float64 staging)"));
  }
}

RankReport run_rank(const Request& r) {
  DeviceMesh mesh(r.mesh, r.names);
  RankReport report;
  report.coordinate = *mesh.get_coordinate();
  const Tensor g = global_input(r);
  FromLocalOptions opts;
  opts.shape = r.shape;
  DTensor source = DTensor::from_local(source_local(g, r, report.coordinate), mesh, r.from, opts);
  report.before = local_shard_of(r.shape, r.mesh, r.from, report.coordinate);
  report.after = local_shard_of(r.shape, r.mesh, r.to, report.coordinate);
  DTensor out;
  {
    CommDebugMode comm;
    out = source.redistribute(r.to);
    report.records = comm.records();
  }
  bool target_partial = false;
  for (const auto& p : r.to) target_partial = target_partial || p.is_partial();
  // A Partial target keeps partial values locally; only its reduction is checked.
  report.local_ok = target_partial || equal(out.to_local(), slice(g, report.after));
  report.full_ok = equal(out.full_tensor(), g);
  return report;
}

std::string ranges_str(const LocalShard& s) {
  std::string out = "[";
  for (std::size_t d = 0; d < s.shape.size(); ++d) {
    out += cat(d ? ", " : "", s.offset[d], ":", s.offset[d] + s.shape[d]);
  }
  return out + "]";
}

std::string partial_note(const Placements& ps, const std::vector<std::string>& names) {
  std::string note;
  for (std::size_t m = 0; m < ps.size(); ++m) {
    if (!ps[m].is_partial()) continue;
    note += cat(note.empty() ? "  partial " : ", ", reduce_op_name(ps[m].reduce_op()),
                " over mesh dim ", names.empty() ? std::to_string(m) : names[m]);
  }
  return note;
}

void print_table(std::ostream& os, const char* title, const Placements& ps, const Request& r,
                 const std::vector<RankReport>& reports, bool before) {
  os << title << " " << placements_str(ps) << "\n";
  os << "  rank  coordinate  local shape   global indices\n";
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const LocalShard& s = before ? reports[i].before : reports[i].after;
    os << "  " << std::left << std::setw(6) << i << std::setw(12)
       << shape_str(reports[i].coordinate) << std::setw(14) << shape_str(s.shape)
       << (numel(s.shape) == 0 ? "(empty)" : ranges_str(s)) << partial_note(ps, r.names) << "\n";
  }
}

struct StepReport {
  RedistributeStep step;
  std::string collective;  // "none" for local steps
  std::int64_t bytes_per_rank = 0;
};

std::vector<StepReport> step_reports(const Request& r, const RedistributePlan& plan,
                                     const std::vector<RankReport>& reports) {
  std::vector<StepReport> steps;
  std::size_t record = 0;
  for (const auto& step : plan.steps) {
    StepReport s{step, "none", 0};
    const auto kind = step_collective(step.from, step.to);
    if (kind && r.mesh[step.mesh_dim] > 1) {
      s.collective = std::string(collective_name(*kind));
      for (const auto& rep : reports) {
        if (record < rep.records.size()) {
          s.bytes_per_rank = std::max(s.bytes_per_rank, rep.records[record].bytes);
        }
      }
      ++record;
    }
    steps.push_back(s);
  }
  return steps;
}

// What a rank of a job sends rank 0: its checks and its collectives (kind, bytes).
std::vector<double> encode(const RankReport& rep) {
  std::vector<double> out = {rep.local_ok ? 1.0 : 0.0, rep.full_ok ? 1.0 : 0.0};
  for (const auto& rec : rep.records) {
    out.push_back(static_cast<double>(rec.kind));
    out.push_back(static_cast<double>(rec.bytes));
  }
  return out;
}

RankReport decode(const std::vector<double>& in, const Request& r, int rank) {
  RankReport rep;
  std::int64_t rest = rank;  // DeviceMesh lays ranks out row-major
  rep.coordinate.assign(r.mesh.size(), 0);
  for (std::size_t d = r.mesh.size(); d-- > 0;) {
    rep.coordinate[d] = rest % r.mesh[d];
    rest /= r.mesh[d];
  }
  rep.before = local_shard_of(r.shape, r.mesh, r.from, rep.coordinate);
  rep.after = local_shard_of(r.shape, r.mesh, r.to, rep.coordinate);
  rep.local_ok = in.at(0) != 0;
  rep.full_ok = in.at(1) != 0;
  for (std::size_t i = 2; i + 1 < in.size(); i += 2) {
    CollectiveRecord rec;
    rec.kind = static_cast<CollectiveKind>(static_cast<int>(in[i]));
    rec.bytes = static_cast<std::int64_t>(in[i + 1]);
    rep.records.push_back(rec);
  }
  return rep;
}

// One rank of a job: every rank runs its part, rank 0 receives every rank's report (the
// others get an empty list and print nothing).
std::vector<RankReport> run_in_job(const Request& r) {
  std::unique_ptr<ProcessWorld> job = join_job(r.backend);
  const RankReport mine = run_rank(r);
  const auto all = all_gather_doubles(*job->world(), encode(mine));
  if (job->env().rank != 0) return {};
  std::vector<RankReport> reports;
  for (std::size_t i = 0; i < all.size(); ++i) {
    reports.push_back(i == 0 ? mine : decode(all[i], r, static_cast<int>(i)));
  }
  return reports;
}

}  // namespace

int run_redistribute(const std::vector<std::string>& argv) {
  const Request r = parse_request(argv);
  const RedistributePlan& plan = plan_redistribute(r.mesh, r.from, r.to);
  std::vector<RankReport> reports;
  try {
    if (r.backend == "sim") {
      reports = sim::run(static_cast<int>(numel(r.mesh)), [&] { return run_rank(r); });
    } else {
      reports = run_in_job(r);
      if (reports.empty()) return 0;  // not rank 0
    }
  } catch (const sim::RankFailure& f) {
    std::cerr << "tensorpar redistribute: " << f.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "tensorpar redistribute: " << e.what() << "\n";
    return 1;
  }

  std::map<std::string, std::int64_t> counts;
  for (const auto& rec : reports[0].records) ++counts[std::string(collective_name(rec.kind))];
  bool verified = true;
  for (const auto& rep : reports) {
    std::map<std::string, std::int64_t> mine;
    for (const auto& rec : rep.records) ++mine[std::string(collective_name(rec.kind))];
    verified = verified && rep.local_ok && rep.full_ok && mine == counts;
  }
  const auto steps = step_reports(r, plan, reports);
  const std::string path = plan_path(r.from, plan);

  if (r.json) {
    Json out = Json::object();
    out.set("backend", r.backend);
    out.set("mesh", json_ints(r.mesh));
    Json names = Json::array();
    for (const auto& n : r.names) names.push(n);
    out.set("mesh_dim_names", names);
    out.set("shape", json_ints(r.shape));
    out.set("dtype", std::string(dtype_name(r.dtype)));
    Json from = Json::array(), to = Json::array();
    for (const auto& p : r.from) from.push(p.str());
    for (const auto& p : r.to) to.push(p.str());
    out.set("from", from).set("to", to).set("path", path);
    Json js = Json::array();
    for (const auto& s : steps) {
      js.push(Json::object()
                  .set("mesh_dim", s.step.mesh_dim)
                  .set("from", s.step.from.str())
                  .set("to", s.step.to.str())
                  .set("collective", s.collective)
                  .set("bytes_per_rank", s.bytes_per_rank));
    }
    out.set("steps", js);
    Json jc = Json::object();
    for (const auto& [name, n] : counts) jc.set(name, n);
    out.set("counts", jc);
    Json ranks = Json::array();
    for (std::size_t i = 0; i < reports.size(); ++i) {
      const auto& rep = reports[i];
      ranks.push(Json::object()
                     .set("rank", static_cast<std::int64_t>(i))
                     .set("coordinate", json_ints(rep.coordinate))
                     .set("before", Json::object()
                                        .set("shape", json_ints(rep.before.shape))
                                        .set("offset", json_ints(rep.before.offset)))
                     .set("after", Json::object()
                                       .set("shape", json_ints(rep.after.shape))
                                       .set("offset", json_ints(rep.after.offset)))
                     .set("verified", rep.local_ok && rep.full_ok));
    }
    out.set("ranks", ranks);
    out.set("verified", verified);
    std::cout << out.str() << "\n";
    return verified ? 0 : 1;
  }

  std::ostream& os = std::cout;
  os << "redistribute " << placements_str(r.from) << " -> " << placements_str(r.to)
     << " of a " << shape_str(r.shape) << " " << dtype_name(r.dtype) << " tensor on mesh "
     << shape_str(r.mesh);
  if (!r.names.empty()) {
    os << " (";
    for (std::size_t i = 0; i < r.names.size(); ++i) os << (i ? ", " : "") << r.names[i];
    os << ")";
  }
  os << ", " << numel(r.mesh) << (r.backend == "sim" ? " simulated ranks" : " " + r.backend + " processes")
     << "\n\nplan: " << path << "\n";
  os << "  step  mesh dim  from  to    collective      bytes/rank\n";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    std::string dim = std::to_string(s.step.mesh_dim);
    if (!r.names.empty()) dim += " (" + r.names[s.step.mesh_dim] + ")";
    os << "  " << std::left << std::setw(6) << i + 1 << std::setw(10) << dim << std::setw(6)
       << s.step.from.str() << std::setw(6) << s.step.to.str() << std::setw(16)
       << (s.collective == "none" ? "local" : s.collective) << s.bytes_per_rank << "\n";
  }
  if (steps.empty()) os << "  (nothing to do)\n";
  os << "\n";
  print_table(os, "before", r.from, r, reports, true);
  os << "\n";
  print_table(os, "after", r.to, r, reports, false);
  os << "\ncollectives per rank (CommDebugMode):";
  if (counts.empty()) os << " none";
  os << "\n";
  for (const auto& [name, n] : counts) {
    std::int64_t bytes = 0;
    for (const auto& rec : reports[0].records) {
      if (collective_name(rec.kind) == name) bytes += rec.bytes;
    }
    os << "  " << std::left << std::setw(16) << name << n << " (" << bytes << " bytes on rank 0)\n";
  }
  os << "\nverification: ";
  if (verified) {
    os << "OK — every rank's local shard follows the torch.chunk rule and full_tensor() equals "
          "the input\n";
  } else {
    os << "FAILED —";
    for (std::size_t i = 0; i < reports.size(); ++i) {
      if (!reports[i].local_ok) os << " rank " << i << " local shard wrong;";
      if (!reports[i].full_ok) os << " rank " << i << " full tensor wrong;";
    }
    os << "\n";
  }
  return verified ? 0 : 1;
}

}  // namespace tensorpar::cli
