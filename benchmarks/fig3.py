r"""Figure 3 of the ADAR paper: t-SNE of the user embeddings (each normalised
onto the unit hypersphere, as the paper does) of a base run and an ADAR run,
side by side, with the number the picture is meant to show: how uniformly
the users spread over the hypersphere, measured by the uniformity of Wang and
Isola (2020) on the full-dimensional normalised embeddings,

    uniformity = log E_{u, v} exp(-2 ||x_u - x_v||^2)   (lower: more uniform),

over random user pairs, with a bootstrap interval. The paper's claim is that
ADAR's users are "more uniformly distributed across the space".

    adar-pyg train --seed 0 --epochs 50 --eval-every 5 --patience 4 --lr 5e-3 \
        --threads 1 --out runs/fig3-base
    adar-pyg train ... --augmenter adar --adar-strategy transition \
        --adar-source forward --adar-weight 0.7 --adar-hardness 0.5 \
        --out runs/fig3-adar
    adar-pyg train ... --augmenter reweight --adar-weight 0.7 \
        --out runs/fig3-reweight
    python benchmarks/fig3.py runs/fig3-base runs/fig3-adar \
        --control runs/fig3-reweight --out benchmarks/results/fig3_lightgcn

Writes ``<out>.png`` and ``<out>.json``. Needs scikit-learn (the
``benchmark`` extra).
"""
import argparse
import json
import math
from typing import Any, Dict

import torch

from adar_pyg import run
from adar_pyg.plot import pyplot, save_figure


def uniformity(x: torch.Tensor, pairs: int, generator: torch.Generator
               ) -> float:
    r"""log E exp(-2 ||x_u - x_v||^2) over :obj:`pairs` random pairs of
    distinct rows of the unit-norm :obj:`x`."""
    n = x.size(0)
    u = torch.randint(n, (pairs, ), generator=generator)
    v = (u + torch.randint(1, n, (pairs, ), generator=generator)) % n
    d2 = (x[u] - x[v]).pow(2).sum(-1)
    return float(torch.logsumexp(-2 * d2, 0) - math.log(pairs))


def describe(run_dir: str, args: argparse.Namespace) -> Dict[str, Any]:
    cfg, _, task = run.restore(run_dir)
    user_emb = task.embeddings()[0].detach().double()
    x = torch.nn.functional.normalize(user_emb, dim=-1)
    g = torch.Generator().manual_seed(args.tsne_seed)
    values = [uniformity(x, args.pairs, g) for _ in range(args.bootstrap)]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean)**2 for v in values) / (len(values) - 1))
    sample = torch.randperm(x.size(0), generator=g)[:args.tsne_users]
    from sklearn.manifold import TSNE
    points = TSNE(n_components=2, init='pca', random_state=args.tsne_seed,
                  perplexity=30).fit_transform(x[sample].numpy())
    with open(f'{run_dir}/result.json') as f:
        result = json.load(f)
    return {'run': run_dir, 'augmenter': cfg.train.augmenter,
            'strategy': cfg.adar.strategy, 'test': result['test'],
            'uniformity': mean, 'uniformity_std': std,
            'points': points.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    parser.add_argument('base', metavar='BASE_RUN_DIR')
    parser.add_argument('adar', metavar='ADAR_RUN_DIR')
    parser.add_argument('--control', metavar='RUN_DIR', default=None,
                        help='a third panel, e.g. the reweight control')
    parser.add_argument('--out', default='benchmarks/results/fig3_lightgcn')
    parser.add_argument('--pairs', type=int, default=200_000)
    parser.add_argument('--bootstrap', type=int, default=10)
    parser.add_argument('--tsne-users', type=int, default=3000)
    parser.add_argument('--tsne-seed', type=int, default=0,
                        help='seed of the pairs, the sample and t-SNE')
    args = parser.parse_args()
    dirs = [args.base, args.adar] + ([args.control] if args.control else [])
    names = ['base', '+ADAR', 'control'][:len(dirs)]
    rows = [describe(d, args) for d in dirs]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(rows), figsize=(4.5 * len(rows), 4.4))
    for ax, row, name in zip(axes, rows, names):
        if name == 'control':
            name = f"control: {row['augmenter']}"
        pts = torch.tensor(row['points'])
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
        ax.set_title(f"{name}: uniformity {row['uniformity']:.3f} "
                     f"(± {row['uniformity_std']:.3f})\ntest R@20 "
                     f"{100 * row['test']['recall@20']:.2f}%", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle('User embeddings on the unit hypersphere, t-SNE '
                 f'({args.tsne_users} users); lower uniformity = more uniform')
    fig.tight_layout()
    save_figure(fig, f'{args.out}.png', tight=False)
    summary = {k: [{kk: vv for kk, vv in r.items() if kk != 'points'}
                   for r in rows] for k in ('runs', )}
    summary['uniformity_difference'] = {
        name: row['uniformity'] - rows[0]['uniformity']
        for name, row in zip(names[1:], rows[1:])}
    summary['command'] = 'python benchmarks/fig3.py ' + ' '.join(
        [args.base, args.adar] + (['--control', args.control]
                                  if args.control else []) +
        ['--out', args.out])
    run.write_json(summary, f'{args.out}.json')
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
