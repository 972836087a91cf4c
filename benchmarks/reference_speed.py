r"""Training-epoch speed of every CF backbone of Table 2 against the design of
the AHNS reference implementation, side by side in one run.

    python benchmarks/reference_speed.py --threads 2 \
        --json benchmarks/results/reference_speed.json

The AHNS reference code (Lai et al., 2024), built on the MixGCF code base
(Huang et al., 2021), builds the symmetric-normalised :math:`(U+I)\times(U+I)`
adjacency once as a :obj:`torch.sparse` COO tensor and, for *every*
mini-batch, propagates the whole graph with one :obj:`torch.sparse.mm(adj,
all_embed)` per layer (whose backward multiplies by the transposed COO
matrix), stacks the layers and gathers the batch rows.
:class:`ReferenceLightGCN` and :class:`ReferenceNGCF` below write that design
out literally; they are baselines of this benchmark, not library code.

Ours (:class:`adar_pyg.nn.LightGCN` / :class:`adar_pyg.nn.NGCF`: cached CSR
blocks, fused propagation, a backward that reuses the symmetric matrix) and
the reference train through the *same* :class:`~adar_pyg.train.CFTask` +
:class:`~adar_pyg.train.Trainer` (same sampler, batches, BPR + L2 loss, Adam),
so the propagation design is the only difference. Rows: LightGCN (uniform
sampler), NGCF (uniform), MixGCF (LightGCN backbone + ``mixgcf`` sampler),
AHNS (LightGCN backbone + ``ahns`` sampler), on Amazon-Beauty by default.

Per row, both models start from identical weights; a first-batch check (eval
mode, i.e. no dropout; same batch and generator) requires the same final
representations and reports the first-batch loss of both. After
``--warmup-batches`` batches each, ``--epochs`` rounds alternate (so that
machine noise hits both) a full epoch of ours with ``--ref-batches`` batches
of the reference, whose time is extrapolated to the epoch (mean batch time x
batches per epoch). Reported: medians over the rounds.
"""
import argparse
import platform
import statistics
import sys
import warnings
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter, ParameterList

from common import Stopwatch

from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.config import (Config, ConfigError, add_config_args,
                             config_from_args, parse_args as parse_flags)
from adar_pyg.pipeline import (EDGE, RunData, build_model, build_sampler,
                               load_cf_data, setup)
from adar_pyg.nn import NGCF, LightGCN, bipartite_norm_adj
from adar_pyg.nn.models.base import BipartiteRecommender
from adar_pyg.run import write_json
from adar_pyg.train import CFTask, Trainer

# row of the table -> (name, backbone, sampler), as in benchmarks/table2.py
ROWS = {
    'lightgcn': ('LightGCN', 'lightgcn', 'uniform'),
    'ngcf': ('NGCF', 'ngcf', 'uniform'),
    'mixgcf': ('MixGCF', 'lightgcn', 'mixgcf'),
    'ahns': ('AHNS', 'lightgcn', 'ahns'),
}


def norm_adj_coo(edge_index: Tensor, num_users: int, num_items: int,
                 dtype: torch.dtype = torch.float) -> Tensor:
    r"""The symmetric-normalised adjacency :math:`\mathbf{D}^{-1/2}
    \mathbf{A}\mathbf{D}^{-1/2}` of the user-item graph (users first, no
    self-loops) as one coalesced :obj:`[U + I, U + I]` sparse COO tensor, the
    reference's :obj:`sparse_norm_adj` (its :obj:`_bi_norm_lap`)."""
    adj = bipartite_norm_adj(edge_index, num_users, num_items, dtype=dtype)
    with warnings.catch_warnings():  # "sparse invariant checks ... disabled"
        warnings.simplefilter('ignore', UserWarning)
        return adj.to_sparse()


def follow_type(ref: BipartiteRecommender, edge_index: Tensor,
                dtype: torch.dtype) -> None:
    r"""Gives the reference :obj:`ref` weights of type :obj:`dtype` and its
    adjacency built in that type (not cast from float32), so that a float64
    model and its reference agree to float64 precision."""
    if ref.sparse_norm_adj.dtype == dtype:  # Built so by the constructor.
        return
    ref.to(dtype)
    ref.sparse_norm_adj = norm_adj_coo(edge_index, ref.num_users,
                                       ref.num_items, dtype=dtype)


class ReferenceLightGCN(BipartiteRecommender):
    r"""LightGCN as in the reference code (:obj:`modules/LightGCN.py` of MixGCF
    / AHNS): user and item tables concatenated, :math:`L` whole-graph
    :obj:`torch.sparse.mm` products with the COO adjacency, the layers stacked
    as :obj:`[N, L + 1, F]`, mean pooling (the reference's :obj:`pool='mean'`;
    edge and message dropout are off in its defaults). :obj:`edge_index` is
    ignored: the adjacency is the one built at construction.

    Args:
        edge_index (torch.Tensor): Training user-item edges :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): Embedding size. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers. (default: :obj:`3`)
    """
    per_layer = True  # layer_embeddings, pool_layers (for MixGCF)

    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 embedding_dim: int = 64, num_layers: int = 3) -> None:
        super().__init__(num_users, num_items, embedding_dim, num_layers)
        init = torch.nn.init.xavier_uniform_
        self.user_embed = Parameter(init(torch.empty(num_users,
                                                     embedding_dim)))
        self.item_embed = Parameter(init(torch.empty(num_items,
                                                     embedding_dim)))
        self.register_buffer('sparse_norm_adj',
                             norm_adj_coo(edge_index, num_users, num_items))

    @classmethod
    def from_model(cls, model: LightGCN,
                   edge_index: Tensor) -> 'ReferenceLightGCN':
        r"""The reference design of :obj:`model` (same sizes, same weights)."""
        ref = cls(edge_index, model.num_users, model.num_items,
                  model.embedding_dim, model.num_layers)
        if not torch.allclose(model.alpha, model.alpha.mean()):
            raise ValueError('the reference pools by the layer mean')
        with torch.no_grad():
            user, item = model.ego_embeddings()
            follow_type(ref, edge_index, user.dtype)
            ref.user_embed.copy_(user)
            ref.item_embed.copy_(item)
        return ref.to(user.device)

    def gcn(self) -> Tuple[Tensor, Tensor]:
        r"""Per-layer representations :obj:`[U, L + 1, F]`, :obj:`[I, L + 1,
        F]` (the reference's :obj:`GraphConv.forward`)."""
        all_embed = torch.cat([self.user_embed, self.item_embed], dim=0)
        agg_embed = all_embed
        embs = [all_embed]
        for _ in range(self.num_layers):
            agg_embed = torch.sparse.mm(self.sparse_norm_adj, agg_embed)
            embs.append(agg_embed)
        embs = torch.stack(embs, dim=1)
        return embs[:self.num_users], embs[self.num_users:]

    def layer_embeddings(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        return self.gcn()

    def pool_layers(self, layers: Tensor) -> Tensor:
        return layers.mean(dim=-2)

    def forward(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        user, item = self.gcn()
        return self.pool_layers(user), self.pool_layers(item)

    def ego_embeddings(self) -> Tuple[Tensor, Tensor]:
        return self.user_embed, self.item_embed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, dim={self.embedding_dim}, '
                f'num_layers={self.num_layers})')


class ReferenceNGCF(BipartiteRecommender):
    r"""NGCF as in the reference code (:obj:`modules/NGCF.py` of MixGCF / AHNS,
    after NGCF-PyTorch): node dropout rebuilds a COO matrix from the kept
    entries of the adjacency on every forward pass; each layer is one
    whole-graph :obj:`side = torch.sparse.mm(A, ego)`, then :obj:`ego =
    leaky_relu(W_gc(side) + W_bi(ego * side))`, message dropout, and the
    L2-normalised layers are concatenated with the ego embeddings.

    Two deviations make it compute the function of
    :class:`adar_pyg.nn.NGCF` (the paper's Eq. 7), so that only the design
    differs: the transformed sum also carries the self-connection,
    :obj:`W_gc(side + ego)` (the reference's adjacency has no self-loops and
    drops this term), and its two biases :obj:`b_gc + b_bi` are one bias.
    Both cost one :obj:`[N, F]` addition per layer at most.

    Args:
        edge_index (torch.Tensor): Training user-item edges :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): Size of embeddings and layers.
            (default: :obj:`64`)
        num_layers (int, optional): Propagation layers. (default: :obj:`3`)
        node_dropout (float, optional): Adjacency-entry dropout in training.
            (default: :obj:`0.1`)
        message_dropout (float, optional): Layer-output dropout in training.
            (default: :obj:`0.1`)
        negative_slope (float, optional): LeakyReLU slope.
            (default: :obj:`0.2`)
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 embedding_dim: int = 64, num_layers: int = 3,
                 node_dropout: float = 0.1, message_dropout: float = 0.1,
                 negative_slope: float = 0.2) -> None:
        super().__init__(num_users, num_items, embedding_dim, num_layers)
        self.node_dropout, self.message_dropout = node_dropout, message_dropout
        self.negative_slope = negative_slope
        init = torch.nn.init.xavier_uniform_
        dim = embedding_dim
        self.user_embed = Parameter(init(torch.empty(num_users, dim)))
        self.item_embed = Parameter(init(torch.empty(num_items, dim)))
        self.W_gc = ParameterList([Parameter(init(torch.empty(dim, dim)))
                                   for _ in range(num_layers)])
        self.W_bi = ParameterList([Parameter(init(torch.empty(dim, dim)))
                                   for _ in range(num_layers)])
        self.b = ParameterList([Parameter(torch.zeros(1, dim))
                                for _ in range(num_layers)])
        self.register_buffer('sparse_norm_adj',
                             norm_adj_coo(edge_index, num_users, num_items))

    @property
    def out_channels(self) -> int:
        return self.embedding_dim * (self.num_layers + 1)

    @classmethod
    def from_model(cls, model: NGCF, edge_index: Tensor) -> 'ReferenceNGCF':
        r"""The reference design of :obj:`model` (same sizes, dropout rates and
        weights)."""
        if not model.normalize:
            raise ValueError('the reference L2-normalises the layers')
        conv0 = model.convs[0] if model.num_layers else None
        ref = cls(edge_index, model.num_users, model.num_items,
                  model.embedding_dim, model.num_layers, model.node_dropout,
                  model.message_dropout,
                  conv0.negative_slope if conv0 is not None else 0.2)
        with torch.no_grad():
            user, item = model.ego_embeddings()
            follow_type(ref, edge_index, user.dtype)
            ref.user_embed.copy_(user)
            ref.item_embed.copy_(item)
            for k, conv in enumerate(model.convs):
                ref.W_gc[k].copy_(conv.lin1.weight.t())
                ref.W_bi[k].copy_(conv.lin2.weight.t())
                if conv.bias is not None:
                    ref.b[k].copy_(conv.bias.view(1, -1))
        return ref.to(user.device)

    @staticmethod
    def sparse_dropout(x: Tensor, rate: float) -> Tensor:
        r"""The reference's :obj:`sparse_dropout`: a new COO matrix of the kept
        entries, scaled by :math:`1 / (1 - p)`."""
        random_tensor = 1 - rate
        random_tensor += torch.rand(x._nnz(), device=x.device)
        dropout_mask = torch.floor(random_tensor).type(torch.bool)
        i = x._indices()[:, dropout_mask]
        v = x._values()[dropout_mask]
        out = torch.sparse_coo_tensor(i, v, x.shape, device=x.device)
        return out * (1. / (1 - rate))

    def forward(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        A_hat = self.sparse_norm_adj
        if self.training and self.node_dropout > 0:
            A_hat = self.sparse_dropout(A_hat, self.node_dropout)
        ego = torch.cat([self.user_embed, self.item_embed], dim=0)
        all_embeddings = [ego]
        for k in range(self.num_layers):
            side = torch.sparse.mm(A_hat, ego)
            sum_embeddings = torch.matmul(side + ego, self.W_gc[k])
            bi_embeddings = torch.matmul(ego * side, self.W_bi[k])
            ego = F.leaky_relu(sum_embeddings + bi_embeddings + self.b[k],
                               self.negative_slope)
            ego = F.dropout(ego, self.message_dropout, self.training)
            all_embeddings.append(F.normalize(ego, p=2, dim=1))
        # the reference's stack + pool='concat' (a view of [N, L + 1, F])
        out = torch.cat(all_embeddings, dim=1)
        return out[:self.num_users], out[self.num_users:]

    def ego_embeddings(self) -> Tuple[Tensor, Tensor]:
        return self.user_embed, self.item_embed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, dim={self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f'node_dropout={self.node_dropout}, '
                f'message_dropout={self.message_dropout})')


def reference_of(model: BipartiteRecommender,
                 edge_index: Tensor) -> BipartiteRecommender:
    r"""The reference-design twin of our :obj:`model`, with its weights."""
    if isinstance(model, NGCF):
        return ReferenceNGCF.from_model(model, edge_index)
    if isinstance(model, LightGCN):
        return ReferenceLightGCN.from_model(model, edge_index)
    raise TypeError(f'no reference design for {model.__class__.__name__}')


class PartialEpochTask(CFTask):
    r""":class:`~adar_pyg.train.CFTask` whose epoch may stop after
    :obj:`max_batches` batches (the first ones of the same shuffle, as
    :class:`~adar_pyg.train.CFTask` does), knowing its full epoch's."""
    def batches_per_epoch(self) -> int:
        return self._num_steps(self.train_pairs.size(1))


def row_config(cfg: Config, backbone: str, sampler: str) -> Config:
    r"""The settings of :obj:`cfg` with the row's backbone and sampler."""
    return cfg.replace({'model': {'model': backbone},
                        'sampler': {'sampler': sampler}})


@torch.no_grad()
def first_batch_check(tasks: Dict[str, CFTask], l2: float,
                      seed: int) -> Dict[str, Any]:
    r"""Eval mode (no dropout), same first batch and generator: final
    representations (must agree) and the first batch's BPR + L2 loss."""
    batch = next(tasks['ours'].batches(torch.Generator().manual_seed(seed)))
    reps, losses = {}, {}
    for key, task in tasks.items():
        task.model.eval()
        reps[key] = task.model(task.edge_index)
        out = task.forward(batch, torch.Generator().manual_seed(seed))
        losses[key] = float(d_bpr_loss(out.user, out.pos, out.neg) +
                            l2 * out.reg)
        task.model.train()
    diff = max(float((a - b).abs().max())
               for a, b in zip(reps['ours'], reps['reference']))
    close = all(torch.allclose(a, b, rtol=1e-4, atol=1e-5)
                for a, b in zip(reps['ours'], reps['reference']))
    return {'representations_allclose': close,
            'max_abs_diff_representations': diff,
            'loss_ours': losses['ours'], 'loss_reference': losses['reference']}


def run_row(row: str, cfg: Config, data: RunData, device: torch.device,
            ref_batches: int = 10, warmup_batches: int = 2,
            log=print) -> Dict[str, Any]:
    r"""Times one row of the table on :obj:`data` (a per-user random split)
    with the settings of :obj:`cfg` (:obj:`cfg.train.epochs` rounds), the
    row's backbone and sampler: ours (full epochs) against the reference
    design (:obj:`ref_batches` batches per round, extrapolated), after
    :obj:`warmup_batches` untimed batches of each."""
    train, val, test, stats = data.train, data.val, data.test, data.statistics
    name, backbone, sampler_name = ROWS[row]
    U, I = stats['users'], stats['items']
    cfg = row_config(cfg, backbone, sampler_name)
    seed, lr, l2 = cfg.run.seed, cfg.train.lr, cfg.train.l2
    torch.manual_seed(seed)
    ours = build_model(cfg, U, I)
    models = {'ours': ours,
              'reference': reference_of(ours, train[EDGE].edge_index)}
    tasks: Dict[str, PartialEpochTask] = {}
    runs = {}
    for key, model in models.items():
        task = PartialEpochTask(
            model, train, val, test,
            sampler=build_sampler(cfg, train, U, I),
            batch_size=cfg.train.batch_size, device=device)
        trainer = Trainer(task, lr=lr, l2=l2, seed=seed, progress=False)
        tasks[key] = task
        runs[key] = (task, trainer,
                     torch.optim.Adam(model.parameters(), lr=lr))
    check = first_batch_check(tasks, l2, seed)
    if not check['representations_allclose']:
        raise SystemExit(f"{name}: ours and the reference design disagree at "
                         f"initialisation (max |diff| "
                         f"{check['max_abs_diff_representations']:.3g})")
    num_batches = tasks['ours'].batches_per_epoch()
    ref_batches = min(ref_batches, num_batches)

    def timed(key: str, epoch: int, max_batches: Optional[int]) -> float:
        task, trainer, opt = runs[key]
        task.max_batches = max_batches
        with Stopwatch(device) as watch:
            trainer.train_epoch(opt, torch.Generator().manual_seed(
                seed + epoch), epoch)
        return watch.seconds

    for key in runs:  # warm-up: adjacency caches, allocator, kernels
        timed(key, 0, warmup_batches)
    ours_epochs: List[float] = []
    ref_batch: List[float] = []
    # Alternate the two, so that machine noise hits both:
    for epoch in range(1, cfg.train.epochs + 1):
        ours_epochs.append(timed('ours', epoch, None))
        ref_batch.append(timed('reference', epoch, ref_batches) / ref_batches)
    ours_epoch = statistics.median(ours_epochs)
    ref_epoch = statistics.median(ref_batch) * num_batches
    log(f'{name:8s}: ours {ours_epoch:7.2f} s/epoch | reference design '
        f'{ref_epoch:7.2f} s/epoch ({statistics.median(ref_batch) * 1e3:.0f} '
        f'ms/batch x {num_batches}) | {ref_epoch / ours_epoch:.1f}x | '
        f'first-batch loss {check["loss_ours"]:.5f} / '
        f'{check["loss_reference"]:.5f}')
    return {
        'name': name,
        'backbone': backbone,
        'sampler': repr(tasks['ours'].sampler),
        'model': repr(ours),
        'reference_model': repr(models['reference']),
        'ours_seconds_per_epoch': ours_epoch,
        'reference_seconds_per_epoch': ref_epoch,
        'speedup': ref_epoch / ours_epoch,
        'ours_epoch_seconds': ours_epochs,
        'reference_batch_seconds': ref_batch,
        'reference_batches_timed_per_round': ref_batches,
        'first_batch_check': check,
    }


def markdown(rows: Dict[str, Dict[str, Any]]) -> str:
    lines = ['| model | ours s/epoch | reference-design s/epoch | speed-up |',
             '|---|---|---|---|']
    for r in rows.values():
        lines.append(f"| {r['name']} | {r['ours_seconds_per_epoch']:.2f} | "
                     f"{r['reference_seconds_per_epoch']:.2f} | "
                     f"{r['speedup']:.1f}x |")
    return '\n'.join(lines)


def parse_args(argv=None) -> Tuple[argparse.Namespace, Config]:
    r"""The script's own flags and the config of the settings (with
    :obj:`--quick`'s)."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        description=' '.join(__doc__.split('\n')[:2]))
    # The settings: --dataset, --batch-size, --dim, --layers, --lr, --l2,
    # --ngcf-*-dropout, the sampler's (--num-candidates, --ahns-*), --seed,
    # --device, --threads, --data-root, the split; --epochs: timed rounds.
    # The rows choose the backbone and the sampler (--model and --sampler
    # are ignored).
    add_config_args(parser, config_file=False)
    parser.add_argument('--json', metavar='PATH', default=None,
                        help='write the timings here')
    parser.add_argument('--models', nargs='+', default=None,
                        choices=list(ROWS), help='rows of the table (default: '
                        'all; with --quick: lightgcn mixgcf)')
    parser.add_argument('--ref-batches', type=int, default=10,
                        help='reference-design batches timed per round, '
                        'extrapolated to the epoch')
    parser.add_argument('--warmup-batches', type=int, default=2,
                        help='untimed batches of each model first')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: 1 round, 2 reference batches, '
                        'batch 8192, 1 warm-up batch, LightGCN and MixGCF '
                        'rows unless --models is given')
    parser.set_defaults(epochs=3)
    args = parse_flags(parser, argv)
    try:
        cfg = config_from_args(args)
        if args.quick:
            cfg = cfg.replace({'train': {'epochs': 1, 'batch_size': 8192}})
    except ConfigError as e:
        parser.error(str(e))
    if args.quick:
        args.ref_batches, args.warmup_batches = 2, 1
        args.models = args.models or ['lightgcn', 'mixgcf']
    args.models = args.models or list(ROWS)
    if args.ref_batches < 1 or cfg.train.epochs < 1 or \
            args.warmup_batches < 0:
        parser.error('need --ref-batches >= 1, --epochs >= 1 and '
                     '--warmup-batches >= 0')
    return args, cfg


def main(argv=None) -> None:
    args, cfg = parse_args(argv)
    device = setup(cfg)
    data = load_cf_data(cfg)
    stats = data.statistics
    batch_size, rounds = cfg.train.batch_size, cfg.train.epochs
    num_batches = -(-stats['train'] // batch_size)
    print(f"{stats['dataset']}: {stats['users']} users, {stats['items']} "
          f"items, {stats['train']} training pairs, batch {batch_size} "
          f"({num_batches} batches/epoch), device {device}, "
          f"{torch.get_num_threads()} threads; median of {rounds} "
          f"round(s): ours full epochs, reference design {args.ref_batches} "
          f"batches per round extrapolated to {num_batches}", flush=True)
    rows = {row: run_row(row, cfg, data, device, args.ref_batches,
                         args.warmup_batches) for row in args.models}
    table = markdown(rows)
    note = (f'Ours: full epochs; reference design: {args.ref_batches} of '
            f'{num_batches} batches timed per round and extrapolated to the '
            f'epoch; median of {rounds} alternating round(s), after '
            f'{args.warmup_batches} warm-up batch(es) each; same CFTask + '
            f'Trainer, sampler, batches and weights; {device}, '
            f'{torch.get_num_threads()} threads.')
    print(f'\n{table}\n\n{note}')
    write_json({
        'statistics': stats,
        'rows': rows,
        'markdown': table,
        'note': note,
        'batches_per_epoch': num_batches,
        'batch_size': batch_size,
        'ref_batches': args.ref_batches,
        'warmup_batches': args.warmup_batches,
        'rounds': rounds,
        'device': str(device),
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'host': platform.node(),
        'seed': cfg.run.seed,
        'command': ' '.join(['python'] + sys.argv),
    }, args.json)


if __name__ == '__main__':
    main()
