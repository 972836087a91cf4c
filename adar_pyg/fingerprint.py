r"""What a run was trained on, recorded so that a saved run is never scored on
other inputs.

At train time :func:`fingerprint` digests the inputs of the run and
:func:`save` writes them to the run directory's :obj:`fingerprint.json` (the
trainer also stores them in every checkpoint, under :obj:`'meta'`):

* :obj:`data` — the SHA-256 of the data file (:obj:`--data`) or of the raw
  files of the built-in dataset;
* :obj:`split` — the SHA-256 of the train / validation / test interactions
  (CF: each edge set sorted by (user, item); SR: the sequences and targets
  as built), with the numbers of users and items;
* :obj:`ids` — the SHA-256 of the original user and item ids (own data,
  :obj:`ids.json`);
* :obj:`config` — the resolved settings and their SHA-256;
* :obj:`data_path` — the absolute path of the :obj:`--data` file: a run
  trained with a relative one is read from any working directory (its
  :obj:`config.yaml` keeps the path as given);
* :obj:`adar_pyg` — the package version.

Every command that reads a run (:obj:`evaluate`, :obj:`recommend`,
:obj:`resume`) checks them first: :func:`load_config` compares the run's
:obj:`config.yaml` with the recorded settings (a section or key it lacks is
an error, not a default), :func:`check_inputs` the data, ids and split
rebuilt from it, :func:`check_checkpoint` a checkpoint's record. A mismatch
raises a :class:`~adar_pyg.errors.RunDirError` naming what changed.

The settings of :obj:`ENVIRONMENT` say where a run executes or where its
files lie, not what it computes: they may change (say, :obj:`run.device` to
evaluate a GPU run on a CPU machine, or :obj:`data.data` after moving the
file — its digest is still checked).
"""
import contextlib
import hashlib
import json
import math
import os
import shlex
from typing import Any, Dict, Iterator, List, Mapping, Optional

import torch

import adar_pyg
from adar_pyg.config import Config
from adar_pyg.config.config import read_yaml, with_defaults
from adar_pyg.config.settings import ConfigError
from adar_pyg.errors import RunDirError
from adar_pyg.io import write_text
from adar_pyg.rundir import CONFIG, FINGERPRINT, IDS

#: Version of the layout of :obj:`fingerprint.json`.
FORMAT = 1
#: Settings that may differ between training and reading a run.
ENVIRONMENT = ('run.device', 'run.threads', 'run.port', 'run.dist_timeout',
               'run.reuse_memory', 'data.data', 'data.data_root',
               'data.mirror')
EDGE = ('user', 'rates', 'item')
_CHUNK = 1 << 20


def sha256_file(path: str) -> str:
    r"""The SHA-256 of the file :obj:`path` (hex)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_CHUNK), b''):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    r"""The SHA-256 of :obj:`obj` as canonical JSON (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _update(h: 'hashlib._Hash', name: str, tensor: torch.Tensor) -> None:
    t = tensor.detach().to('cpu', torch.int64).contiguous()
    h.update(f'{name}:{list(t.shape)};'.encode())
    h.update(t.numpy().astype('<i8').tobytes())


def _sorted_edges(edge_index: torch.Tensor, num_items: int) -> torch.Tensor:
    edge_index = edge_index.detach().to('cpu', torch.int64)
    key = edge_index[0] * max(num_items, 1) + edge_index[1]
    return edge_index[:, key.argsort(stable=True)]


def split_digest(data: Any) -> str:
    r"""The SHA-256 of the split of :obj:`data` (a
    :class:`~adar_pyg.pipeline.RunData`): every interaction of the
    training, validation, test and further test parts, in a canonical
    order, with the numbers of users and items."""
    h = hashlib.sha256()
    users, items = data.statistics.get('users'), data.statistics.get('items')
    h.update(f'users={users};items={items};'.encode())
    parts = {'train': data.train, 'val': data.val, 'test': data.test,
             **data.extra_tests}
    from adar_pyg.sequential.data import SequenceSplit
    if isinstance(data.train, SequenceSplit):  # Sequential: order matters.
        split = data.train
        for name in ('train_seq', 'val_seq', 'test_seq', 'val_target',
                     'test_target', 'train_edge_index', 'val_edge_index',
                     'test_edge_index'):
            _update(h, name, getattr(split, name))
        return h.hexdigest()
    for name in sorted(parts):
        if parts[name] is None:
            continue
        edges = parts[name][EDGE].edge_label_index
        _update(h, name, _sorted_edges(edges, int(items or 0)))
    return h.hexdigest()


def ids_digest(raw_ids: Optional[Mapping[str, List[Any]]]) -> Optional[str]:
    r"""The SHA-256 of the original ids (as written to :obj:`ids.json`), or
    :obj:`None` for a built-in dataset."""
    return None if raw_ids is None else sha256_json(dict(raw_ids))


def data_files(cfg: Config) -> List[str]:
    r"""The files the run's data are read from: the :obj:`--data` file, or
    the raw files of the built-in dataset (its processed cache is derived
    from them and rebuilt at will; the split digest covers its content)."""
    if cfg.data.data:
        return [cfg.data.data]
    from adar_pyg.pipeline import DATASETS
    cls = DATASETS[cfg.data.dataset]
    # Only the paths: the classes name their raw files by class attributes.
    dataset = cls.__new__(cls)
    dataset.root = os.path.join(cfg.data.data_root, cfg.data.dataset)
    return list(dataset.raw_paths)


def data_digest(cfg: Config) -> Optional[Dict[str, str]]:
    r"""The SHA-256 of each of :func:`data_files` by file name, or
    :obj:`None` if one is missing (data given in memory)."""
    out = {}
    for path in data_files(cfg):
        if not os.path.isfile(path):
            return None
        out[os.path.basename(path)] = sha256_file(path)
    return out


def settings(cfg: Config) -> Dict[str, Dict[str, Any]]:
    r"""The resolved settings of :obj:`cfg`, by section."""
    return cfg.resolved().to_dict()


def computed(values: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    r"""The settings of :obj:`values` (by section) that change what a run
    computes, flat (:obj:`'section.name'`): those of :data:`ENVIRONMENT`
    left out."""
    return {f'{s}.{k}': v for s, body in values.items()
            for k, v in body.items() if f'{s}.{k}' not in ENVIRONMENT}


def fingerprint(cfg: Config, data: Any) -> Dict[str, Any]:
    r"""The fingerprint of a run of :obj:`cfg` on :obj:`data` (JSON-able)."""
    values = settings(cfg)
    return {
        'format': FORMAT,
        'adar_pyg': adar_pyg.__version__,
        'config': {'sha256': sha256_json(computed(values)),
                   'settings': values},
        'data': data_digest(cfg),
        # (where :obj:`--data` lay: a relative path is found from elsewhere)
        'data_path': os.path.abspath(cfg.data.data) if cfg.data.data
        else None,
        'split': split_digest(data),
        'ids': ids_digest(data.raw_ids),
    }


def save(run_dir: str, fp: Mapping[str, Any]) -> None:
    r"""Writes :obj:`fp` to :obj:`run_dir/fingerprint.json` (atomically)."""
    write_text(os.path.join(run_dir, FINGERPRINT),
               json.dumps(fp, indent=2) + '\n')


def load(run_dir: str) -> Dict[str, Any]:
    r"""The recorded fingerprint of :obj:`run_dir`; a run without one (or
    with an unreadable one) is refused: what it was trained on cannot be
    checked."""
    path = os.path.join(run_dir, FINGERPRINT)
    if not os.path.isfile(path):
        raise RunDirError(
            f"run '{run_dir}' has no {FINGERPRINT}: what it was trained on "
            f"cannot be checked", hint='train it again (adar-pyg train '
            f"--config {os.path.join(run_dir, CONFIG)} --out NEW)")
    try:
        with open(path, encoding='utf-8') as f:
            fp = json.load(f)
    except (OSError, ValueError) as e:
        raise RunDirError(f"run '{run_dir}': cannot read {FINGERPRINT} "
                          f"({e})") from None
    if not isinstance(fp, dict) or fp.get('format') != FORMAT or \
            not isinstance(fp.get('config'), dict) or \
            not isinstance(fp['config'].get('settings'), dict):
        raise RunDirError(f"run '{run_dir}': {FINGERPRINT} is damaged or "
                          f"not a fingerprint of format {FORMAT}")
    return fp


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value)


def _changed(was: Mapping[str, Any], now: Mapping[str, Any]) -> List[str]:
    r"""The computed settings (outside :obj:`ENVIRONMENT`) that differ
    between two settings records, as :obj:`'key old -> new'`; a setting
    one record lacks (added by a later version) counts at its default."""
    a, b = computed(with_defaults(was)), computed(with_defaults(now))
    return [f'{key} {_show(a.get(key))} -> {_show(b.get(key))}'
            for key in sorted(set(a) | set(b))
            if _show(a.get(key)) != _show(b.get(key))]


@contextlib.contextmanager
def damaged(run_dir: str) -> Iterator[None]:
    # A config.yaml a run wrote that does not read is the run directory's
    # fault (edited or damaged), not a bad flag of this command.
    try:
        yield
    except ConfigError as e:
        raise RunDirError(f"run '{run_dir}': {e}",
                          hint=_restore_hint(run_dir)) from None


def _restore_hint(run_dir: str) -> str:
    return (f"restore config.yaml; the settings of the run are recorded "
            f"under 'config' in {os.path.join(run_dir, FINGERPRINT)}")


def read_run_config(run_dir: str) -> Dict[str, Any]:
    r"""The sections of :obj:`run_dir/config.yaml` as written (a dict); a
    missing, unreadable or damaged file raises a
    :class:`~adar_pyg.errors.RunDirError`."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(path):
        raise RunDirError(f"'{run_dir}' is not a run directory (no {CONFIG})")
    with damaged(run_dir):
        raw = read_yaml(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"config file '{path}' must be a mapping of "
                              f"sections (got {type(raw).__name__})")
        for key, body in raw.items():  # (as every run writes it)
            if not isinstance(body, Mapping):
                raise ConfigError(f"config file '{path}': '{key}' is not a "
                                  f"section of settings (got "
                                  f"{type(body).__name__})")
    return raw


def check_written(run_dir: str, raw: Mapping[str, Any],
                  fp: Mapping[str, Any]) -> None:
    r"""Raises a :class:`~adar_pyg.errors.RunDirError` when :obj:`raw`,
    :obj:`run_dir/config.yaml` as read (:func:`read_run_config`), is not
    what the run wrote: it lacks a section or setting recorded in
    :obj:`fp`, or a setting differs from the recorded one (outside
    :obj:`ENVIRONMENT`). Builds no :class:`Config`, so that a run whose
    settings this version refuses still reads (:obj:`adar-pyg report`)."""
    recorded = fp['config']['settings']
    _check_complete(run_dir, raw, recorded)
    changed = _changed(recorded, raw)
    if changed:
        raise RunDirError(f"run '{run_dir}': config.yaml changed since "
                          f"training: {', '.join(changed)}",
                          hint=_restore_hint(run_dir))


def _check_complete(run_dir: str, raw: Mapping[str, Any],
                    recorded: Mapping[str, Any]) -> None:
    r"""Raises a :class:`~adar_pyg.errors.RunDirError` naming the sections
    and settings of :obj:`recorded` that :obj:`raw` lacks."""
    sections, keys = [], []
    for section, body in recorded.items():
        if not isinstance(raw.get(section), Mapping):
            sections.append(f"'{section}'")
            continue
        keys += [f"'{section}.{key}'" for key in body
                 if key not in raw[section]]
    if sections or keys:
        missing = []
        if sections:
            missing.append(('section ' if len(sections) == 1 else
                            'sections ') + ', '.join(sections))
        if keys:
            missing.append(('setting ' if len(keys) == 1 else 'settings ') +
                           ', '.join(keys[:4]) +
                           (f' (of {len(keys)})' if len(keys) > 4 else ''))
        raise RunDirError(
            f"run '{run_dir}': config.yaml lacks {' and '.join(missing)}, "
            f"which the run had (cut short or edited?)",
            hint=_restore_hint(run_dir))


def load_config(run_dir: str, fp: Mapping[str, Any]) -> Config:
    r"""The config of :obj:`run_dir/config.yaml`, checked against the
    settings recorded in :obj:`fp`: a section or setting the run had that
    the file lacks, or a changed setting (outside :obj:`ENVIRONMENT`),
    raises a :class:`~adar_pyg.errors.RunDirError` naming them."""
    path = os.path.join(run_dir, CONFIG)
    raw = read_run_config(run_dir)
    recorded = fp['config']['settings']
    _check_complete(run_dir, raw, recorded)
    try:
        cfg = Config.build(raw, where=[path])
    except ConfigError as e:
        if _changed(recorded, raw):  # Edited or damaged since training.
            raise RunDirError(f"run '{run_dir}': {e}",
                              hint=_restore_hint(run_dir)) from None
        # As written at training: a setting the run's version took (and
        # ignored) that this one refuses.
        version = fp.get('adar_pyg', '?')
        raise RunDirError(
            f"run '{run_dir}' was trained with settings that this adar_pyg "
            f"refuses (its config.yaml is as the run wrote it, by adar_pyg "
            f"{version}): {e}", hint='train a new run without them; its '
            'result.json still reads (adar-pyg report)') from None
    data, trained = cfg.data.data, fp.get('data_path')
    if data and not os.path.isabs(data) and trained and \
            os.path.isfile(trained) and (
                not os.path.isfile(data) or
                fp.get('data') != {os.path.basename(data): sha256_file(
                    data)}):
        # A relative --data is the file it named at training, from any
        # working directory, unless the one it names from this directory
        # is the data trained on (its digest); where the training's no
        # longer lies, the path as given. The digest is checked either way.
        cfg = Config.build(cfg.to_dict(), {'data': {'data': trained}})
    changed = _changed(recorded, settings(cfg))
    if changed:
        raise RunDirError(
            f"run '{run_dir}': config.yaml changed since training: "
            f"{', '.join(changed)}", hint='undo the change, or train a new '
            f'run with the new settings (adar-pyg train --config '
            f'{shlex.quote(path)} --out NEW)')
    return cfg


def differences(was: Mapping[str, Any], now: Mapping[str, Any],
                data_path: Optional[str] = None) -> List[str]:
    r"""What differs between two fingerprints, in words (empty if they
    agree)."""
    out = []
    if was.get('adar_pyg') != now.get('adar_pyg'):
        out.append(f"it was trained with adar_pyg {was.get('adar_pyg')} "
                   f"(this is {now.get('adar_pyg')})")
    # (By setting, not by digest: a setting added by a later version is
    # absent from the older record and counts at its default.)
    changed = _changed(was.get('config', {}).get('settings', {}),
                       now.get('config', {}).get('settings', {}))
    if changed:
        out.append(f"the settings differ ({', '.join(changed[:5])})")
    data_changed = False
    if was.get('data') is not None and now.get('data') is None:
        data_changed = True
        out.append('the data files it was trained on cannot be found '
                   'to check them')
    elif was.get('data') is not None and was['data'] != now['data']:
        data_changed = True
        names = sorted(set(was['data']) | set(now['data']))
        files = [n for n in names if was['data'].get(n) !=
                 now['data'].get(n)]
        shown = data_path if data_path and len(files) == 1 else \
            ', '.join(files)
        out.append(f"the data file '{shown}' differs from the one it was "
                   f"trained on")
    if was.get('ids') != now.get('ids'):
        out.append('the user or item ids differ from those it was trained '
                   'on (ids.json)')
    if was.get('split') != now.get('split'):
        out.append('the split differs from the one it was trained on' + (
            '' if data_changed else
            ' (split.split_seed in config.yaml changed, or the splitting '
            'code?)'))
    return out


def check_inputs(run_dir: str, fp: Mapping[str, Any], cfg: Config,
                 data: Any) -> None:
    r"""Raises a :class:`~adar_pyg.errors.RunDirError` naming what differs
    between the recorded fingerprint :obj:`fp` of :obj:`run_dir` and the
    inputs rebuilt now (:obj:`cfg`, :obj:`data`), including a changed
    :obj:`ids.json`."""
    now = fingerprint(cfg, data)
    found = differences(fp, now, cfg.data.data)
    ids_path = os.path.join(run_dir, IDS)
    if fp.get('ids') is not None and os.path.exists(ids_path):
        try:
            with open(ids_path, encoding='utf-8') as f:
                written = ids_digest(json.load(f))
        except (OSError, ValueError):
            written = None
        if written != fp['ids']:
            found.append('ids.json was changed since training')
    if found:
        raise RunDirError(f"run '{run_dir}': {'; '.join(found)}",
                          hint='undo the change, or train a new run on the '
                          'current inputs')


def check_checkpoint(run_dir: str, name: str, state: Any,
                     fp: Mapping[str, Any]) -> None:
    r"""Raises a :class:`~adar_pyg.errors.RunDirError` if the checkpoint
    :obj:`name` of :obj:`run_dir` (loaded as :obj:`state`) records another
    fingerprint than :obj:`fp` (another run's file), or none."""
    meta = state.get('meta') if isinstance(state, dict) else None
    recorded = meta.get('fingerprint') if isinstance(meta, dict) else None
    if recorded is None:
        raise RunDirError(
            f"run '{run_dir}': {name} records no fingerprint: it is not a "
            f"checkpoint of this run", hint=f'delete {name} (resume then '
            f'starts the run afresh) or train again')
    found = differences(fp, recorded)
    if found:
        raise RunDirError(
            f"run '{run_dir}': {name} belongs to another run "
            f"({'; '.join(found)})", hint=f'delete {name} (resume then '
            f'starts the run afresh) or put back the right file')
