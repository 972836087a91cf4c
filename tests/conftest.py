import pytest
import torch

#: Module-scoped fixtures that cost seconds to build (2 gloo ranks training,
#: the Beauty data set processed): under pytest-xdist (``make test``:
#: ``--dist loadgroup``) the tests that use one run on the same worker, so
#: it is built once rather than once per worker.
SHARED_FIXTURES = ('ddp_results', 'beauty')


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin('xdist'):
        return
    for item in items:
        for name in SHARED_FIXTURES:
            if name in getattr(item, 'fixturenames', ()):
                item.add_marker(pytest.mark.xdist_group(
                    f'{item.module.__name__}.{name}'))


@pytest.fixture(autouse=True)
def single_thread():
    # Unit tests work on tiny graphs: threads only add overhead (and noise)
    # on a shared 2-core machine. Subprocess tests set their own threads.
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)


@pytest.fixture
def tiny_run_data():
    r"""A factory of tiny random CF data: :obj:`U` users with
    :obj:`per_user` distinct random items each (of :obj:`I`), split per user
    by :class:`~adar_pyg.transforms.PerUserRandomSplit`; returns a
    :class:`~adar_pyg.pipeline.RunData`."""
    from adar_pyg.pipeline import EDGE, RunData
    from adar_pyg.transforms import PerUserRandomSplit
    from tiny_data import clustered_graph

    def make(U=24, I=30, per_user=8, seed=0, test_ratio=0.2, val_ratio=0.1,
             split_seed=0):
        data = clustered_graph(U, I, per_user=per_user, seed=seed)
        train, val, test = PerUserRandomSplit(test_ratio, val_ratio,
                                              seed=split_seed)(data)
        stats = {'dataset': 'tiny', 'users': U, 'items': I,
                 'train': int(train[EDGE].edge_label_index.size(1))}
        return RunData(train, val, test, stats)

    return make
