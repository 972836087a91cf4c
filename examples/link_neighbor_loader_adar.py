r"""ADAR negatives for a heterogeneous GNN trained on sampled subgraphs with
PyG's :class:`~torch_geometric.loader.LinkNeighborLoader` (Amazon-Beauty).

    python examples/link_neighbor_loader_adar.py --epochs 1
    python examples/link_neighbor_loader_adar.py --adar-weight 0   # plain BPR

The model is a learnable embedding per node type followed by one
:class:`~torch_geometric.nn.conv.SAGEConv` per edge type and layer
(:class:`~torch_geometric.nn.conv.HeteroConv`), with one layer per hop of
``--fanout`` (the neighbours sampled per hop; here 10 5 unless given). Each training batch is a subgraph sampled around
``--batch-size`` training (user, item) pairs, with
``neg_sampling='triplet'`` drawing one random item per pair.

How a triplet batch indexes its embeddings
------------------------------------------
All ids in a sampled ``batch`` are *local* to the subgraph:

* ``batch['user'].n_id[k]`` is the *global* id of the subgraph's ``k``-th user
  (likewise for ``'item'``): ``n_id`` maps local → global ids, so the model
  looks up its embedding tables at ``n_id``;
* ``batch['user'].src_index[b]`` is the local id of the user of the ``b``-th
  training pair, ``batch['item'].dst_pos_index[b]`` the local id of its
  positive item and ``batch['item'].dst_neg_index[b]`` the local id of its
  sampled negative item.

Hence, with ``out = model(batch.n_id_dict, batch.edge_index_dict)``,

    user = out['user'][batch['user'].src_index]      # e_u,  [B, d]
    pos = out['item'][batch['item'].dst_pos_index]   # e_i,  [B, d]
    neg = out['item'][batch['item'].dst_neg_index]   # e_j,  [B, d]

and ``batch['user'].n_id[batch['user'].src_index]`` (and so on) are the global
(user, positive, negative) ids. ADAR only sees these embeddings: it generates
one negative e_d per pair (by default by noising the positive to Theorem 1's
transition point; with source='chain', from its diffusion model, which step()
trains on the (user, positive) pairs), and D-BPR (Eq. 12 of the paper) adds it
to the sampled negative:

    augmenter.step(user.detach(), pos.detach())
    neg_gen = augmenter(user.detach(), pos.detach(), neg.detach())
    loss = augmenter.loss(user, pos, neg, neg_gen)

The negatives are drawn uniformly from all items (PyG's ``'triplet'`` mode), so
a negative may occasionally be a positive of the user. The sampled subgraphs
contain the training pairs themselves as message-passing edges, as full-graph
LightGCN training does. Evaluation ranks all items for every user, with
embeddings from one full-batch forward pass over the training graph
(SAGEConv's mean over all neighbors is what sampling estimates).

The loader draws the neighbours with adar_pyg's
:class:`~adar_pyg.train.TorchNeighborSampler` (PyG's
``NeighborSampler`` with its sampling step in batched PyTorch: no
torch-sparse or pyg-lib needed, and faster); drop the ``neighbor_sampler``
argument to use PyG's kernels (they need torch-sparse or pyg-lib).
``--json PATH`` writes the metrics and the seconds per epoch.
"""
import argparse
import platform
import sys
import time
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

import torch_geometric
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.nn import HeteroConv, SAGEConv
from torch_geometric.typing import EdgeType, NodeType

from adar_pyg import NegativeAugmenter, d_bpr_loss
from adar_pyg.cli.errors import run_command
from adar_pyg.config import (Config, ConfigError, add_config_args,
                             config_from_args, parse_args as parse_flags)
from adar_pyg.pipeline import EDGE, build_augmenter, load_cf_data, setup
from adar_pyg.metrics import FullRankingEvaluator
from adar_pyg.run import write_json
from adar_pyg.train import TorchNeighborSampler


class HeteroSAGE(torch.nn.Module):
    r"""A learnable embedding per node type, followed by :obj:`num_layers`
    layers of one :class:`SAGEConv` per edge type. With :obj:`num_layers=0`,
    the model is its embedding tables.

    Args:
        num_nodes (Dict[str, int]): The number of nodes of each node type.
        edge_types (List[Tuple[str, str, str]]): The edge types to pass
            messages along.
        embedding_dim (int): The embedding size.
        num_layers (int): The number of message passing layers.
    """
    def __init__(
        self,
        num_nodes: Dict[NodeType, int],
        edge_types: List[EdgeType],
        embedding_dim: int = 64,
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.embedding = torch.nn.ModuleDict({
            node_type: torch.nn.Embedding(num, embedding_dim)
            for node_type, num in num_nodes.items()
        })
        self.convs = torch.nn.ModuleList([
            HeteroConv({
                edge_type: SAGEConv(embedding_dim, embedding_dim)
                for edge_type in edge_types
            }) for _ in range(num_layers)
        ])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for embedding in self.embedding.values():
            torch.nn.init.normal_(embedding.weight, std=0.1)
        for conv in self.convs:
            conv.reset_parameters()

    def forward(
        self,
        n_id_dict: Dict[NodeType, Tensor],
        edge_index_dict: Dict[EdgeType, Tensor],
    ) -> Dict[NodeType, Tensor]:
        r"""Embeds the nodes of a (sub)graph: :obj:`n_id_dict` holds the
        global id of each of its nodes, :obj:`edge_index_dict` its edges in
        local ids."""
        x_dict = {
            node_type: self.embedding[node_type](n_id)
            for node_type, n_id in n_id_dict.items()
        }
        for i, conv in enumerate(self.convs):
            x_dict = conv(x_dict, edge_index_dict)
            if i < len(self.convs) - 1:
                x_dict = {key: F.relu(x) for key, x in x_dict.items()}
        return x_dict


def triplet_embeddings(
    batch: HeteroData,
    out: Dict[NodeType, Tensor],
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The (user, positive item, negative item) embeddings of a triplet
    batch, from the output :obj:`out` of the model on the batch's subgraph
    (rows in local ids)."""
    user = out['user'][batch['user'].src_index]
    pos = out['item'][batch['item'].dst_pos_index]
    neg = out['item'][batch['item'].dst_neg_index]
    return user, pos, neg


def triplet_global_ids(batch: HeteroData) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The global (user, positive item, negative item) ids of a triplet
    batch: local ids mapped through :obj:`n_id`."""
    user = batch['user'].n_id[batch['user'].src_index]
    pos = batch['item'].n_id[batch['item'].dst_pos_index]
    neg = batch['item'].n_id[batch['item'].dst_neg_index]
    return user, pos, neg


def train_step(
    model: HeteroSAGE,
    optimizer: torch.optim.Optimizer,
    batch: HeteroData,
    augmenter: Optional[NegativeAugmenter] = None,
    l2: float = 0.0,
) -> float:
    r"""One optimization step on a triplet batch: D-BPR with ADAR negatives
    (plain BPR if :obj:`augmenter` is :obj:`None`), plus :obj:`l2` times the
    squared norm of the batch's input embeddings."""
    model.train()
    optimizer.zero_grad()
    out = model(batch.n_id_dict, batch.edge_index_dict)
    user, pos, neg = triplet_embeddings(batch, out)

    if augmenter is not None:
        augmenter.step(user.detach(), pos.detach())  # (source='chain')
        neg_gen = augmenter(user.detach(), pos.detach(),  # e_d, no
                            neg.detach())  # gradient.
        loss = augmenter.loss(user, pos, neg, neg_gen)  # D-BPR, Eq. (12).
    else:
        loss = d_bpr_loss(user, pos, neg)  # BPR.

    if l2 > 0:
        user_id, pos_id, neg_id = triplet_global_ids(batch)
        ego = torch.cat([
            model.embedding['user'](user_id),
            model.embedding['item'](pos_id),
            model.embedding['item'](neg_id),
        ])
        loss = loss + l2 * ego.pow(2).sum() / (2 * user.size(0))

    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def full_embeddings(model: HeteroSAGE, data: HeteroData,
                    device: torch.device) -> Tuple[Tensor, Tensor]:
    r"""User and item embeddings from one full-batch forward pass over the
    (training) graph :obj:`data`."""
    model.eval()
    n_id_dict = {
        node_type: torch.arange(data[node_type].num_nodes, device=device)
        for node_type in data.node_types
    }
    edge_index_dict = {
        edge_type: data[edge_type].edge_index.to(device)
        for edge_type in data.edge_types
    }
    out = model(n_id_dict, edge_index_dict)
    return out['user'], out['item']


def parse_args(argv: Optional[List[str]] = None
               ) -> Tuple[argparse.Namespace, Config]:
    r"""The example's own flags (:obj:`--json`, :obj:`--progress`) and the
    config of the settings."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    # The settings (those of `adar-pyg train`): --dataset, --epochs,
    # --batch-size (training pairs per batch), --dim, --lr, --l2,
    # --max-batches (training batches per epoch; 0 or none: the whole
    # epoch), --adar-weight (0 = plain BPR, no ADAR), --adar-num-steps and the
    # other --adar-* flags, the split, --seed, --device, --threads,
    # --data-root, --mirror, --fanout (the neighbours sampled per hop). The
    # model is HeteroSAGE (--model and --layers are ignored: one layer per
    # hop of --fanout).
    add_config_args(parser, config_file=False)
    parser.add_argument('--json', metavar='PATH', default=None,
                        help='write the metrics and timings here')
    parser.add_argument('--progress', default=True,
                        action=argparse.BooleanOptionalAction,
                        help='progress bars (default: on)')
    # One epoch, two hops, and ADAR unless --adar-weight 0 or --augmenter
    # none:
    parser.set_defaults(epochs=1, fanout=[10, 5], augmenter='adar')
    args = parse_flags(parser, argv)
    if getattr(args, 'max_batches', None) is not None and \
            args.max_batches <= 0:
        del args.max_batches  # 0: the whole epoch, as always.
    args.layers = len(args.fanout)  # One layer per hop.
    try:
        cfg = config_from_args(args)
    except ConfigError as e:
        parser.error(str(e))
    if cfg.train.augmenter not in ('none', 'adar'):
        parser.error(f"--augmenter must be 'adar' or 'none' here (got "
                     f"'{cfg.train.augmenter}')")
    return args, cfg


def main(argv: Optional[List[str]] = None) -> dict:
    args, cfg = parse_args(argv)
    device = setup(cfg)

    # Data: the per-user random split of the paper (80% / 20%), with 10% of
    # each user's training part held out for validation (--test-ratio,
    # --val-ratio, --split-seed):
    data = load_cf_data(cfg)
    train_data, val_data, test_data = data.train, data.val, data.test
    num_users = train_data['user'].num_nodes
    num_items = train_data['item'].num_nodes
    train_edges = train_data[EDGE].edge_index
    val_edges = val_data[EDGE].edge_label_index
    test_edges = test_data[EDGE].edge_label_index

    loader = LinkNeighborLoader(
        train_data,
        num_neighbors=cfg.train.fanout,
        edge_label_index=(EDGE, train_data[EDGE].edge_label_index),
        neg_sampling='triplet',
        batch_size=cfg.train.batch_size,
        shuffle=True,
        neighbor_sampler=TorchNeighborSampler(train_data,
                                              cfg.train.fanout),
    )
    num_batches = len(loader)
    if cfg.train.max_batches is not None:
        num_batches = min(num_batches, cfg.train.max_batches)

    model = HeteroSAGE(
        {'user': num_users, 'item': num_items},
        train_data.edge_types,
        embedding_dim=cfg.model.dim,
        num_layers=len(cfg.train.fanout),
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    augmenter: Optional[NegativeAugmenter] = None
    if cfg.train.augmenter == 'adar' and cfg.adar.weight > 0:
        augmenter = build_augmenter(cfg, cfg.model.dim).to(device)

    val_evaluator = FullRankingEvaluator(val_edges, num_users, num_items,
                                         exclude_edge_index=train_edges)
    test_evaluator = FullRankingEvaluator(
        test_edges, num_users, num_items,
        exclude_edge_index=[train_edges, val_edges])

    print(f"{data.statistics['dataset']}: {num_users} users, "
          f'{num_items} items, {train_edges.size(1)} training pairs in '
          f'{len(loader)} batches' + (
              f', {num_batches} of them per epoch (--max-batches)'
              if num_batches < len(loader) else ''))
    print(f'{model.__class__.__name__}(dim={cfg.model.dim}, '
          f'layers={len(model.convs)}) + {augmenter or "BPR"}')

    history, seconds_per_epoch, seconds_eval = [], [], []
    for epoch in range(1, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        total_loss = 0.0
        progress = tqdm(loader, total=num_batches, desc=f'epoch {epoch}',
                        disable=not args.progress)
        for i, batch in enumerate(progress):
            if i == num_batches:
                break
            loss = train_step(model, optimizer, batch.to(device), augmenter,
                              l2=cfg.train.l2)
            total_loss += loss
            progress.set_postfix(loss=f'{loss:.4f}')
        progress.close()
        seconds_per_epoch.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        val = val_evaluator(*full_embeddings(model, train_data, device))
        seconds_eval.append(time.perf_counter() - t0)
        history.append({'epoch': epoch, 'loss': total_loss / num_batches,
                        'val': val})
        print(f'epoch {epoch}: loss {total_loss / num_batches:.4f}, val ' +
              ', '.join(f'{k} {v:.4f}' for k, v in val.items()) +
              f' ({seconds_per_epoch[-1]:.1f} s)')

    test = test_evaluator(*full_embeddings(model, train_data, device))
    print('test: ' + ', '.join(f'{k} {v:.4f}' for k, v in test.items()))
    seconds_per_batch = (sum(seconds_per_epoch) /
                         (num_batches * cfg.train.epochs))
    print(f'{seconds_per_batch:.3f} s/batch, '
          f'{seconds_eval[-1]:.2f} s/evaluation')

    out = {
        'dataset': data.statistics['dataset'],
        'users': num_users,
        'items': num_items,
        'train': train_edges.size(1),
        'val_pairs': val_edges.size(1),
        'test_pairs': test_edges.size(1),
        'split': data.statistics['split'],
        'model': repr(model),
        'augmenter': repr(augmenter) if augmenter is not None else 'none',
        'batches_per_epoch': num_batches,
        'val': history[-1]['val'],
        'test': test,
        'history': history,
        'seconds_per_epoch': seconds_per_epoch,
        'seconds_per_batch': seconds_per_batch,
        'seconds_per_eval': seconds_eval,
        'device': str(device),
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'torch_geometric': torch_geometric.__version__,
        'host': platform.node(),
        'settings': cfg.resolved().to_dict(),  # as a run's result.json
    }
    write_json(out, args.json)
    return out


if __name__ == '__main__':
    # An error of the data (a missing file, a file without rows) is one
    # line and a hint, as with `adar-pyg train` (ADAR_PYG_DEBUG=1: the
    # traceback):
    sys.exit(run_command(main))
