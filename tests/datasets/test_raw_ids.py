import copy
import io
import pickle
import random

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.loader import LinkNeighborLoader, NeighborLoader
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

from adar_pyg.datasets import DatasetFormatError, read_interactions_table
from adar_pyg.datasets.table import RawIds
from adar_pyg.train import TorchNeighborSampler
from adar_pyg.transforms import PerUserRandomSplit

E = ('user', 'rates', 'item')

pytestmark = pytest.mark.filterwarnings(
    "ignore:Using 'NeighborSampler' without a 'pyg-lib':UserWarning")

PYG_KERNELS = pytest.param('pyg', marks=pytest.mark.skipif(
    not (WITH_TORCH_SPARSE or WITH_PYG_LIB),
    reason="PyG's sampler needs torch-sparse or pyg-lib"))


@pytest.fixture
def table(tmp_path):
    """30 users 'u<k>' and items 'i<k>' (strings), 6 to 12 rows each."""
    rng = random.Random(0)
    lines = ['user,item,timestamp']
    for u in range(30):
        for t in range(rng.randint(6, 12)):
            lines.append(f'u{u},i{rng.randrange(40)},{t}')
    path = tmp_path / 'seq.csv'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def test_raw_ids_behave_like_a_read_only_list():
    ids = RawIds(['a', 'b', 7, 2.5])
    assert ids == ['a', 'b', 7, 2.5] and ids == ('a', 'b', 7, 2.5)
    assert ids == RawIds(ids) and ids != ['a'] and ids != 'ab'
    assert len(ids) == 4 and list(ids) == ids.tolist()
    assert ids[1] == 'b' and ids[-1] == 2.5 and ids[1:3] == ['b', 7]
    assert ids[torch.tensor([2, 0])] == [7, 'a']
    assert ids[np.array([3])] == [2.5] and ids[torch.tensor(1)] == 'b'
    assert ids[[0, 0]] == ['a', 'a']
    assert ids.index(7) == 2 and 'b' in ids and 'c' not in ids
    assert ids.count('a') == 1 and [] not in ids
    with pytest.raises(ValueError, match="'c' is not a raw id"):
        ids.index('c')
    assert repr(ids) == "RawIds(['a', 'b', 7, ...], len=4)"
    assert repr(RawIds([1])) == 'RawIds([1])'
    for clone in (copy.deepcopy(ids), pickle.loads(pickle.dumps(ids))):
        assert clone == ids and isinstance(clone, RawIds)
    with pytest.raises(TypeError):
        hash(ids)


def test_graph_operations_keep_raw_ids(table):
    data = read_interactions_table(table)
    users = data['user'].raw_id
    assert isinstance(users, RawIds) and users[0] == 'u0'
    assert 'raw_id' in data['user'] and 'raw_id=RawIds([' in repr(data)
    for other in (data.to('cpu'), data.clone(), data.contiguous()):
        assert other['user'].raw_id == users
        assert isinstance(other['user'].raw_id, RawIds)
    buffer = io.BytesIO()
    torch.save(data, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=False)['item'].raw_id == \
        data['item'].raw_id


@pytest.mark.parametrize('sampler', ['torch', PYG_KERNELS])
def test_plain_pyg_link_neighbor_loader(table, sampler):
    data = read_interactions_table(table)
    train, _, _ = PerUserRandomSplit()(data)
    kwargs = {}
    if sampler == 'torch':
        kwargs['neighbor_sampler'] = TorchNeighborSampler(train, [3, 2])
    loader = LinkNeighborLoader(
        train, num_neighbors=[3, 2], neg_sampling='triplet',
        edge_label_index=(E, train[E].edge_label_index), batch_size=16,
        shuffle=True, **kwargs)
    pairs = set(map(tuple, train[E].edge_label_index.t().tolist()))
    num = 0
    for batch in loader:
        num += 1
        user = batch['user'].n_id[batch['user'].src_index]
        pos = batch['item'].n_id[batch['item'].dst_pos_index]
        assert all(p in pairs for p in zip(user.tolist(), pos.tolist()))
        # The batch holds the whole mapping; n_id maps into it:
        raw = batch['user'].raw_id[user]
        assert raw == [data['user'].raw_id[u] for u in user.tolist()]
        assert all(r.startswith('u') for r in raw)
        assert batch['item'].raw_id[pos][0].startswith('i')
    assert num == len(loader) > 1


def test_plain_pyg_neighbor_loader(table):
    data = read_interactions_table(table)
    data['user'].x = torch.randn(data['user'].num_nodes, 4)
    loader = NeighborLoader(
        data, num_neighbors=[2], input_nodes='user', batch_size=8,
        neighbor_sampler=TorchNeighborSampler(data, [2]))
    batch = next(iter(loader))
    n_id = batch['user'].n_id
    assert torch.equal(batch['user'].x, data['user'].x[n_id])
    assert batch['user'].raw_id[n_id] == data['user'].raw_id[n_id]


@pytest.mark.parametrize('value', [np.inf, -np.inf])
def test_infinite_time_in_a_parquet_file(tmp_path, monkeypatch, value):
    df = pd.DataFrame({'user': [1, 1, 2], 'item': [3, 4, 3],
                       'timestamp': [1.0, value, 2.0]})
    path = tmp_path / 'log.parquet'
    path.write_text('')
    monkeypatch.setattr(pd, 'read_parquet', lambda p: df.copy())
    with pytest.raises(DatasetFormatError, match=r'log.parquet: row 2: time '
                       r'-?inf is not finite'):
        read_interactions_table(str(path))


def test_numbers_and_dates_that_stay_valid(tmp_path):
    path = tmp_path / 'log.csv'
    path.write_text('user,item,timestamp\n1,2,-5.5\n1,3,1e3\n1,4,0\n')
    assert read_interactions_table(str(path))[E].edge_index[1].tolist() == \
        [0, 2, 1]
    path.write_text('user,item,timestamp\n1,2,2020-01-02\n'
                    '1,3,2019-12-31T23:00:00Z\n1,4,2020-01-01 10:00\n')
    assert read_interactions_table(str(path))[E].edge_index[1].tolist() == \
        [1, 2, 0]


def test_a_boolean_mask_selects():
    import numpy as np
    import torch

    from adar_pyg.datasets import RawIds
    ids = RawIds(['a', 'b', 'c'])
    assert ids[torch.tensor([True, False, True])] == ['a', 'c']
    assert ids[np.array([False, True, False])] == ['b']
    with pytest.raises(IndexError, match='a mask of 2 for 3 ids'):
        ids[torch.tensor([True, False])]
