#!/usr/bin/env bash
# Table 2 on this CPU machine (issue 29): the cells still missing, in the
# issue's priority order, as two lanes of one-thread runs (one per core):
#
#     bash benchmarks/table2_cpu.sh cf      # lane 1: the CF cells
#     bash benchmarks/table2_cpu.sh sr      # lane 2: the SR cells
#     bash benchmarks/table2_cpu.sh merge   # the lanes' cells into the result files, and the tables
#
# Every cell has the three variants (base, +ADAR at the transition point with
# the Beauty-validated settings, the reweight control at its Beauty-validated
# λ), one seed at a time, so that the variants of a seed finish together
# (paired seeds). A lane is resumable: run it again and it skips the cells it
# finished and continues an interrupted one from its last evaluation. Cells
# are written under runs/ (git-ignored), one result file per lane step, and
# `merge` adds them to benchmarks/results/table2_{cf,sr}.json.
#
#   cf: LightGCN on Yelp (seeds 0-4), then NGCF on Toys, Sports and Yelp
#       (seeds 0-2).
#   sr: GRU4Rec on Yelp (seeds 0-4), then SASRec's control λ validated on
#       Beauty (seed 0, validation only, λ in 0.3 0.5 0.7 1.0), then SASRec
#       on the four datasets (seeds 0-2) at that λ (on Beauty +ADAR and the
#       control only: its base cells are in table2_sr.json).
set -eu
LANE="${1:-}"
PYTHON="${PYTHON:-python}"
export OMP_NUM_THREADS=1
T2=(benchmarks/table2.py --threads 1 --no-progress)
CF=(--task cf --epochs 50 --eval-every 5 --patience 4 --lr 5e-3)
SR=(--task sr --epochs 150 --eval-every 5 --patience 4)
VARIANTS=(--variants base transition reweight)
CF_OUT=(runs/t2b/table2_cf_yelp runs/t2b/table2_cf_ngcf)
SR_OUT=(runs/t2a/table2_sr_yelp runs/t2a/table2_sr_sasrec)
mkdir -p runs/t2a runs/t2b

sasrec_lambda() {  # the control λ of the best Beauty validation R@20
    "$PYTHON" - <<'EOF'
import glob, json
from adar_pyg.config import recorded_settings
best = None
for path in sorted(glob.glob('runs/t2a/sasrec_lambda_*.json')):
    for cell in json.load(open(path))['cells'].values():
        lam = recorded_settings(cell)['adar']['weight']
        if best is None or cell['val']['recall@20'] > best[0]:
            best = (cell['val']['recall@20'], lam)
print('' if best is None else best[1])
EOF
}

case "$LANE" in
cf)
    for s in 0 1 2 3 4; do
        "$PYTHON" "${T2[@]}" "${CF[@]}" --datasets yelp --models lightgcn \
            "${VARIANTS[@]}" --seeds $s --out "${CF_OUT[0]}"
    done
    for s in 0 1 2; do
        "$PYTHON" "${T2[@]}" "${CF[@]}" --datasets toys sports yelp \
            --models ngcf "${VARIANTS[@]}" --seeds $s --out "${CF_OUT[1]}"
    done
    ;;
sr)
    for s in 0 1 2 3 4; do
        "$PYTHON" "${T2[@]}" "${SR[@]}" --datasets yelp --models gru4rec \
            "${VARIANTS[@]}" --seeds $s --out "${SR_OUT[0]}"
    done
    for lam in 0.3 0.5 0.7 1.0; do
        "$PYTHON" benchmarks/adar_sweep.py --task sr --model sasrec \
            --dataset beauty --axis lambda --values $lam --variants reweight \
            --seeds 0 --epochs 150 --eval-every 5 --patience 4 --threads 1 \
            --no-progress --out runs/t2a/sasrec_lambda_$lam
    done
    LAMBDA=$(sasrec_lambda)
    if [ -z "$LAMBDA" ]; then
        echo "table2_cpu.sh: no SASRec λ sweep cell in runs/t2a/" >&2
        exit 1
    fi
    echo "SASRec control λ (Beauty validation R@20, seed 0): $LAMBDA"
    for s in 0 1 2; do  # (SASRec's Beauty base cells are in table2_sr.json)
        "$PYTHON" "${T2[@]}" "${SR[@]}" --datasets beauty --models sasrec \
            --variants transition reweight --control-weight "$LAMBDA" \
            --seeds $s --out "${SR_OUT[1]}"
        "$PYTHON" "${T2[@]}" "${SR[@]}" --datasets toys sports yelp \
            --models sasrec "${VARIANTS[@]}" --control-weight "$LAMBDA" \
            --seeds $s --out "${SR_OUT[1]}"
    done
    ;;
merge)
    merge() {  # task, models, result file, then the lane outputs
        local task=$1 models=$2 out=$3 files=() f
        shift 3
        for f in "$@"; do [ -f "$f.json" ] && files+=("$f.json"); done
        [ ${#files[@]} -gt 0 ] || return 0
        "$PYTHON" benchmarks/table2.py --task "$task" \
            --datasets beauty toys sports yelp --models $models \
            --variants base adar transition reweight --report-only \
            --merge "${files[@]}" --out "$out" > /dev/null
    }
    merge cf "lightgcn ngcf mixgcf ahns" benchmarks/results/table2_cf "${CF_OUT[@]}"
    merge sr "gru4rec sasrec cl4srec" benchmarks/results/table2_sr "${SR_OUT[@]}"
    "$PYTHON" benchmarks/table2_summary.py
    ;;
*)
    echo "usage: bash benchmarks/table2_cpu.sh cf|sr|merge" >&2
    exit 2
    ;;
esac
