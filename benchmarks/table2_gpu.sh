#!/usr/bin/env bash
# Table 2 on a GPU machine (issue 29): the cells of Toys, Sports and Yelp
# (and SASRec on Beauty) with three variants — base, +ADAR (transition point,
# Beauty-validated settings) and the reweight control — in parallel worker
# processes on one GPU, within a fixed wall-clock budget. For a machine with
# no network and no install step (its python3 has torch with CUDA,
# torch-geometric, pandas, scipy, pyyaml, matplotlib); run it from the
# repository root:
#
#     PYTHONPATH=. OUT=DIR ADAR_PYG_MIRROR=DATASETS bash benchmarks/table2_gpu.sh
#
# BUDGET (seconds, default 520) bounds the whole script; DEVICE (default cuda)
# and QUICK=1 (tiny settings: a dry run on a CPU) are for trying it out.
# Steps:
#   1. smoke: one CF and one SR --quick cell on the device; stops the script
#      if either fails (nothing else would work).
#   2. in parallel:
#      - LightGCN (seeds 0-4) and NGCF (seeds 0-2) on Toys, Sports and Yelp
#        (benchmarks/table2.py --jobs),
#      - GRU4Rec (seeds 0-4) on the same datasets,
#      - SASRec's control λ validated on Beauty (seed 0, validation only:
#        benchmarks/adar_sweep.py, one process per λ), then SASRec (seeds
#        0-2) on all four datasets with the chosen λ.
#   Every driver stops starting jobs and stops its running ones at the
#   deadline; finished cells are kept (resumable: the same commands continue).
# Measured on one H200 (2026-12-04): a LightGCN epoch on Toys takes 0.45 s
# alone, 2.6-4 s in each of 15 concurrent processes (their kernels take turns
# on the GPU; no MPS), so the workers buy about 2x throughput, not 15x: in
# 520 s the first run finished 23 cells (the per-epoch seconds recorded in
# those cells are measured under that load). Fewer, longer jobs per lease pay.
# Everything is written under runs/table2_gpu/ (so that the commands recorded
# in the result files name repo-relative paths) and packed into
# $OUT/table2_gpu.tgz (the device tool returns at most 8 files).
set -u
PYTHON="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
BUDGET="${BUDGET:-520}"
QUICK="${QUICK:-0}"
OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
W=runs/table2_gpu
mkdir -p "$W"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg
START=$(date +%s)
DEADLINE=$(( START + BUDGET - 25 ))   # leaves time to pack the results
left() { echo $(( DEADLINE - $(date +%s) )); }

COMMON=(--device "$DEVICE" --threads 1 --no-progress)
if [ "$QUICK" = 1 ]; then
    CF=(--epochs 1 --eval-every 1 --batch-size 8192)
    SR=(--epochs 1 --eval-every 1 --max-users 300)
    SWEEP=(--epochs 1 --eval-every 1)
    LAMBDAS=(0.5 1.0)
    DATASETS=(toys)
    SEEDS5=(0); SEEDS3=(0)
else
    CF=(--epochs 50 --eval-every 5 --patience 4 --lr 5e-3)
    SR=(--epochs 150 --eval-every 5 --patience 4)
    SWEEP=(--epochs 150 --eval-every 5 --patience 4)
    LAMBDAS=(0.3 0.5 0.7 1.0)
    DATASETS=(toys sports yelp)
    SEEDS5=(0 1 2 3 4); SEEDS3=(0 1 2)
fi

{
    date -u
    "$PYTHON" -c "import torch, torch_geometric as g; print('torch', torch.__version__, 'pyg', g.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
    nproc
} 2>&1 | tee "$W/env.txt"

echo "== smoke (left $(left) s)"
timeout 150 "$PYTHON" benchmarks/table2.py --task cf --quick --models lightgcn \
    --variants transition "${COMMON[@]}" --out "$W/smoke_cf" > "$W/smoke_cf.log" 2>&1 &
P1=$!
timeout 150 "$PYTHON" benchmarks/table2.py --task sr --quick --models sasrec \
    --variants reweight "${COMMON[@]}" --out "$W/smoke_sr" > "$W/smoke_sr.log" 2>&1 &
P2=$!
wait $P1; R1=$?
wait $P2; R2=$?
echo "smoke: cf exit $R1, sr exit $R2 ($(( $(date +%s) - START )) s)"
if [ $R1 -ne 0 ] || [ $R2 -ne 0 ]; then
    tail -n 30 "$W/smoke_cf.log" "$W/smoke_sr.log"
    tar -czf "$OUT/table2_gpu.tgz" -C runs table2_gpu
    exit 1
fi

echo "== cells (left $(left) s)"
"$PYTHON" benchmarks/table2.py --task cf --datasets "${DATASETS[@]}" \
    --models lightgcn --seeds "${SEEDS5[@]}" "${CF[@]}" "${COMMON[@]}" \
    --jobs 4 --time-limit "$(left)" --out "$W/table2_cf_lightgcn" \
    > "$W/cf_lightgcn.log" 2>&1 &
"$PYTHON" benchmarks/table2.py --task cf --datasets "${DATASETS[@]}" \
    --models ngcf --seeds "${SEEDS3[@]}" "${CF[@]}" "${COMMON[@]}" \
    --jobs 3 --time-limit "$(left)" --out "$W/table2_cf_ngcf" \
    > "$W/cf_ngcf.log" 2>&1 &
"$PYTHON" benchmarks/table2.py --task sr --datasets "${DATASETS[@]}" \
    --models gru4rec --seeds "${SEEDS5[@]}" "${SR[@]}" "${COMMON[@]}" \
    --jobs 4 --time-limit "$(left)" --out "$W/table2_sr_gru4rec" \
    > "$W/sr_gru4rec.log" 2>&1 &

# SASRec: the control's λ on Beauty validation (seed 0), one process per λ.
SWEEP_PIDS=()
for lam in "${LAMBDAS[@]}"; do
    timeout $(( $(left) / 2 )) "$PYTHON" benchmarks/adar_sweep.py --task sr \
        --model sasrec --dataset beauty --axis lambda --values "$lam" \
        --variants reweight --seeds 0 "${SWEEP[@]}" "${COMMON[@]}" \
        --out "$W/sasrec_lambda_$lam" > "$W/sasrec_lambda_$lam.log" 2>&1 &
    SWEEP_PIDS+=($!)
done
wait "${SWEEP_PIDS[@]}"
LAMBDA=$("$PYTHON" - "$W" <<'EOF'
import glob, json, sys
from adar_pyg.config import recorded_settings
best = None
for path in glob.glob(f'{sys.argv[1]}/sasrec_lambda_*.json'):
    for key, cell in json.load(open(path))['cells'].items():
        score = cell['val']['recall@20']
        lam = recorded_settings(cell)['adar']['weight']
        if best is None or score > best[0]:
            best = (score, lam)
print('' if best is None else best[1])
EOF
)
echo "SASRec control λ (Beauty validation R@20, seed 0): ${LAMBDA:-none finished}"
if [ -n "$LAMBDA" ]; then
    "$PYTHON" benchmarks/table2.py --task sr --datasets beauty "${DATASETS[@]}" \
        --models sasrec --seeds "${SEEDS3[@]}" "${SR[@]}" "${COMMON[@]}" \
        --control-weight "$LAMBDA" --jobs 4 --time-limit "$(left)" \
        --out "$W/table2_sr_sasrec" > "$W/sr_sasrec.log" 2>&1 &
fi
wait
echo "== done after $(( $(date +%s) - START )) s"
grep -h "^\[jobs\]" "$W"/*.log | grep -v started | tail -n 80
tar -czf "$OUT/table2_gpu.tgz" -C runs table2_gpu
