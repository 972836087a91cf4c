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
(md5-checked). ``--json PATH`` writes the statistics, the test
Recall/NDCG@10/20 at the selected epoch and the timings.
"""
import argparse

from adar_pyg.experiment import add_common_args, print_summary, write_json
from adar_pyg.sequential.experiment import add_sr_args, build_sr_model, run_sr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser)
    add_sr_args(parser)
    args = parser.parse_args()
    out = run_sr(args, build_sr_model)
    s = out['statistics']
    print_summary(
        out, f"{s['dataset']}: {s['users']} users, {s['items']} items, "
          f"{s['interactions']} interactions (train {s['train']} / "
          f"val {s['val']} / test {s['test']} targets, N = {s['max_len']})")
    write_json(out, args.json)


if __name__ == '__main__':
    main()
