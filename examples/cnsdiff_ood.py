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
canonical URLs (md5-checked). ``--json PATH`` writes the statistics, the
metrics (``test``: IID, ``test_ood``: OOD) and the timings.
"""
import argparse

from adar_pyg.experiment import (OOD_DATASETS, OOD_DEFAULTS, add_cf_args,
                                 add_common_args, load_ood_splits,
                                 print_summary, run_cf, write_json)
from adar_pyg.nn import LightGCN


def make_model(num_users: int, num_items: int, args) -> LightGCN:
    return LightGCN(num_users, num_items, embedding_dim=args.dim,
                    num_layers=args.layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser)
    add_cf_args(parser, datasets=OOD_DATASETS)
    parser.set_defaults(**OOD_DEFAULTS)
    args = parser.parse_args()
    train, val, test, stats, extra = load_ood_splits(args)
    out = run_cf(args, make_model, (train, val, test, stats), extra)
    s = out['statistics']
    print_summary(
        out, f"{s['dataset']}: {s['users']} users, {s['items']} items "
          f"(train {s['train']} / IID val {s['val']} / IID test {s['test']} "
          f"/ OOD test {s['test_ood']})")
    print('OOD test: ' + ', '.join(f'{k} {v:.4f}'
                                   for k, v in out['test_ood'].items()))
    write_json(out, args.json)


if __name__ == '__main__':
    main()
