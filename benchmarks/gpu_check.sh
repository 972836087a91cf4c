#!/usr/bin/env bash
# The GPU check of issue 17: one script for a GPU machine with no network and
# no install step. Its python3 already has torch (with CUDA), torch-geometric,
# pandas, pyyaml, matplotlib and hypothesis; the datasets come from the folder
# in $ADAR_PYG_MIRROR; everything it writes goes under $OUT. Run it from the
# repository root:
#
#     PYTHONPATH=. OUT=/some/dir ADAR_PYG_MIRROR=/path/to/datasets \
#         bash benchmarks/gpu_check.sh
#
#     bash benchmarks/gpu_check.sh --device cpu --quick   # dry run, ~1 minute
#
# Steps (each under a time limit, so that the whole check ends within
# 8 minutes; a failed or timed-out step is recorded and the next one runs):
#   env          torch / CUDA versions and the device           -> env.json
#   cuda_tests   the tests that need CUDA (named *cuda*)        -> cuda_tests.xml
#   beauty_speed benchmarks/train_speed.py on Amazon-Beauty     -> train_speed_beauty.json
#                (our LightGCN epoch, +ADAR, PyG's LightGCN, evaluation)
#   gowalla      one Gowalla epoch and its evaluation through   -> gowalla_epoch.json
#                `python -m adar_pyg train` (the run directory in gowalla_run/)
#   scaling      benchmarks/scaling.py on the device (full path, -> scaling/scaling.json
#                sampled path with dense and with sparse gradients,
#                PyG; 1M and 5M synthetic, Gowalla)
#   ddp          with more than one GPU: benchmarks/ddp_speed.py  -> ddp_speed.json
#                (1 vs 2 processes, data- and column-parallel, NCCL,
#                Beauty, 3 epochs); with one
#                GPU the step is recorded as skipped (ddp.log says why)
# The summary of all steps (exit status, seconds, log file) is gpu_check.json;
# the script exits with the number of failed steps.
#
# --quick (with --device cpu: the dry run) swaps the data for tiny graphs:
# a generated 1,000-interaction CSV instead of Beauty and Gowalla (Gowalla is
# only loaded from the mirror, if there, and its statistics checked) and
# `scaling.py --quick`, and the ddp step trains 1 epoch on the tiny CSV in
# 2 processes (gloo on the CPU). PYTHON overrides the interpreter (default: python3).
set -u

DEVICE=cuda
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --device=*) DEVICE="${1#*=}"; shift ;;
        --quick) QUICK=1; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument '$1' (--device cuda|cpu, --quick)" >&2
           exit 2 ;;
    esac
done
case "$DEVICE" in
    cuda|cpu) ;;
    *) echo "gpu_check.sh: --device must be 'cuda' or 'cpu' (got '$DEVICE')" >&2
       exit 2 ;;
esac
if [ ! -f adar_pyg/__init__.py ] || [ ! -f benchmarks/scaling.py ]; then
    echo "gpu_check.sh: run it from the repository root" >&2
    exit 2
fi

PYTHON="${PYTHON:-python3}"
OUT="${OUT:-benchmarks/results/gpu_check}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
STEPS="$OUT/steps.tsv"
: > "$STEPS"
if command -v timeout > /dev/null; then LIMIT=(timeout --kill-after=10); else LIMIT=(); fi

# The limits are the GPU run's budget (< 8 minutes in all); the CPU dry run
# checks the script, often beside other work: 3 times the time there.
if [ "$DEVICE" = cpu ]; then SLACK=3; else SLACK=1; fi

# step NAME SECONDS CMD...: runs CMD under a time limit, logs to NAME.log.
step() {
    local name="$1" limit=$(( $2 * SLACK ))
    shift 2
    local start rc
    echo "== $name (at most ${limit}s)"
    start=$(date +%s)
    if [ ${#LIMIT[@]} -gt 0 ]; then
        "${LIMIT[@]}" "$limit" "$@" > "$OUT/$name.log" 2>&1
    else
        "$@" > "$OUT/$name.log" 2>&1
    fi
    rc=$?
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" \
        "$name.log" >> "$STEPS"
    tail -n 3 "$OUT/$name.log"
    echo "-- $name: exit $rc"
}

step env 60 "$PYTHON" - "$DEVICE" "$OUT/env.json" <<'EOF'
import json, platform, subprocess, sys
import torch, torch_geometric
device, path = sys.argv[1], sys.argv[2]
info = {'python': sys.version.split()[0], 'torch': torch.__version__,
        'torch_geometric': torch_geometric.__version__,
        'cuda_available': torch.cuda.is_available(),
        'cuda': torch.version.cuda, 'device': device, 'host': platform.node(),
        'cpu_threads': torch.get_num_threads()}
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE
info.update(pyg_lib=WITH_PYG_LIB, torch_sparse=WITH_TORCH_SPARSE)
if torch.cuda.is_available():
    info['gpu'] = torch.cuda.get_device_name(0)
    info['gpu_memory_gib'] = torch.cuda.get_device_properties(0).total_memory / 2**30
try:
    info['nvidia_smi'] = subprocess.run(['nvidia-smi', '-L'], capture_output=True,
                                        text=True, timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError):
    pass
json.dump(info, open(path, 'w'), indent=2)
print(json.dumps(info))
if device == 'cuda' and not torch.cuda.is_available():
    sys.exit('--device cuda but torch sees no CUDA device')
EOF

CUDA_TESTS=$(grep -rl --include='test_*.py' 'cuda' tests | sort)
# Without CUDA the selected tests skip: the dry run checks that they load.
step cuda_tests 100 "$PYTHON" -m pytest -q -p no:cacheprovider -k cuda -rs \
    --junitxml="$OUT/cuda_tests.xml" $CUDA_TESTS

if [ "$QUICK" = 1 ]; then
    TINY="$OUT/tiny.csv"
    "$PYTHON" - "$TINY" <<'EOF'
import random, sys
rng = random.Random(0)
with open(sys.argv[1], 'w') as f:
    f.write('user,item\n')
    for u in range(100):
        for i in rng.sample(range(60), 10):
            f.write(f'u{u},i{i}\n')
EOF
    DATA=(--data "$TINY")
    step beauty_speed 100 "$PYTHON" benchmarks/train_speed.py --device "$DEVICE" \
        "${DATA[@]}" --batch-size 128 --epochs 1 --no-adar --pyg-batches 2 \
        --repeats 1 --threads 1 --json "$OUT/train_speed_beauty.json"
    step gowalla 90 "$PYTHON" -m adar_pyg train --device "$DEVICE" "${DATA[@]}" \
        --batch-size 128 --val-ratio 0 --epochs 1 --threads 1 --no-progress \
        --out "$OUT/gowalla_run" --overwrite --json "$OUT/gowalla_epoch.json"
    step gowalla_data 60 "$PYTHON" - "$OUT/gowalla_data.json" <<'EOF'
import json, os, sys, tempfile
from adar_pyg.datasets import Gowalla, default_mirror
mirror = default_mirror()
if mirror is None or not os.path.isdir(os.path.join(mirror, 'gowalla')):
    print('no Gowalla in the mirror: not checked')
    sys.exit(0)
data = Gowalla(tempfile.mkdtemp(), mirror=mirror)[0]
E = ('user', 'rates', 'item')
stats = dict(users=data['user'].num_nodes, items=data['item'].num_nodes,
             train=data[E].edge_index.size(1),
             test=data[E].test_edge_label_index.size(1))
json.dump(stats, open(sys.argv[1], 'w'), indent=2)
print(stats)
sys.exit(0 if stats == Gowalla.stats else 'statistics differ from Gowalla.stats')
EOF
    step scaling 150 "$PYTHON" benchmarks/scaling.py --quick --device "$DEVICE" \
        --threads 1 --out "$OUT/scaling"
    if [ "$DEVICE" = cpu ]; then
        step ddp 120 "$PYTHON" -m adar_pyg train --device cpu "${DATA[@]}" \
            --nproc 2 --threads 1 --batch-size 128 --val-ratio 0 --epochs 1 \
            --no-progress --out "$OUT/ddp_run" --overwrite \
            --json "$OUT/ddp_quick.json"
    fi
else
    step beauty_speed 120 "$PYTHON" benchmarks/train_speed.py --device "$DEVICE" \
        --dataset beauty --epochs 3 --pyg-batches 20 \
        --json "$OUT/train_speed_beauty.json"
    step gowalla 90 "$PYTHON" -m adar_pyg train --device "$DEVICE" \
        --dataset gowalla --val-ratio 0 --epochs 1 --no-progress \
        --out "$OUT/gowalla_run" --overwrite --json "$OUT/gowalla_epoch.json"
    step scaling 150 "$PYTHON" benchmarks/scaling.py --device "$DEVICE" \
        --paths full sampled sampled_sparse pyg \
        --sizes 1000000 5000000 --datasets gowalla --batches 20 \
        --pyg-batches 5 --eval-users 0 --cell-timeout 60 \
        --out "$OUT/scaling"
fi
if [ "$QUICK" = 0 ] || [ "$DEVICE" = cuda ]; then
    GPUS=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' \
           2> /dev/null || echo 0)
    if [ "$DEVICE" = cuda ] && [ "$GPUS" -gt 1 ]; then
        step ddp 150 "$PYTHON" benchmarks/ddp_speed.py --device cuda \
            --epochs 3 --eval-every 3 --configs 1rank 2ranks 2ranks-columns \
            --out "$OUT/ddp_speed"
    else
        echo "skipped: data-parallel training needs more than one GPU" \
             "(found $GPUS)" > "$OUT/ddp.log"
        printf 'ddp\t0\t0\tddp.log\n' >> "$STEPS"
        echo "== ddp: skipped ($GPUS GPU(s))"
    fi
fi

"$PYTHON" - "$STEPS" "$OUT/gpu_check.json" "$DEVICE" "$QUICK" <<'EOF'
import json, sys
steps = []
for line in open(sys.argv[1]):
    name, rc, seconds, log = line.rstrip('\n').split('\t')
    steps.append({'step': name, 'exit': int(rc), 'seconds': int(seconds),
                  'log': log, 'ok': rc == '0',
                  'timed_out': rc in ('124', '137')})
summary = {'device': sys.argv[3], 'quick': sys.argv[4] == '1',
           'ok': all(s['ok'] for s in steps),
           'seconds': sum(s['seconds'] for s in steps), 'steps': steps}
json.dump(summary, open(sys.argv[2], 'w'), indent=2)
print(json.dumps(summary, indent=2))
EOF
FAILED=$(awk -F'\t' '$2 != 0' "$STEPS" | wc -l)
echo "gpu_check: $FAILED failed step(s); summary in $OUT/gpu_check.json"
exit "$FAILED"
