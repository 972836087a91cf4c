r"""Degenerate data are never silent: a split without test interactions is
refused (suggesting --k-core), too few items for the metrics' cut-offs are
refused, and the statistics say how many users each split evaluates, how
many it leaves out and why."""
import pytest

from adar_pyg.config import Config
from adar_pyg.pipeline import build_task, evaluated_users, load_data
from adar_pyg.errors import DataError


def write(tmp_path, rows):
    path = tmp_path / 'log.csv'
    path.write_text('user,item\n' + ''.join(f'{u},{i}\n' for u, i in rows))
    return str(path)


def cfg(path, task='cf'):
    model = {'model': 'sasrec'} if task == 'sr' else {}
    return Config.build({'data': {'data': path}, 'run': {'task': task},
                         'model': model}).resolved()


def many(users, per_user=8, items=30):
    return [(f'u{u}', f'i{(3 * u + j) % items}') for u in range(users)
            for j in range(per_user)]


@pytest.mark.parametrize('task', ['cf', 'sr'])
def test_one_interaction_per_user_is_refused(tmp_path, task):
    path = write(tmp_path, [(f'u{u}', f'i{u}') for u in range(50)])
    with pytest.raises(DataError, match=r"holds no test interactions: all "
                       r"50 users were left out \(a single interaction, no "
                       r"test item\)") as e:
        load_data(cfg(path, task))
    assert '--k-core' in e.value.hint and e.value.exit_code == 3


def test_no_validation_interaction_is_refused_when_selecting_on_it(
        tmp_path):
    r"""Two interactions per user: a test item but no validation one; a CF
    run that selects on validation is refused instead of selecting on test,
    one that selects on test is not. (Leave-one-out SR has a validation
    item wherever it has a test one.)"""
    path = write(tmp_path, many(200, per_user=2, items=40))
    with pytest.raises(DataError, match=r'holds no validation interactions'
                       r'.*the epoch cannot be chosen on validation'):
        load_data(cfg(path))
    on_test = Config.build(cfg(path).to_dict(),
                           {'train': {'select_on': 'test'}})
    assert load_data(on_test).statistics['evaluated_users']['val'][
        'evaluated'] == 0


def test_fewer_items_than_the_cut_off_is_refused(tmp_path):
    path = write(tmp_path, many(20, per_user=10, items=10))
    with pytest.raises(DataError, match='has 10 items, fewer than the '
                       'cut-off 20'):
        build_task(cfg(path), load_data(cfg(path)), 'cpu')


@pytest.mark.parametrize('task,val_why,test_why', [
    ('cf', '2 or fewer interactions, no val item',
     'a single interaction, no test item'),
    ('sr', '2 or fewer interactions, no val item',
     '2 or fewer interactions, no test item'),
])
def test_users_left_out_are_counted_with_the_reason(tmp_path, task, val_why,
                                                    test_why):
    rows = many(20) + [(f'v{u}', f'i{u}') for u in range(30)]
    # 2 interactions: no target in SR, no validation item in CF:
    rows += [('w0', 'i1'), ('w0', 'i2')]
    stats = load_data(cfg(write(tmp_path, rows), task)).statistics
    covered = stats['evaluated_users']
    assert covered['users'] == 51
    left = 31 if task == 'sr' else 30
    assert covered['test'] == {'evaluated': 51 - left, 'left_out': left,
                               'why': test_why}
    assert covered['val']['why'] == val_why


def test_evaluated_users_counts_each_user_once():
    import torch
    counts = torch.tensor([3, 1, 4, 0])
    out = evaluated_users(4, {'test': torch.tensor([0, 0, 2])}, counts)
    assert out == {'users': 4, 'test': {
        'evaluated': 2, 'left_out': 2,
        'why': 'a single interaction, no test item'}}
    out = evaluated_users(4, {'test': torch.tensor([0])}, counts,
                          published=True)
    assert out['test']['why'] == 'no test interaction in the published split'
