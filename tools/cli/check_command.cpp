// `tensorpar check`: the command a user runs to trust a build. For every op: a float64
// finite-difference gradient check, and the sharding-rule matrix on the simulated backend
// (every placement combination on meshes 2, 3, 4 and 2x2, values, gradients and collective
// counts; see sim/op_check.h).
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
    "  --device D  run every tensor on device D (cpu, standin: the stand-in accelerator, cuda)\n"
    "  --json      print {\"ops\": [{\"op\", \"gradcheck_max_rel_err\", \"rule_cases\",\n"
    "              \"rule_failures\", \"count_failures\", \"backward_exact\"}], \"ok\": bool}\n"
    "  rule failures are cases whose values or gradients differ from the single-device run;\n"
    "  count failures are cases whose collectives differ from the ones the rules promise;\n"
    "  backward_exact counts the cases whose backward collectives were compared exactly.\n";

int run_check(const std::vector<std::string>& argv) {
  const Args args(argv, {"op", "device"}, {"json"});
  set_default_device(device_flag(args));
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
    std::printf("%-36s %16s %14s %14s  %s\n", "op", "gradcheck err", "rule cases", "counts",
                "status");
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
    const bool pass = failures == 0 && count_failures == 0 && err < kGradTolerance;
    ok = ok && pass;
    if (json) {
      ops.push(Json::object()
                   .set("op", op.name)
                   .set("gradcheck_max_rel_err", err)
                   .set("rule_cases", cases)
                   .set("rule_failures", failures)
                   .set("count_failures", count_failures)
                   .set("backward_exact", backward_exact));
    } else {
      char rules[32], counts[32];
      std::snprintf(rules, sizeof rules, "%d/%d", cases - failures, cases);
      std::snprintf(counts, sizeof counts, "%d/%d", cases - count_failures, cases);
      std::printf("%-36s %16.2e %14s %14s  %s\n", op.name.c_str(), err, rules, counts,
                  pass ? "ok" : "FAIL");
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
    std::printf("\n%d op cases, gradient tolerance %.0e, %.1f s: %s\n", matched, kGradTolerance,
                seconds, ok ? "all checks passed" : "FAILURES");
  }
  return ok ? 0 : 1;
}

}  // namespace tensorpar::cli
