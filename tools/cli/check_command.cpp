// `tensorpar check`: the command a user runs to trust a build. For every op: a float64
// finite-difference gradient check, and the sharding-rule matrix on the simulated backend
// (every placement combination on meshes 2, 3, 4 and 2x2, values, gradients and collective
// counts; see sim/op_check.h); on a device other than the CPU, also each op's values and gradients
// on the device against the CPU's (bitwise for the ops that only move data).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "sim/op_check.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/device_flag.h"
#include "tools/cli/json.h"

namespace tensorpar::cli {

const char* const kCheckUsage =
    "usage: tensorpar check [--op NAME] [--device cpu|standin|cuda] [--json]\n"
    "  Runs, for every op, a float64 finite-difference gradient check and the sharding-rule\n"
    "  matrix on the simulated backend; exits 1 when anything fails.\n"
    "  --op NAME   check only the op cases whose name contains NAME\n"
    "  --device D  run every tensor on device D (cpu, standin: the stand-in accelerator, cuda);\n"
    "              a device other than cpu also compares each op's forward value and input\n"
    "              gradients on D with the CPU's (column \"vs cpu\"): bitwise for the ops that\n"
    "              only move data (cat, permute, transpose, reshape, embedding's forward), else\n"
    "              max |D - cpu| / max(1, max |cpu|) <= 1e-12\n"
    "  --json      print {\"ops\": [{\"op\", \"gradcheck_max_rel_err\", \"rule_cases\",\n"
    "              \"rule_failures\", \"count_failures\", \"backward_exact\"[,\n"
    "              \"device_vs_cpu_max_rel_err\", \"device_vs_cpu_ok\" (device other than cpu)]}],\n"
    "              \"ok\": bool}\n"
    "  rule failures are cases whose values or gradients differ from the single-device run;\n"
    "  count failures are cases whose collectives differ from the ones the rules promise;\n"
    "  backward_exact counts the cases whose backward collectives were compared exactly.\n";

int run_check(const std::vector<std::string>& argv) {
  const Args args(argv, {"op", "device"}, {"json"});
  const Device device = device_flag(args);
  set_default_device(device);
  const bool vs_cpu = device != cpu();
  const bool json = args.has("json");
  const std::string filter = args.get_or("op", "");
  constexpr double kGradTolerance = 1e-6;

  Json ops = Json::array();
  bool ok = true;
  int matched = 0;
  const auto start = std::chrono::steady_clock::now();
  bool any = false;
  for (const sim::OpCase& op : sim::standard_op_cases()) {
    any = any || filter.empty() || op.name.find(filter) != std::string::npos;
  }
  if (!any) throw UsageError("check: no op matches --op '" + filter + "'");
  if (!json) {
    std::printf("%-36s %16s %14s %14s %10s  %s\n", "op", "gradcheck err", "rule cases", "counts",
                "vs cpu", "status");
  }
  for (const sim::OpCase& op : sim::standard_op_cases()) {
    if (!filter.empty() && op.name.find(filter) == std::string::npos) continue;
    ++matched;
    const double err = sim::gradcheck_max_rel_err(op);
    int cases = 0, failures = 0, count_failures = 0, backward_exact = 0;
    std::vector<std::string> messages;
    for (const Shape& mesh : sim::standard_meshes()) {
      sim::RuleResult r = sim::check_sharding_rule(op, mesh);
      cases += r.cases;
      failures += r.failures;
      count_failures += r.count_failures;
      backward_exact += r.backward_exact;
      for (auto& m : r.messages) messages.push_back(std::move(m));
    }
    sim::DeviceComparison device_run;
    if (vs_cpu) {
      device_run = sim::compare_with_cpu(op, device);
      if (!device_run.ok) messages.insert(messages.begin(), "vs cpu: " + device_run.message);
    }
    const bool pass = failures == 0 && count_failures == 0 && err < kGradTolerance &&
                      (!vs_cpu || device_run.ok);
    ok = ok && pass;
    if (json) {
      Json entry = Json::object()
                       .set("op", op.name)
                       .set("gradcheck_max_rel_err", err)
                       .set("rule_cases", cases)
                       .set("rule_failures", failures)
                       .set("count_failures", count_failures)
                       .set("backward_exact", backward_exact);
      if (vs_cpu) {
        entry.set("device_vs_cpu_max_rel_err", device_run.max_rel_err)
            .set("device_vs_cpu_ok", device_run.ok);
      }
      ops.push(entry);
    } else {
      char rules[32], counts[32], versus[32] = "-";
      std::snprintf(rules, sizeof rules, "%d/%d", cases - failures, cases);
      std::snprintf(counts, sizeof counts, "%d/%d", cases - count_failures, cases);
      if (vs_cpu) std::snprintf(versus, sizeof versus, "%.2e", device_run.max_rel_err);
      std::printf("%-36s %16.2e %14s %14s %10s  %s\n", op.name.c_str(), err, rules, counts,
                  versus, pass ? "ok" : "FAIL");
      for (std::size_t i = 0; i < messages.size() && i < 3; ++i) {
        std::printf("    %s\n", messages[i].c_str());
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) {
    std::cout << Json::object().set("ops", ops).set("ok", ok).str() << "\n";
  } else {
    std::printf("\n%d op cases, gradient tolerance %.0e", matched, kGradTolerance);
    if (vs_cpu) {
      std::printf(", %s vs cpu tolerance %.0e (bitwise for data movement)",
                  device_str(device).c_str(), sim::kDeviceVsCpuTolerance);
    }
    std::printf(", %.1f s: %s\n", seconds, ok ? "all checks passed" : "FAILURES");
  }
  return ok ? 0 : 1;
}

}  // namespace tensorpar::cli
