r"""LightGCN on Amazon-Beauty with full-ranking evaluation — adar_pyg's main job.

    python examples/lightgcn_beauty.py                     # LightGCN, BPR + uniform
    python examples/lightgcn_beauty.py --augmenter adar    # LightGCN + ADAR

Data come from the local mirror (``$ADAR_PYG_MIRROR`` or ``../shared/datasets``)
when present, else from the canonical URL (md5-checked). Writes a run directory (``--out``, default ``runs/...``: config.yaml,
metrics.jsonl, result.json, curves.png, the checkpoint); ``--json PATH`` also writes the
statistics, the test Recall/NDCG@10/20 at the selected epoch and the timings.
"""
import sys

from adar_pyg.cli import main

if __name__ == '__main__':
    # The same run as `adar-pyg train [flags]`; every flag is listed
    # by --help and generated from adar_pyg.config.
    main(['train'] + sys.argv[1:])
