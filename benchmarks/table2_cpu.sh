#!/usr/bin/env bash
# Table 2 on this CPU machine (issue 29): the cells still missing, in the
# issue's priority order, as one queue of steps that any number of lanes
# (one-thread processes, one per core) work through together:
#
#     bash benchmarks/table2_cpu.sh lane    # on each core: takes the next free step, until none is left
#     bash benchmarks/table2_cpu.sh merge   # the lanes' cells into the result files, and the tables
#     bash benchmarks/table2_cpu.sh carry   # the unfinished comparisons' studies into git-tracked journals
#
# A step is one (dataset, model, seed) with the three variants (base, +ADAR
# at the transition point with the Beauty-validated settings, the reweight
# control at its Beauty-validated λ), so that the variants of a seed finish
# together (paired seeds). A lane claims a step (runs/t2/claims/<step>, with
# its process id) before running it, so two lanes never run one step; the
# claim of a lane that died is taken over. Variants already in the committed
# result file (benchmarks/results/table2_<task>.json) are skipped, and
# table2.py continues an interrupted cell from its last evaluation: run a
# lane again and it continues. Each step writes runs/t2/<task>_<step>.json
# (git-ignored); `merge` adds them to benchmarks/results/table2_<task>.json.
#
# The queue: LightGCN on Yelp (seeds 0-4), GRU4Rec on Yelp (0-4), NGCF on
# Toys, Sports and Yelp (0-2), SASRec's control λ validated on Beauty (seed
# 0, validation only, λ in 0.3 0.5 0.7 1.0), then SASRec at that λ on the
# four datasets (0-2; on Beauty +ADAR and the control only: its base cells
# are committed). Then, one lane each, the equal-budget comparisons of
# issue 27 on Beauty (GRU4Rec, MixGCF, NGCF: adar-pyg compare, 20 trials an
# arm, 5 seeds; benchmarks/README.md), claimed as compare_<model>. A
# comparison outlives a working session, and the machine may come back
# without runs/: `carry` saves each one's studies (every finished trial) as
# journals, and its finished seed runs' records (not their checkpoints),
# in benchmarks/results/compare/carry/<model>_beauty/ (commit
# them), and a lane puts them back before it continues a comparison whose
# folder is gone (benchmarks/compare_carry.py). A comparison whose report
# is committed (benchmarks/results/compare/<model>_beauty/compare.md) is done.
set -eu
LANE="${1:-}"
PYTHON="${PYTHON:-python}"
export OMP_NUM_THREADS=1
T2=(benchmarks/table2.py --threads 1 --no-progress)
CF=(--task cf --epochs 50 --eval-every 5 --patience 4 --lr 5e-3)
SR=(--task sr --epochs 150 --eval-every 5 --patience 4)
VARIANTS=(base transition reweight)
LAMBDAS=(0.3 0.5 0.7 1.0)
mkdir -p runs/t2/claims

busy() {  # step: another live lane holds it
    local pid
    pid=$(cat "runs/t2/claims/$1/pid" 2>/dev/null || true)
    [ -n "$pid" ] && [ "$pid" != $$ ] && kill -0 "$pid" 2>/dev/null
}

claim() {  # step: succeeds when this lane may run it (unclaimed, its own,
           # or the claim of a lane that died, taken over)
    mkdir "runs/t2/claims/$1" 2>/dev/null || ! busy "$1" || return 1
    echo $$ > "runs/t2/claims/$1/pid"
}

done_report() {  # comparison: its report is committed (finished; not run
                 # again, not carried: its journals are in git history)
    [ -f "benchmarks/results/compare/$1_beauty/compare.md" ]
}

missing() {  # task dataset model seed variants...: those not committed yet
    "$PYTHON" - "$@" <<'EOF'
import json, os, sys
task, dataset, model, seed, *variants = sys.argv[1:]
path = f'benchmarks/results/table2_{task}.json'
cells = json.load(open(path))['cells'] if os.path.exists(path) else {}
print(' '.join(v for v in variants
               if f'{dataset}/{model}/{v}/seed{seed}' not in cells))
EOF
}

cell() {  # task dataset model seed [variants...]: one step of table2.py
    local task=$1 dataset=$2 model=$3 seed=$4 todo args
    shift 4
    local want=("$@")
    [ ${#want[@]} -gt 0 ] || want=("${VARIANTS[@]}")
    todo=$(missing "$task" "$dataset" "$model" "$seed" "${want[@]}")
    [ -n "$todo" ] || return 0
    claim "${task}_${dataset}_${model}_$seed" || return 0
    if [ "$task" = cf ]; then args=("${CF[@]}"); else args=("${SR[@]}"); fi
    [ "$model" = sasrec ] && args+=(--control-weight "$LAMBDA")
    echo "[lane $$] $task $dataset $model seed $seed: $todo"
    # shellcheck disable=SC2086  # $todo: the variants, one word each
    "$PYTHON" "${T2[@]}" "${args[@]}" --datasets "$dataset" \
        --models "$model" --variants $todo --seeds "$seed" \
        --out "runs/t2/${task}_${dataset}_${model}_$seed"
}

sasrec_lambda() {  # the control λ of the best Beauty validation R@20
    "$PYTHON" - <<'EOF'
import glob, json
from adar_pyg.config import recorded_settings
best = None
# the lanes' sweep cells, or the committed merge of them (a machine that
# lost runs/ does not train the sweep again)
paths = sorted(glob.glob('runs/t2/sasrec_lambda_*.json')) or \
    glob.glob('benchmarks/results/table2_sasrec_lambda.json')
for path in paths:
    for cell in json.load(open(path))['cells'].values():
        lam = recorded_settings(cell)['adar']['weight']
        if best is None or cell['val']['recall@20'] > best[0]:
            best = (cell['val']['recall@20'], lam)
print('' if best is None else best[1])
EOF
}

case "$LANE" in
lane)
    for s in 0 1 2 3 4; do cell cf yelp lightgcn $s; done
    for s in 0 1 2 3 4; do cell sr yelp gru4rec $s; done
    for s in 0 1 2; do
        for d in toys sports yelp; do cell cf $d ngcf $s; done
    done
    SWEPT=benchmarks/results/table2_sasrec_lambda.json  # committed merge
    for lam in "${LAMBDAS[@]}"; do
        [ -f "$SWEPT" ] && break
        [ -f "runs/t2/sasrec_lambda_$lam.json" ] && continue
        claim "sasrec_lambda_$lam" || continue
        echo "[lane $$] SASRec control λ $lam on Beauty (validation)"
        "$PYTHON" benchmarks/adar_sweep.py --task sr --model sasrec \
            --dataset beauty --axis lambda --values "$lam" \
            --variants reweight --seeds 0 --epochs 150 --eval-every 5 \
            --patience 4 --threads 1 --no-progress \
            --out "runs/t2/sasrec_lambda_$lam"
    done
    for lam in "${LAMBDAS[@]}"; do  # the sweep steps another lane runs
        while [ ! -f "$SWEPT" ] && [ ! -f "runs/t2/sasrec_lambda_$lam.json" ] &&
                busy "sasrec_lambda_$lam"; do sleep 60; done
    done
    LAMBDA=$(sasrec_lambda)
    if [ -z "$LAMBDA" ]; then
        echo "table2_cpu.sh: no SASRec λ sweep cell in runs/t2/" >&2
        exit 1
    fi
    echo "SASRec control λ (Beauty validation R@20, seed 0): $LAMBDA"
    for s in 0 1 2; do
        cell sr beauty sasrec $s transition reweight
        for d in toys sports yelp; do cell sr $d sasrec $s; done
    done
    # Then the equal-budget comparisons of issue 27 on Beauty (the commands
    # of benchmarks/README.md, "Equal-budget comparisons"), one lane each:
    # a comparison continues where it stopped when its command runs again.
    for name in gru4rec mixgcf ngcf; do
        [ -f "runs/t2/claims/compare_$name/done" ] && continue
        done_report "$name" && continue
        claim "compare_$name" || continue
        case $name in
        gru4rec) args=(--task sr --model gru4rec --epochs 150) ;;
        mixgcf) args=(--sampler mixgcf --epochs 50) ;;
        ngcf) args=(--model ngcf --epochs 50) ;;
        esac
        echo "[lane $$] compare $name"
        "$PYTHON" benchmarks/compare_carry.py restore \
            "runs/compare/${name}_beauty" \
            "benchmarks/results/compare/carry/${name}_beauty"
        "$PYTHON" -m adar_pyg compare \
            --arms "benchmarks/compare/${name}_beauty.yaml" --trials 20 \
            --seeds 5 --dataset beauty "${args[@]}" --eval-every 5 \
            --patience 4 --threads 1 --no-progress \
            --out "runs/compare/${name}_beauty"
        touch "runs/t2/claims/compare_$name/done"
    done
    ;;
merge)
    merge() {  # task, models
        local task=$1 models=$2 files=() f
        for f in runs/t2/"$task"_*.json; do [ -f "$f" ] && files+=("$f"); done
        [ ${#files[@]} -gt 0 ] || return 0
        "$PYTHON" benchmarks/table2.py --task "$task" \
            --datasets beauty toys sports yelp --models $models \
            --variants base adar transition reweight --report-only \
            --merge "${files[@]}" --out "benchmarks/results/table2_$task" \
            > /dev/null
    }
    merge cf "lightgcn ngcf mixgcf ahns"
    merge sr "gru4rec sasrec cl4srec"
    "$PYTHON" benchmarks/table2_summary.py
    ;;
carry)
    for name in gru4rec mixgcf ngcf; do
        [ -d "runs/compare/${name}_beauty" ] || continue
        done_report "$name" && continue
        "$PYTHON" benchmarks/compare_carry.py save \
            "runs/compare/${name}_beauty" \
            "benchmarks/results/compare/carry/${name}_beauty"
    done
    ;;
*)
    echo "usage: bash benchmarks/table2_cpu.sh lane|merge|carry" >&2
    exit 2
    ;;
esac
