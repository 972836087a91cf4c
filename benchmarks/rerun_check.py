r"""Do committed result cells still re-run bit for bit? Re-trains the first
epochs of chosen cells of the Table 2 and OOD result files with the settings
recorded in each cell, and compares every validation metric and diagnostic
of each evaluation in those epochs with the cell's history exactly (the
logged epoch loss, a mean of float32 batch losses, to :obj:`LOSS_RTOL`).

    python benchmarks/rerun_check.py --rerun-epochs 5 \
        --cell benchmarks/results/table2_cf.json beauty/lightgcn/base/seed0 \
        --cell benchmarks/results/table2_sr.json beauty/gru4rec/base/seed0 \
        --cell benchmarks/results/ood.json ood-yelp2018/cnsdiff/seed3 1 \
        --out benchmarks/results/rerun_check

A cell is re-run the way its script runs it (``table2.py``: ``--task`` from
the file, the SR split loaded as there; ``ood.py``: the published split),
from the script's defaults updated with the cell's recorded settings, only
the epochs cut to ``--rerun-epochs`` (a CNSDiff curriculum kept at its
recorded length, which defaults to the number of epochs). Writes
``<out>.json`` and ``<out>.md``; exits with status 1 if any validation
metric or diagnostic differs, or the logged loss by more than
:obj:`LOSS_RTOL`. The recorded history of a cell holds the evaluations
only, so the epochs (``--rerun-epochs`` or a cell's own third value) should
reach at least one evaluation (Table 2: every 5 epochs; OOD: every epoch).
"""
import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

from common import Stopwatch, command_line

from adar_pyg.config import recorded_settings
from adar_pyg.io import write_text
from adar_pyg.run import cpu_info, write_json


#: The relative difference allowed in the logged epoch loss (a mean of
#: float32 batch losses, whose summation order is not part of the training
#: trajectory); every validation metric and diagnostic must match exactly.
LOSS_RTOL = 1e-6


def cell_args(parse: Callable[[List[str]], argparse.Namespace],
              argv: List[str], settings: Dict[str, Dict[str, Any]],
              epochs: int) -> argparse.Namespace:
    r"""The arguments the script's :obj:`parse` gives :obj:`argv` (its
    defaults), with the cell's recorded :obj:`settings` (nested by section)
    on top of the script's config (:obj:`args.cfg`), shortened to
    :obj:`epochs`."""
    args = parse(argv)
    cfg = args.cfg.replace(settings)
    curriculum = cfg.cnsdiff.curriculum_epochs
    args.cfg = cfg.replace({
        'train': {'epochs': min(epochs, cfg.train.epochs)},
        'cnsdiff': {'curriculum_epochs': (cfg.train.epochs if curriculum
                                          is None else curriculum)}})
    args.checkpoint, args.json, args.progress = None, None, False
    return args


def table2_settings(cell: Dict[str, Any], key: str,
                    task: str) -> Dict[str, Dict[str, Any]]:
    r"""The settings of the Table 2 cell :obj:`key`
    (:obj:`dataset/model/variant/seed`) of task :obj:`task`, as recorded,
    completed for the versions of ``table2.py`` that wrote a flat
    :obj:`'args'`: the backbone (recorded there only as a ``--models``
    list) from the key, and no evaluation block size (recorded, but ignored
    by the CF evaluation of those versions, which ranked blocks of 2048)."""
    settings = recorded_settings(cell)
    settings.setdefault('model', {}).setdefault('model', key.split('/')[1])
    if task == 'cf' and 'args' in cell:
        settings.get('train', {}).pop('eval_batch_size', None)
    return settings


def rerun(path: str, key: str, epochs: int) -> Dict[str, Any]:
    r"""Re-runs the first :obj:`epochs` of the cell :obj:`key` of the result
    file :obj:`path`; returns the comparison."""
    with open(path) as f:
        data = json.load(f)
    if key not in data['cells']:
        raise SystemExit(f"'{path}' has no cell '{key}'")
    cell = data['cells'][key]
    dataset = key.split('/')[0]
    if dataset.startswith('ood-'):
        import ood
        args = cell_args(ood.parse, [], recorded_settings(cell), epochs)
        result = ood.run_cell(args, args.cfg,
                              ood.data_loader(args, dataset))
    else:
        import table2
        task = data['meta'].get('task') or \
            recorded_settings(cell)['run']['task']
        settings = table2_settings(cell, key, task)
        args = cell_args(table2.parse_args, ['--task', task], settings,
                         epochs)
        data_ = (table2.load_sr_data(args, dataset) if task == 'sr'
                 else None)
        result = table2.run_cell(args, args.cfg, data_)
    stored = {e['epoch']: e for e in cell.get('history', [])}
    rows, worst = [], 0.0
    for entry in result.get('history', []):
        old = stored.get(entry['epoch'])
        if old is None:
            continue
        for name, value in entry.items():
            if name in ('epoch', 'seconds') or name not in old or \
                    not isinstance(value, (int, float)):
                continue
            diff = abs(float(value) - float(old[name]))
            worst = max(worst, diff)
            rows.append({'epoch': entry['epoch'], 'value': name,
                         'committed': old[name], 'rerun': value,
                         'identical': value == old[name]})
    metrics = [r for r in rows if r['value'] != 'loss']
    losses = [r for r in rows if r['value'] == 'loss']
    loss_rel = max((abs(r['rerun'] - r['committed']) /
                    max(abs(r['committed']), 1e-30) for r in losses),
                   default=0.0)
    return {'file': os.path.relpath(path), 'cell': key,
            'epochs': args.cfg.train.epochs, 'compared': len(rows),
            'identical': bool(rows) and all(r['identical'] for r in rows),
            'metrics_identical': bool(metrics) and all(
                r['identical'] for r in metrics),
            'loss_max_rel_diff': loss_rel,
            'passed': bool(metrics) and all(r['identical'] for r in metrics)
            and loss_rel <= LOSS_RTOL,
            'max_abs_diff': worst, 'values': rows,
            'recorded_torch': cell.get('torch'),
            'recorded_threads': cell.get('threads'),
            'recorded_cpu': cell.get('cpu'), 'cpu': cpu_info()}


def markdown(out: Dict[str, Any]) -> str:
    lines = ['# Re-run check: committed cells against the code of today', '',
             f"Command: `{out['command']}`  ", '',
             'Each cell re-trained for its first epochs with its recorded '
             'settings; the loss and the validation metrics of every '
             'evaluation in those epochs compared exactly with the '
             f'committed history (the logged loss within a relative '
             f'{LOSS_RTOL:g}: a mean of float32 batch losses).', '',
             'A cell trained on another instruction set (or one whose '
             'record names none: cells of before 2026-12-05) may round its '
             'dense products differently: its "same CPU" column says '
             "whether the cell's recorded instruction set is this "
             "machine's.", '',
             '| file | cell | epochs | values compared | all bit for bit | '
             'metrics bit for bit | loss rel. diff | passed | same CPU |',
             '|---|---|---|---|---|---|---|---|---|']
    for c in out['cells']:
        lines.append(f"| {c['file']} | {c['cell']} | {c['epochs']} | "
                     f"{c['compared']} | {'yes' if c['identical'] else 'no'} "
                     f"| {'yes' if c['metrics_identical'] else 'NO'} | "
                     f"{c['loss_max_rel_diff']:.2g} | "
                     f"{'yes' if c['passed'] else 'NO'} | "
                     f"{same_cpu(c)} |")
    cpu = out['cells'][0]['cpu'] if out['cells'] else cpu_info()
    lines += ['', f"This machine: {cpu['model']}, "
              f"{cpu['capability']}."]
    return '\n'.join(lines) + '\n'


def same_cpu(c: Dict[str, Any]) -> str:
    was = c.get('recorded_cpu')
    if not was:
        return 'not recorded'
    return 'yes' if was.get('capability') == c['cpu']['capability'] else \
        f"no ({was.get('capability')})"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     allow_abbrev=False)
    parser.add_argument('--cell', nargs='+', action='append', required=True,
                        metavar='JSON KEY [EPOCHS]',
                        help='a result file, the key of one of its cells '
                        'and, optionally, the epochs to re-train (default: '
                        '--rerun-epochs)')
    parser.add_argument('--rerun-epochs', type=int, default=5,
                        help='epochs re-trained per cell (default: 5)')
    parser.add_argument('--out', default=None,
                        help='writes <out>.json and <out>.md')
    args = parser.parse_args(argv)
    cells = []
    for spec in args.cell:
        if len(spec) not in (2, 3) or len(spec) == 3 and \
                not spec[2].isdigit():
            parser.error(f"--cell takes JSON KEY [EPOCHS], got {spec}")
        path, key = spec[:2]
        epochs = int(spec[2]) if len(spec) == 3 else args.rerun_epochs
        with Stopwatch() as watch:
            check = rerun(path, key, epochs)
        check['seconds'] = watch.seconds
        print(f"{key}: {check['compared']} values, metrics "
              f"{'bit for bit' if check['metrics_identical'] else 'DIFFER'}"
              f", loss rel. diff {check['loss_max_rel_diff']:.2g} "
              f"({watch.seconds:.0f} s)", flush=True)
        cells.append(check)
    out = {'command': command_line(argv and ['benchmarks/rerun_check.py'] +
                                   argv), 'cells': cells}
    if args.out:
        write_json(out, f'{args.out}.json')
        write_text(f'{args.out}.md', markdown(out))
    return 0 if all(c['passed'] for c in cells) else 1


if __name__ == '__main__':
    sys.exit(main())
