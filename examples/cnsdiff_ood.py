r"""LightGCN, +ADAR or +CNSDiff on an out-of-distribution (OOD) split.

The epoch is selected on the IID validation set, and the IID-test and OOD-test
Recall/NDCG@10/20 of that epoch are reported.

    python examples/cnsdiff_ood.py --dataset ood-food                      # LightGCN
    python examples/cnsdiff_ood.py --dataset ood-food --augmenter cnsdiff  # +CNSDiff
    python examples/cnsdiff_ood.py --dataset ood-yelp2018 --augmenter cnsdiff \
        --cnsdiff-frozen-denoiser    # the reference code's untrained generator

Datasets: ``ood-food`` (temporal shift) and ``ood-yelp2018`` (popularity shift:
the OOD test set holds long-tail items only), the splits published with the
DRGO code (train / IID validation / IID test / OOD test). Defaults follow the
CNSDiff reference configuration (2-layer LightGCN, dim 64, batches of 2048, Adam
lr 0.01, L2 1e-4, 120 epochs, one uniform negative per positive), evaluated
every epoch without early stopping. Validation ranks all items with the user's
training items masked; both test sets mask training and validation items (and
each is ranked on its own). Data come from the local mirror
(``$ADAR_PYG_MIRROR`` or ``../shared/datasets``) when present, else from the
canonical URLs (md5-checked). Writes a run directory (``--out``, default ``runs/...``: config.yaml,
metrics.jsonl, result.json, curves.png, the checkpoint); ``--json PATH`` also writes the statistics, the
metrics (``test``: IID, ``test_ood``: OOD) and the timings.
"""
import sys

from adar_pyg.cli import main

if __name__ == '__main__':
    # The same run as `adar-pyg train --preset ood [flags]`; every flag is listed
    # by --help and generated from adar_pyg.config.
    main(['train', '--preset', 'ood'] + sys.argv[1:])
