r"""Shared by the benchmarks: resumable result cells and their names, mean ± std
and paired t-tests across seeds, markdown tables, and one stopwatch."""
import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

import torch

from adar_pyg.config import Config
from adar_pyg.report import (METRICS, markdown, mean_std,  # noqa: F401
                             paired_ttest, summarize)
from adar_pyg.run import write_json


def command_line(argv: Optional[Sequence[str]] = None) -> str:
    r"""The command that ran this script, as recorded in result files, with
    every absolute path made relative to the working directory (committed
    files never carry a machine's paths)."""
    words = ['python'] + list(sys.argv if argv is None else argv)
    return ' '.join(os.path.relpath(w) if os.path.isabs(w) else w
                    for w in words)


def cell_key(*parts: Any) -> str:
    r"""The name of a result cell: its parts (*e.g.*, dataset, model,
    variant) joined by :obj:`/`, the last one being the seed
    (:obj:`'toys/lightgcn/base/seed0'`)."""
    *names, seed = parts
    return '/'.join([str(n) for n in names] + [f'seed{seed}'])


def resolved(settings: Mapping[str, Mapping[str, Any]]
             ) -> Dict[str, Dict[str, Any]]:
    r"""Every setting (nested by section) of the run :obj:`settings`
    describes (nested by section, as
    :func:`~adar_pyg.config.recorded_settings` reads a cell of this version
    or an older one), resolved as a run resolves them
    (:meth:`Config.resolved`: the device, the model's layers and dropout,
    the split seed): what compares a script's config with the settings a
    cell recorded."""
    return Config.build(settings, where=['the settings ']).resolved(
    ).to_dict()


def sync(device: Union[torch.device, str, None]) -> None:
    r"""Waits for the queued work of a CUDA :obj:`device` (nothing on CPU)."""
    if device is not None and torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def pyg_lightgcn_step(edge_index: torch.Tensor, num_users: int,
                      num_items: int, dim: int, layers: int, lr: float,
                      l2: float, device: Union[torch.device, str]
                      ) -> Callable[[torch.Tensor, torch.Tensor,
                                     torch.Tensor], None]:
    r"""One training step of PyG's stock
    :class:`torch_geometric.nn.models.LightGCN` on the user-item edges
    :obj:`edge_index` (as one homogeneous graph, items after the users)
    with our loss (BPR, :func:`~adar_pyg.augment.dbpr.d_bpr_loss`, plus
    :obj:`l2` times :func:`~adar_pyg.train.cf_task.l2_term`) and Adam: the
    reference the speed benchmarks time ours against, given triplets
    :obj:`(users, pos, neg)`. Its model is drawn from torch's global
    generator."""
    from torch_geometric.nn.models import LightGCN

    from adar_pyg.augment.dbpr import d_bpr_loss
    from adar_pyg.train.cf_task import l2_term
    U, edge = num_users, edge_index.to(device)
    homo = torch.cat([torch.stack([edge[0], edge[1] + U]),
                      torch.stack([edge[1] + U, edge[0]])], dim=1)
    model = LightGCN(U + num_items, dim, layers).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(users: torch.Tensor, pos: torch.Tensor,
             neg: torch.Tensor) -> None:
        emb = model.get_embedding(homo)
        w = model.embedding.weight
        loss = d_bpr_loss(emb[users], emb[U + pos], emb[U + neg]) + l2 * \
            l2_term(w[users], w[U + pos], w[U + neg], users.numel())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def best_seconds(fn: Callable[[], Any], repeats: int = 5,
                 calls: int = 1) -> float:
    r"""The least processor seconds of one call of :obj:`fn` over
    :obj:`repeats` rounds of :obj:`calls` calls (after one warm-up call)."""
    fn()
    best = float('inf')
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls)
    return best


class Stopwatch:
    r"""Wall-clock and processor seconds of a :obj:`with` block
    (:obj:`seconds`, :obj:`cpu_seconds`), waiting for :obj:`device` before
    starting and before stopping so that queued GPU work is counted."""
    def __init__(self, device: Union[torch.device, str, None] = None):
        self.device = device
        self.seconds = self.cpu_seconds = float('nan')

    def __enter__(self) -> 'Stopwatch':
        sync(self.device)
        self._start, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        sync(self.device)
        self.seconds = time.perf_counter() - self._start
        self.cpu_seconds = time.process_time() - self._cpu


class ResultStore:
    r"""A JSON file of finished cells keyed by name: a cell that is already there
    is not recomputed (so an interrupted table resumes where it stopped).

    :obj:`meta['commands']` lists every command that computed a cell of the
    file (a table may be assembled from several runs, e.g. one per core,
    merged with :meth:`merge`), see :func:`command_lines`. With
    :obj:`train=False` (``--report-only``, see :func:`add_store_args`)
    missing cells are not computed."""
    def __init__(self, path: str, meta: Optional[Dict[str, Any]] = None,
                 train: bool = True):
        if not train and not os.path.exists(path):
            raise SystemExit(f"--report-only: no results file '{path}'")
        self.path, self.train, self.changed = path, train, False
        self.command = command_line()
        self.data: Dict[str, Any] = {'meta': meta or {}, 'cells': {}}
        if os.path.exists(path):
            with open(path) as f:
                self.data = json.load(f)
            self.data.setdefault('cells', {})
            old = self.data['meta']
            if self.data['cells'] and 'commands' not in old and 'command' in old:
                old['commands'] = [old['command']]  # Files of older versions.
        if meta:
            self.data['meta'].update(meta)

    def get_or_run(
        self,
        key: str,
        fn: Callable[[], Dict[str, Any]],
        log: Callable[[str], None] = print,
    ) -> Optional[Dict[str, Any]]:
        r"""The cell :obj:`key`, computed by :obj:`fn` and saved if missing
        (:obj:`None` if missing and :obj:`train=False`)."""
        if key in self.data['cells']:
            log(f'[cached] {key}')
            return self.data['cells'][key]
        if not self.train:  # --report-only: the cell stays missing.
            log(f'[missing] {key}')
            return None
        log(f'[run] {key}')
        out = fn()
        self.data['cells'][key] = out
        commands = self.data['meta'].setdefault('commands', [])
        if self.command not in commands:
            commands.append(self.command)
        write_json(self.data, self.path)
        return out

    def merge(self, path: str) -> int:
        r"""Adds the cells of the result file :obj:`path` (e.g., of a run on
        another core or machine) and the commands that computed them; a cell
        in both files must be identical. Records the merge command in
        :obj:`meta['merges']`. Returns the number of cells added."""
        if not os.path.exists(path):
            raise SystemExit(f"--merge: no results file '{path}'")
        with open(path) as f:
            other = json.load(f)
        meta, theirs = self.data['meta'], other.get('meta', {})
        if meta.get('task') and theirs.get('task') not in (None,
                                                            meta['task']):
            raise SystemExit(f"--merge: '{path}' holds '{theirs['task']}' "
                             f"results, not '{meta['task']}' ones")
        for key in ('task', 'device'):
            if key in theirs:
                meta.setdefault(key, theirs[key])
        added = self.add_cells(other.get('cells', {}), path)
        commands = meta.setdefault('commands', [])
        for command in theirs.get('commands') or [theirs.get('command')]:
            if command and command not in commands:
                commands.append(command)
        meta['updated'] = max(meta.get('updated', ''),
                              theirs.get('updated', ''))
        merges = meta.setdefault('merges', [])
        if self.command not in merges:
            merges.append(self.command)
        self.changed = True
        return added

    def add_cells(self, cells: Dict[str, Dict[str, Any]], source: str
                  ) -> int:
        r"""Adds the :obj:`cells` read from :obj:`source` that are missing; a
        cell in both must be identical. Returns the number added."""
        added = 0
        for key, cell in cells.items():
            mine = self.data['cells'].get(key)
            if mine is None:
                self.data['cells'][key], added = cell, added + 1
            elif mine != cell:
                raise SystemExit(f"cell '{key}' differs between "
                                 f"'{self.path}' and '{source}'")
        return added

    def save(self) -> None:
        r"""Writes the file (with :obj:`train=False`, only after a
        :meth:`merge`: otherwise nothing changed)."""
        if self.train or self.changed:
            write_json(self.data, self.path)


def add_store_args(parser: argparse.ArgumentParser) -> None:
    r"""The ``--report-only`` and ``--merge`` flags of the table benchmarks
    (see :func:`open_results`)."""
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: write <out>.md from the cells '
                        'already in <out>.json (missing ones are left out)')
    parser.add_argument('--merge', nargs='+', default=[], metavar='JSON',
                        help='first add the cells of these result files '
                        '(runs split over cores or machines, each with its '
                        'own --out) to <out>.json; a cell in two files must '
                        'be identical')


def open_results(path: str, args: argparse.Namespace) -> ResultStore:
    r"""The result file :obj:`path` as a :class:`ResultStore` (read-only
    with :obj:`args.report_only`), with the files :obj:`args.merge` (if
    any) merged in (and saved)."""
    merge = getattr(args, 'merge', None) or []
    if merge and not os.path.exists(path):
        write_json({'meta': {}, 'cells': {}}, path)
    store = ResultStore(path, train=not args.report_only)
    for other in merge:
        print(f'[merge] {other}: {store.merge(other)} new cells')
    if store.changed:
        store.save()
    return store


def command_lines(meta: Dict[str, Any]) -> str:
    r"""The markdown lines naming the commands that computed the cells of a
    result file (:obj:`meta['command']` for files of older versions) and
    those that merged result files into it, then :obj:`meta['history']`
    (how the file came to be, where the commands alone do not say)."""
    commands = meta.get('commands') or [meta.get('command', '')]
    history = f"{meta['history']}  \n" if meta.get('history') else ''
    return (''.join(f'Command: `{c}`  \n' for c in commands) +
            ''.join(f'Merged: `{c}`  \n' for c in meta.get('merges', [])) +
            history)
