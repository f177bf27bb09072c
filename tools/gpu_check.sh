#!/usr/bin/env bash
# tools/gpu_check.sh: the GPU checks of tensorpar in one run of under 8 minutes, on a machine
# with one NVIDIA GPU (an H100 or H200), CUDA 13 and PyTorch, but no Debian packages and no
# compiler needed: the binaries are built here and carried there.
#
# Here (a machine with the CUDA toolkit and NCCL, no GPU needed):
#   cmake --preset portable            # no -march=native: the GPU machine's CPU may differ
#   cmake --build build/portable -j2 --target tensorpar test_cuda bench_cuda_bf16_gemm
#   tools/gpu_check.sh pack            # -> .gpu_check/{bin,lib}: the binaries and the shared
#                                      #    libraries they need that the GPU machine lacks
#   (.gpu_check is ignored by git: carry it, e.g. `echo /.gpu_check/ >> .git/info/exclude`)
# There, from the repository root:
#   tools/gpu_check.sh                 # or: tools/gpu_check.sh run
#
# Parts, each under its own time limit, the next one starting whatever the last one did:
#   environment        the GPU, the libraries found, what the binaries cannot load
#   cuda-tests         the CUDA test label: the test_cuda binary (NCCL, device, kernels)
#   nccl-world-1       tensorpar run --nproc-per-node 1 -- tensorpar train --backend nccl
#   gemm-bf16          bf16 GEMM through the library, 8192^3, against 989 TFLOP/s dense peak
#   train-tensorpar    a training step of the reference Transformer at dim 2048 (f32), tokens/s
#   train-pytorch      the same model, shape and dtype in PyTorch eager (tools/gpu_check_torch.py)
#   check-cuda         tensorpar check --device cuda: every op on CUDA against the CPU
#   tp-*               the sim over CUDA tensors: tensorpar train --device cuda --world 2, 3, 4,
#                      sequence parallel, dropout, loss_parallel, each against the GPU reference
# then a summary: every part's status and time, and every number measured. Logs and JSON go
# to $GPU_CHECK_OUT (default $OUT/gpu_check when $OUT is set, else /tmp/gpu_check).
#
# Environment: BUILD (a build folder, when not packed), PYTHON (python3),
# GPU_CHECK_BUDGET_S (450: parts that would start later are skipped), TRAIN_ARGS (the
# training bench's model, default below).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
MODE=${1:-run}
PACK=$ROOT/.gpu_check
PY=${PYTHON:-python3}

find_build() {
  if [ -n "${BUILD:-}" ]; then echo "$BUILD"; return; fi
  for d in build/portable build/default; do
    [ -x "$d/tools/tensorpar" ] && { echo "$d"; return; }
  done
  echo build/default
}

# ---- pack: the binaries and the non-system shared libraries they load -------------------------
if [ "$MODE" = pack ]; then
  B=$(find_build)
  rm -rf "$PACK" && mkdir -p "$PACK/bin" "$PACK/lib"
  if ! grep -q '^TENSORPAR_PORTABLE:BOOL=ON' "$B/CMakeCache.txt" 2>/dev/null; then
    echo "warning: $B is built with -march=native; the GPU machine's CPU may lack its" \
         "instructions (cmake --preset portable builds without)" >&2
  fi
  for f in tools/tensorpar tests/test_cuda bench/bench_cuda_bf16_gemm; do
    if [ -x "$B/$f" ]; then cp "$B/$f" "$PACK/bin/"; else echo "missing: $B/$f" >&2; fi
  done
  # Everything ldd resolves except the C runtime, the C++ runtime (the GPU machine's is newer)
  # and CUDA's own libraries, which come from the GPU machine (driver, toolkit, Python wheels).
  skip='linux-vdso|ld-linux|/libc\.so|/libm\.so|/libdl\.so|/libpthread\.so|/librt\.so|libgcc_s|libstdc\+\+|libcuda\.so|libcudart|libnccl|libcublas|libnvidia'
  for bin in "$PACK"/bin/*; do
    ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev "$skip" | while read -r lib; do
      cp -L "$lib" "$PACK/lib/"
    done
  done
  du -sh "$PACK"; ls -l "$PACK/bin" "$PACK/lib"
  exit 0
fi
[ "$MODE" = run ] || { echo "usage: tools/gpu_check.sh [run|pack]" >&2; exit 2; }

# ---- run ---------------------------------------------------------------------------------------
if [ -d "$PACK/bin" ]; then BIN=$PACK/bin; TESTS=$BIN; BENCH=$BIN; else
  B=$(find_build); BIN=$B/tools; TESTS=$B/tests; BENCH=$B/bench
fi
LOGS=${GPU_CHECK_OUT:-${OUT:+$OUT/gpu_check}}
LOGS=${LOGS:-/tmp/gpu_check}
mkdir -p "$LOGS"
BUDGET=${GPU_CHECK_BUDGET_S:-450}
TRAIN_ARGS=${TRAIN_ARGS:---layers 4 --dim 2048 --heads 16 --vocab 8192 --seq 512 --batch 8 --steps 20}
START=$(date +%s)
SUMMARY=()
NUMBERS=()

# The loader's path for our binaries only (python keeps its own): the packed libraries, every
# lib folder of the Python wheels named nvidia (nccl, cublas, cuda_runtime, ...), the toolkit.
LIBPATH=$PACK/lib
for site in $("$PY" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
  while IFS= read -r d; do LIBPATH=$LIBPATH:$d; done < <(find "$site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null)
done
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && LIBPATH=$LIBPATH:$d
done
ours() { LD_LIBRARY_PATH="$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
export BIN TESTS BENCH LIBPATH PY
export -f ours

# part NAME LIMIT_S COMMAND...: runs COMMAND under `timeout`, its output on stdout and in
# $LOGS/NAME.log, and records PASS, FAIL (exit code) or TIMEOUT; SKIP once the budget is spent.
part() {
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - START) ))
  if (( left < 15 )); then SUMMARY+=("$(printf '%-8s %-22s budget of %ss spent' SKIP "$name" "$BUDGET")"); return 99; fi
  (( limit > left )) && limit=$left
  echo; echo "=== $name (at most ${limit}s): $*"
  local t0 dt rc status
  t0=$(date +%s.%N)
  # Through bash -c, so that COMMAND may be one of this script's (exported) functions.
  timeout -k 5 "$limit" bash -c '"$@"' "$name" "$@" 2>&1 | tee "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  status=PASS
  if (( rc == 124 || rc == 137 )); then status=TIMEOUT; elif (( rc != 0 )); then status="FAIL($rc)"; fi
  SUMMARY+=("$(printf '%-8s %-22s %6ss' "$status" "$name" "$dt")")
  return "$rc"
}

# json_field FILE EXPRESSION: a value from the last JSON line of FILE (python expression on j).
json_field() {
  "$PY" - "$1" "$2" <<'PYEOF' 2>/dev/null
import json, sys
lines = [l for l in open(sys.argv[1]) if l.lstrip().startswith("{")]
j = json.loads(lines[-1])
v = eval(sys.argv[2], {"j": j})
print(f"{v:.4g}" if isinstance(v, float) else v)
PYEOF
}

environment() {
  local missing=0
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv ||
    { echo "nvidia-smi sees no GPU"; missing=1; }
  echo "binaries: $BIN"; echo "loader path (ours): $LIBPATH"
  for b in "$BIN/tensorpar" "$TESTS/test_cuda" "$BENCH/bench_cuda_bf16_gemm"; do
    [ -x "$b" ] || { echo "missing binary: $b"; missing=1; continue; }
    ours ldd "$b" | grep -E 'not found|libnccl|libcudart|libcublas' | sed "s|^|$(basename "$b"): |"
    ours ldd "$b" | grep -q 'not found' && missing=1
  done
  ours "$BIN/tensorpar" --help > /dev/null || { echo "tensorpar does not start"; missing=1; }
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' || true
  return $missing
}
export -f environment

part environment 30 environment
part cuda-tests 90 ours "$TESTS/test_cuda" --gtest_color=no
# A skipped test is not a passed one: say how many there were.
NUMBERS+=("cuda tests: $(grep -Eo '\[  PASSED  \] [0-9]+' "$LOGS/cuda-tests.log" | grep -Eo '[0-9]+$' || echo 0) passed, $(grep -Eo '\[  SKIPPED \] [0-9]+ tests?,' "$LOGS/cuda-tests.log" | grep -Eo '[0-9]+' || echo 0) skipped, $(grep -Eo '\[  FAILED  \] [0-9]+ tests?,' "$LOGS/cuda-tests.log" | grep -Eo '[0-9]+' || echo 0) failed")
TENSORPAR_TIMEOUT_MS=60000 part nccl-world-1 60 ours "$BIN/tensorpar" run --nproc-per-node 1 -- \
  "$BIN/tensorpar" train --device cuda --backend nccl --steps 20 --progress off

# The bench reports a skipped run (no GPU, no CUDA tensors) as an error inside its JSON: fail then.
gemm() {
  ours "$BENCH/bench_cuda_bf16_gemm" --benchmark_filter='Bf16Gemm/8192' \
    --benchmark_out="$LOGS/gemm.json" --benchmark_out_format=json || return 1
  "$PY" - "$LOGS/gemm.json" <<'PYEOF'
import json, sys
b = json.load(open(sys.argv[1]))["benchmarks"][0]
if b.get("error_occurred"):
    sys.exit("bf16 GEMM did not run: " + b.get("error_message", "?"))
print("TFLOP/s %.1f" % b["TFLOPs"])  # a rate counter: the JSON holds TFLOP/s
PYEOF
}
export LOGS
export -f gemm
if part gemm-bf16 60 gemm; then
  tflops=$(awk '/^TFLOP\/s/ {print $2}' "$LOGS/gemm-bf16.log")
  NUMBERS+=("bf16 GEMM 8192^3: $tflops TFLOP/s = $(awk -v t="$tflops" 'BEGIN {printf "%.1f", 100 * t / 989}')% of 989 TFLOP/s dense peak (target >= 75%)")
fi

# shellcheck disable=SC2086
if part train-tensorpar 120 ours "$BIN/tensorpar" train --device cuda --world 1 $TRAIN_ARGS \
     --no-compare --json --progress off; then
  f=$LOGS/train-tensorpar.log
  tp_tps=$(json_field "$f" 'j["tokens_per_s"]')
  NUMBERS+=("tensorpar train step ($TRAIN_ARGS, f32): $tp_tps tokens/s")
  NUMBERS+=("tensorpar host time per step (forward+backward+optimizer): $(json_field "$f" \
    '"ops %.1f ms, collectives %.1f ms, other (framework) %.1f ms of %.1f ms" % tuple(1e3*sum(p[k] for p in j["time_per_step"].values()) for k in ("ops_s","collectives_s","other_s","wall_s"))')")
fi
# shellcheck disable=SC2086
if part train-pytorch 120 "$PY" tools/gpu_check_torch.py $TRAIN_ARGS --profile --json; then
  f=$LOGS/train-pytorch.log
  pt_tps=$(json_field "$f" 'j["tokens_per_s_all_steps"]')
  NUMBERS+=("pytorch eager (same model, f32, TF32 off): $pt_tps tokens/s over all steps, $(json_field "$f" 'j["tokens_per_s_after_warmup"]') after warm-up; kernels $(json_field "$f" '100*j.get("kernel_share_of_step", float("nan"))')% of a step")
  if [ -n "${tp_tps:-}" ] && [ -n "$pt_tps" ]; then
    NUMBERS+=("tensorpar / pytorch tokens/s: $(awk -v a="$tp_tps" -v b="$pt_tps" 'BEGIN {printf "%.2f", a / b}') (target >= 1)")
  fi
fi

part check-cuda 120 ours "$BIN/tensorpar" check --device cuda
part tp-world-2 40 ours "$BIN/tensorpar" train --device cuda --world 2 --steps 20 --progress off
part tp-world-3 40 ours "$BIN/tensorpar" train --device cuda --world 3 --heads 6 --dim 48 --steps 20 --progress off
part tp-world-4 40 ours "$BIN/tensorpar" train --device cuda --world 4 --steps 20 --progress off
part tp-sequence-parallel 40 ours "$BIN/tensorpar" train --device cuda --world 4 --sequence-parallel --steps 20 --progress off
part tp-dropout 40 ours "$BIN/tensorpar" train --device cuda --world 3 --heads 6 --dim 48 --dropout 0.1 --steps 20 --progress off
part tp-loss-parallel 40 ours "$BIN/tensorpar" train --device cuda --world 4 --loss-parallel --sequence-parallel --steps 20 --progress off

echo; echo "==================== gpu_check summary ($(( $(date +%s) - START ))s) ===================="
printf '%s\n' "${SUMMARY[@]}"
echo "---- numbers"
printf '%s\n' "${NUMBERS[@]:-none measured}"
echo "logs: $LOGS"
printf '%s\n' "${SUMMARY[@]}" | grep -qv '^PASS' && exit 1
exit 0
