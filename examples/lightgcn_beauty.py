r"""LightGCN on Amazon-Beauty with full-ranking evaluation — adar_pyg's main job.

    python examples/lightgcn_beauty.py                     # LightGCN, BPR + uniform
    python examples/lightgcn_beauty.py --augmenter adar    # LightGCN + ADAR

Data come from the local mirror (``$ADAR_PYG_MIRROR`` or ``../shared/datasets``)
when present, else from the canonical URL (md5-checked). ``--json PATH`` writes the
statistics, the test Recall/NDCG@10/20 at the selected epoch and the timings.
"""
import argparse

from adar_pyg.experiment import (add_cf_args, add_common_args, run_cf,
                                 print_summary,
                                 write_json)
from adar_pyg.nn import LightGCN


def make_model(num_users: int, num_items: int, args) -> LightGCN:
    return LightGCN(num_users, num_items, embedding_dim=args.dim,
                    num_layers=args.layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser)
    add_cf_args(parser)
    args = parser.parse_args()
    out = run_cf(args, make_model)
    s = out['statistics']
    print_summary(
        out, f"{s['dataset']}: {s['users']} users, {s['items']} items, "
          f"{s['interactions']} interactions "
          f"(train {s['train']} / val {s['val']} / test {s['test']})")
    write_json(out, args.json)


if __name__ == '__main__':
    main()
