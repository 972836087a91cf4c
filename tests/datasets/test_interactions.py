import pytest
import torch

from adar_pyg.datasets import (DatasetFormatError, DatasetFormatWarning,
                               read_interactions, split_views)


def write(tmp_path, text, name='train.txt'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_triplets(tmp_path):
    path = write(tmp_path, '0 3 1\n2 1 1\n\n0 3 1\n1 0 1.0\n')
    pairs, dup, skipped = read_interactions(path, 'triplets')
    assert pairs.tolist() == [[0, 1, 2], [3, 0, 1]]
    assert pairs.dtype == torch.long and dup == 1 and skipped == []


def test_lists(tmp_path):
    path = write(tmp_path, '0 0 3 5\n1 2\n2 1 1 4\n3\n')
    pairs, dup, _ = read_interactions(path)
    assert pairs.tolist() == [[0, 0, 0, 1, 2, 2], [0, 3, 5, 2, 1, 4]]
    assert dup == 1


# The first two lines of the published ood-yelp2018/train.txt:
MALFORMED = '0\n0 1\n0 1631 1\n0 5 1\n'


def test_malformed_lines_raise_by_default(tmp_path):
    path = write(tmp_path, MALFORMED)
    with pytest.raises(DatasetFormatError,
                       match=r"^train.txt:1: expected 3 fields 'user item "
                       r"rating', got 1$"):
        read_interactions(path, 'triplets')


def test_malformed_lines_skipped_with_a_warning(tmp_path):
    path = write(tmp_path, MALFORMED)
    with pytest.warns(DatasetFormatWarning) as record:
        pairs, _, skipped = read_interactions(path, 'triplets',
                                              on_malformed='skip',
                                              name='ood/train.txt')
    assert len(record) == 1
    message = str(record[0].message)
    assert "Skipped 2 malformed line(s) of 'ood/train.txt'" in message
    assert "ood/train.txt:1: expected 3 fields 'user item rating', got 1" in (
        message)
    assert "ood/train.txt:2: expected 3 fields 'user item rating', got 2" in (
        message)
    assert skipped == [
        "ood/train.txt:1: expected 3 fields 'user item rating', got 1",
        "ood/train.txt:2: expected 3 fields 'user item rating', got 2",
    ]
    # Never misparsed: "0 1" is not read as the pair (0, 1).
    assert pairs.tolist() == [[0, 0], [5, 1631]]


@pytest.mark.parametrize('line,problem', [
    ('0 x 1', "token 'x' is not an integer"),
    ('-1 2 1', 'ids must be >= 0'),
    ('0 2 0', "rating '0' is not a positive number"),
    ('0 2 yes', "rating 'yes' is not a positive number"),
    ('0 2 1 7', 'expected 3 fields'),
])
def test_malformed_triplets(tmp_path, line, problem):
    path = write(tmp_path, f'0 1 1\n{line}\n')
    with pytest.raises(DatasetFormatError, match=f'^train.txt:2: {problem}'):
        read_interactions(path, 'triplets')
    with pytest.warns(DatasetFormatWarning, match=f'train.txt:2: {problem}'):
        pairs, _, _ = read_interactions(path, 'triplets', 'skip')
    assert pairs.tolist() == [[0], [1]]


def test_too_many_malformed_lines(tmp_path):
    # A list-format file read as triplets: most lines are malformed, and the
    # three-field ones would be misparsed, so it is an error all the same.
    path = write(tmp_path, '0 1 2 3\n1 4 5\n2 6\n3 7 8 9\n4 1\n')
    with pytest.raises(DatasetFormatError,
                       match=r"train.txt:4: .*more than max_skipped=2 .*"
                       r"'triplets' format"):
        read_interactions(path, 'triplets', 'skip', max_skipped=2)


def test_bad_arguments(tmp_path):
    path = write(tmp_path, '0 1 1\n')
    with pytest.raises(ValueError, match='Unknown line format'):
        read_interactions(path, 'csv')
    with pytest.raises(ValueError, match='Unknown policy'):
        read_interactions(path, 'triplets', 'ignore')


def test_split_views():
    train = torch.tensor([[0, 1], [2, 0]])
    test = torch.tensor([[1], [1]])
    views = split_views(2, 3, train, {'train': train, 'test': test})
    E = ('user', 'rates', 'item')
    assert views['test']['user'].num_nodes == 2
    assert views['test']['item'].num_nodes == 3
    assert torch.equal(views['test'][E].edge_index, train)
    assert torch.equal(views['test'][E].edge_label_index, test)
    assert torch.equal(views['train']['item', 'rated_by', 'user'].edge_index,
                       train.flip(0))
