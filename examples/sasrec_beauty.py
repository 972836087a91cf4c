r"""SASRec (or GRU4Rec, CL4SRec) on Amazon-Beauty, leave-one-out, full ranking.

    python examples/sasrec_beauty.py                   # SASRec, BPR + uniform
    python examples/sasrec_beauty.py --augmenter adar  # SASRec + ADAR, T = 20
    python examples/sasrec_beauty.py --model cl4srec --augmenter adar

Every user's chronological sequence is split leave-one-out (train seq[:-2],
validation seq[-2], test seq[-1]); the latest N = 50 items are fed left-padded;
each training position predicts the next item with BPR and one uniform negative
(ADAR adds a generated one, Eq. 12). Evaluation ranks all items with the user's
history masked (``--no-mask-history`` to rank them too); the epoch is selected
on validation Recall@20. Data come from the local mirror (``$ADAR_PYG_MIRROR``
or ``../shared/datasets``) when present, else from the canonical URL
(md5-checked). Writes a run directory (``--out``, default ``runs/...``: config.yaml,
metrics.jsonl, result.json, curves.png, the checkpoint); ``--json PATH`` also writes the statistics, the test
Recall/NDCG@10/20 at the selected epoch and the timings.
"""
import sys

from adar_pyg.cli import main

if __name__ == '__main__':
    # The same run as `adar-pyg train --task sr [flags]`; every flag is listed
    # by --help and generated from adar_pyg.config.
    main(['train', '--task', 'sr'] + sys.argv[1:])
