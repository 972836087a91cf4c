r"""The tiny synthetic data sets of the tests (tens of users and items, no
files) and the tasks built on them: ``from tiny_data import ...`` (like
``scripts``, this folder is on :obj:`sys.path` for the tests). Each builder
draws from its own seeded generator, so a test's data is fixed by its
arguments alone."""
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

from adar_pyg.nn import LightGCN
from adar_pyg.sequential import LeaveOneOutSplit
from adar_pyg.train import CFTask, SRTask
from adar_pyg.transforms import PerUserRandomSplit

E = ('user', 'rates', 'item')
REV = ('item', 'rated_by', 'user')

#: Marks a test of the sampled path: PyG's LinkNeighborLoader needs
#: torch-sparse or pyg-lib (absent on the pure-PyTorch path).
needs_sampler = pytest.mark.skipif(
    not (WITH_TORCH_SPARSE or WITH_PYG_LIB),
    reason='LinkNeighborLoader needs torch-sparse or pyg-lib')


def clustered_graph(U, I, per_user, clusters=1, seed=0, time=False,
                    reverse=False):
    r"""Users of cluster :math:`u \bmod c` interact with :obj:`per_user`
    distinct random items of cluster :math:`c` (the :obj:`clusters` equal
    blocks of the :obj:`I` items): a learnable taste structure (with
    :obj:`clusters=1`, random items of all). With :obj:`time`, the rank of
    each interaction within its user as its time; with :obj:`reverse`, the
    item-to-user edges too."""
    g = torch.Generator().manual_seed(seed)
    size = I // clusters
    rows, cols = [], []
    for u in range(U):
        items = torch.randperm(size, generator=g)[:per_user] + (
            u % clusters) * size
        rows += [u] * per_user
        cols += items.tolist()
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = U, I
    data[E].edge_index = torch.tensor([rows, cols])
    if time:
        data[E].time = torch.arange(len(rows)) % per_user
    if reverse:
        data[REV].edge_index = data[E].edge_index.flip(0)
    return data


def chain_graph(U=80, I=30, seed=0):
    r"""User :math:`u` walks :math:`i, i + s, i + 2s, \ldots` (mod :obj:`I`)
    from a random start for 4 to 11 steps, with :math:`s` 1 or 2 by the
    user's parity: the next item is predictable (sequential data, with
    times)."""
    g = torch.Generator().manual_seed(seed)
    rows, cols, times = [], [], []
    for u in range(U):
        start = int(torch.randint(I, (1, ), generator=g))
        n = int(torch.randint(4, 12, (1, ), generator=g))
        step = 1 + u % 2
        rows += [u] * n
        cols += [(start + step * t) % I for t in range(n)]
        times += list(range(n))
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = U, I
    data[E].edge_index = torch.tensor([rows, cols])
    data[E].time = torch.tensor(times)
    return data


def cf_task(data, dim, layers, val_ratio=0.2, seed=0, init_seed=None,
            task=CFTask, model=LightGCN, **kwargs):
    r"""A :class:`~adar_pyg.train.CFTask` (or :obj:`task`, *e.g.*
    :class:`~adar_pyg.train.SampledCFTask`) on :obj:`data` split per user
    (20% test, :obj:`val_ratio` validation, split :obj:`seed`) with a
    LightGCN (or :obj:`model`) of :obj:`dim` and :obj:`layers`, its weights
    drawn after :obj:`torch.manual_seed(init_seed)` (:obj:`seed` if
    :obj:`None`)."""
    train, val, test = PerUserRandomSplit(0.2, val_ratio, seed=seed)(data)
    torch.manual_seed(seed if init_seed is None else init_seed)
    model = model(data['user'].num_nodes, data['item'].num_nodes,
                  embedding_dim=dim, num_layers=layers)
    return task(model, train, val, test, **kwargs)


def sr_task(data, model, max_len, **kwargs):
    r"""An :class:`~adar_pyg.train.SRTask` of :obj:`model()` (built after
    the split) on :obj:`data`, split leave-one-out with :obj:`max_len`."""
    split = LeaveOneOutSplit(max_len=max_len)(data)
    return SRTask(model(), split, **kwargs)
