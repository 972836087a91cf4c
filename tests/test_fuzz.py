r"""A small fuzz suite (hypothesis, few examples): the interaction readers,
the CSV loader, the config parser and the evaluator, on random bytes,
random valid files and random shapes — never an unhandled exception type,
never a silent wrong answer (each compared with a naive reference)."""
import math
import warnings

import pytest
import torch

hypothesis = pytest.importorskip('hypothesis')
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from adar_pyg.config import Config, ConfigError  # noqa: E402
from adar_pyg.config.sections import SECTIONS  # noqa: E402
from adar_pyg.datasets import (DatasetFormatError,  # noqa: E402
                               read_interactions, read_interactions_table)
from adar_pyg.metrics import FullRankingEvaluator  # noqa: E402

FEW = settings(max_examples=25, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
E = ('user', 'rates', 'item')


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


# The interaction readers:
@FEW
@given(content=st.binary(max_size=300),
       line_format=st.sampled_from(['lists', 'triplets']),
       on_malformed=st.sampled_from(['raise', 'skip']))
def test_read_interactions_random_bytes(tmp_path, content, line_format,
                                        on_malformed):
    path = write(tmp_path, 'random.txt', content)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            pairs, dup, skipped = read_interactions(path, line_format,
                                                    on_malformed)
        except DatasetFormatError as e:
            assert str(e).startswith('random.txt:')
            return
    assert pairs.dtype == torch.long and pairs.dim() == 2
    assert pairs.size(0) == 2 and dup >= 0
    if pairs.numel():
        assert int(pairs.min()) >= 0


lists = st.lists(st.tuples(st.integers(0, 30),
                           st.lists(st.integers(0, 40), max_size=6)),
                 max_size=12)


@FEW
@given(rows=lists, blank=st.booleans())
def test_read_interactions_random_valid_lists(tmp_path, rows, blank):
    text = ''.join(f"{u} {' '.join(map(str, items))}\n" +
                   ('\n' if blank else '') for u, items in rows)
    pairs, dup, skipped = read_interactions(write(tmp_path, 'l.txt', text))
    every = [(u, i) for u, items in rows for i in items]
    assert sorted(set(every)) == [tuple(p) for p in pairs.t().tolist()]
    assert dup == len(every) - len(set(every)) and skipped == []


@FEW
@given(rows=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 40),
                               st.sampled_from(['1', '2.5', '0', '-1',
                                                'x'])),
                     max_size=15))
def test_read_interactions_random_triplets(tmp_path, rows):
    text = ''.join(f'{u} {i} {r}\n' for u, i, r in rows)
    path = write(tmp_path, 't.txt', text)
    bad = [n for n, (_, _, r) in enumerate(rows, 1) if r in ('0', '-1', 'x')]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            pairs, dup, skipped = read_interactions(path, 'triplets', 'skip')
        except DatasetFormatError:
            assert len(bad) > 10  # Only past max_skipped.
            return
    good = {(u, i) for u, i, r in rows if r in ('1', '2.5')}
    assert sorted(good) == [tuple(p) for p in pairs.t().tolist()]
    assert [int(s.split(':')[1]) for s in skipped] == bad


# The CSV loader:
@FEW
@given(content=st.binary(max_size=300))
def test_read_interactions_table_random_bytes(tmp_path, content):
    path = write(tmp_path, 'random.csv', content)
    try:
        data = read_interactions_table(path, time_col=None)
    except (DatasetFormatError, ValueError) as e:
        assert str(e)
        return
    assert data[E].edge_index.size(0) == 2


@FEW
@given(rows=st.lists(st.tuples(st.sampled_from(['a', 'b', 'c', 'd7', '10']),
                               st.integers(-5, 50)), min_size=1,
                     max_size=20))
def test_read_interactions_table_random_valid(tmp_path, rows):
    text = 'user,item\n' + ''.join(f'{u},{i}\n' for u, i in rows)
    data = read_interactions_table(write(tmp_path, 'r.csv', text),
                                   time_col=None)
    users = sorted({u for u, _ in rows})
    items = sorted({i for _, i in rows})
    assert data['user'].num_nodes == len(users)
    assert data['item'].num_nodes == len(items)
    got = sorted((str(data['user'].raw_id[u]), int(data['item'].raw_id[i]))
                 for u, i in data[E].edge_index.t().tolist())
    assert got == sorted((u, i) for u, i in rows)  # Repeats kept.


# The config parser:
KEYS = {s.key: [f.name for f in s.settings()] for s in SECTIONS}
values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3000),
                   st.floats(allow_nan=True), st.text(max_size=8),
                   st.lists(st.integers(), max_size=3),
                   st.dictionaries(st.text(max_size=3), st.integers(),
                                   max_size=2))


@st.composite
def config_dicts(draw):
    out = {}
    for section in draw(st.lists(st.sampled_from(sorted(KEYS) + ['bogus']),
                                 max_size=4, unique=True)):
        names = KEYS.get(section, ['x'])
        keys = draw(st.lists(st.sampled_from(names + ['nope']), max_size=3,
                             unique=True))
        out[section] = {k: draw(values) for k in keys}
    return draw(st.one_of(st.just(out), values))


@FEW
@given(layer=config_dicts())
def test_config_build_random_dicts(layer):
    try:
        cfg = Config.build(layer if isinstance(layer, dict) else
                           {'train': layer})
    except ConfigError as e:
        assert str(e)
        return
    again = Config.build(cfg.to_dict())  # A valid config round-trips.
    assert again.to_dict() == cfg.to_dict()


# The evaluator against a per-user loop:
def naive(user, item, exclude, target, ks):
    out = {f'{m}@{k}': [] for k in ks for m in ('recall', 'ndcg')}
    for u in range(user.size(0)):
        truth = set(target[1, target[0] == u].tolist())
        if not truth:
            continue
        seen = set(exclude[1, exclude[0] == u].tolist())
        ranked = sorted((i for i in range(item.size(0)) if i not in seen),
                        key=lambda i: -float(user[u] @ item[i]))
        for k in ks:
            hits = [1.0 if i in truth else 0.0 for i in ranked[:k]]
            out[f'recall@{k}'].append(sum(hits) / len(truth))
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2)
                       for r in range(min(len(truth), k)))
            out[f'ndcg@{k}'].append(dcg / idcg)
    return {key: sum(v) / max(len(v), 1) for key, v in out.items()}


@FEW
@given(U=st.integers(1, 12), I=st.integers(3, 15), F=st.integers(1, 4),
       density=st.floats(0.05, 0.9), seed=st.integers(0, 2**16),
       batch_size=st.integers(1, 8))
def test_evaluator_matches_naive_loop(U, I, F, density, seed, batch_size):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(U, I, generator=g) < density
    pairs = mask.nonzero().t()
    split = torch.rand(pairs.size(1), generator=g) < 0.5
    exclude, target = pairs[:, split], pairs[:, ~split]
    ks = sorted({1, min(3, I), I})
    user = torch.randn(U, F, generator=g, dtype=torch.float64)
    item = torch.randn(I, F, generator=g, dtype=torch.float64)
    if target.size(1) == 0:  # No user to evaluate: refused, not 0.0.
        with pytest.raises(ValueError, match="'target_edge_index' is empty"):
            FullRankingEvaluator(target, U, I, exclude, ks=ks)
        return
    ev = FullRankingEvaluator(target, U, I, exclude, ks=ks,
                              batch_size=batch_size)
    out = ev(user, item)
    ref = naive(user, item, exclude, target, ks)
    for key in ref:
        assert out[key] == pytest.approx(ref[key], abs=1e-6), key  # f32 log
    user[0, 0] = math.nan
    with pytest.raises(ValueError, match='NaN or infinite'):
        ev(user, item)


def test_read_interactions_id_beyond_int64(tmp_path):
    # Found by fuzzing: it raised a bare ValueError ('Overflow when unpacking
    # long long') naming no file or line.
    path = write(tmp_path, 'big.txt', '1 2\n99999999999999999999 1\n')
    with pytest.raises(DatasetFormatError, match='big.txt:2: id 9999'):
        read_interactions(path)
    path = write(tmp_path, 'edge.txt', f'{2**63 - 1} 1\n')
    assert read_interactions(path)[0].tolist() == [[2**63 - 1], [1]]
