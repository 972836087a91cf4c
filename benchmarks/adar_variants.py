r"""Table 3 of the ADAR paper on Amazon-Beauty: the t* selection strategies
(base, random, fixed, mixed, adaptive) for LightGCN, several seeds, mean ± std and
paired t-tests against the base, validation-selected epochs.

    python benchmarks/adar_variants.py --seeds 0 1 2 3 4 \
        --out benchmarks/results/adar_variants

Resumable: finished (model, variant, seed) cells in ``<out>.json`` are reused.
``--reuse benchmarks/results/table2_cf.json`` takes the base and adaptive cells
from a Table 2 run instead of training them again; it refuses a file whose
recorded command line sets other protocol flags (epochs, λ, T, lr, patience,
evaluation interval, ...) than this one (flags left at their defaults are
compared as absent, so both scripts must share those defaults).
``--quick`` runs a tiny configuration (1 epoch, 1 seed, base + adaptive) for the
test suite.
"""
import argparse
import datetime
import json
from typing import Any, Dict

from common import ResultStore, command_line, markdown, summarize

from adar_pyg import run
from adar_pyg.config import (add_config_args, add_output_args,
                             config_from_args, parse_args)
from adar_pyg.io import write_text

MODELS = ('lightgcn', 'ngcf')


def _adar(strategy: str, source: str = 'chain') -> Dict[str, Dict[str, str]]:
    return {'train': {'augmenter': 'adar'},
            'adar': {'strategy': strategy, 'source': source}}


#: variant -> the settings it changes (nested by section, a layer of
#: :meth:`Config.replace`); the others come from the flags (e.g.
#: --adar-weight, --adar-hardness, --adar-source).
VARIANT_SETTINGS: Dict[str, Dict[str, Dict[str, str]]] = {
    'base': {'train': {'augmenter': 'none'}},
    'random': _adar('random'),
    'fixed': _adar('fixed'),
    'mixed': _adar('mixed'),
    'adaptive': _adar('adaptive'),
    'transition': _adar('transition'),
    'transition-forward': _adar('transition', source='forward'),
    'reweight': {'train': {'augmenter': 'reweight'}},
    'noise': {'train': {'augmenter': 'noise'}},
}
VARIANTS = tuple(VARIANT_SETTINGS)
PAPER_NGCF = {  # Table 3 of the paper (NGCF on Beauty), for orientation
    'base': {'recall@20': 9.50}, 'random': {'recall@20': 11.59},
    'fixed': {'recall@20': 11.50}, 'mixed': {'recall@20': 11.63},
    'adaptive': {'recall@20': 11.76}}


REUSED = {'base': 'base', 'adaptive': 'adar'}  # variant -> Table 2 version
PROTOCOL_FLAGS = ('--epochs', '--eval-every', '--patience', '--lr',
                  '--adar-weight', '--adar-num-steps', '--dim', '--layers',
                  '--batch-size', '--adar-score', '--adar-schedule')


def _flag_values(command: str) -> Dict[str, str]:
    words = command.split()
    return {w: words[i + 1] for i, w in enumerate(words[:-1])
            if w in PROTOCOL_FLAGS}


def reused_cells(path: str, command: str, dataset: str, model: str,
                 ) -> Dict[str, Dict[str, Any]]:
    r"""The base and adaptive cells of a Table 2 result file, keyed as
    :obj:`<variant>/seed<s>`, after checking that its command line sets the
    same protocol flags as :obj:`command`."""
    with open(path) as f:
        data = json.load(f)
    theirs = _flag_values(data.get('meta', {}).get('command', ''))
    ours = _flag_values(command)
    if theirs != ours:
        raise SystemExit(f"--reuse: '{path}' was run with {theirs}, this "
                         f"table with {ours}: pass the same protocol flags")
    out = {}
    for variant, version in REUSED.items():
        prefix = f'{dataset}/{model}/{version}/seed'
        for key, cell in data['cells'].items():
            if key.startswith(prefix):
                out[f'{variant}/seed{key[len(prefix):]}'] = cell
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    add_config_args(parser, config_file=False)
    add_output_args(parser, run_dir=False)
    parser.add_argument('--models', nargs='+', default=['lightgcn'],
                        choices=list(MODELS))
    parser.add_argument('--variants', nargs='+',
                        default=['base', 'random', 'fixed', 'mixed',
                                 'adaptive'],
                        choices=VARIANTS)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument('--out', default='benchmarks/results/adar_variants',
                        help='writes <out>.json and <out>.md')
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--reuse', default=None, metavar='JSON',
                        help='take base/adaptive cells from this table2.py '
                        'result file (same protocol flags required)')
    parser.set_defaults(eval_every=5, patience=10, progress=False)
    args = parse_args(parser)
    cfg = config_from_args(args)
    if args.quick:
        cfg = cfg.replace({'train': {'epochs': 1, 'eval_every': 1}})
        args.seeds, args.variants = args.seeds[:1], ['base', 'adaptive']
    dataset = cfg.data.dataset
    store = ResultStore(f'{args.out}.json', meta={
        'command': command_line(),
        'updated': datetime.datetime.now().isoformat(timespec='seconds'),
        'dataset': dataset})
    key = lambda model, variant, seed: f'{model}/{variant}/seed{seed}'  # noqa
    md = []
    command = store.data['meta']['command']
    for model in args.models:
        if args.reuse:
            for name, cell in reused_cells(args.reuse, command, dataset,
                                           model).items():
                store.data['cells'].setdefault(f'{model}/{name}', cell)
            store.data['meta']['reused_from'] = args.reuse
        for variant in args.variants:
            for seed in args.seeds:
                cell_cfg = cfg.replace({'run': {'seed': seed},
                                        'model': {'model': model}},
                                       VARIANT_SETTINGS[variant])
                store.get_or_run(
                    key(model, variant, seed),
                    lambda: run.train(cell_cfg,  # noqa: B023
                                      progress=False))
        rows = summarize(store.data['cells'], args.variants, 'base',
                         args.seeds, lambda v, s: key(model, v, s))
        md.append(markdown(rows, f'{model} on {dataset}', PAPER_NGCF))
    store.save()
    run.write_json(store.data, args.json)
    text = ('# ADAR t* strategies (Table 3)\n\n'
            f"Command: `{store.data['meta']['command']}`  \n"
            f"Date: {store.data['meta']['updated']}  \n"
            'Test metrics in %, at the validation-selected epoch; p: paired '
            't-test against base over seeds. The paper column is its NGCF '
            'row (its LightGCN variants are not published).' +
            (f" Base and adaptive cells come from `{args.reuse}` (same "
             'protocol).' if args.reuse else '') + '\n\n' +
            '\n'.join(md))
    write_text(f'{args.out}.md', text)
    print(text)


if __name__ == '__main__':
    main()
