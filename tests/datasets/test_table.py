import gzip
import importlib.util
import json
import os
import random

import pandas as pd
import pytest
import torch

from adar_pyg.datasets import (
    DatasetFormatError,
    read_interactions_table,
    read_s3rec,
)
from adar_pyg.errors import DataError
from adar_pyg.transforms import PerUserRandomSplit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

E = ('user', 'rates', 'item')
R = ('item', 'rated_by', 'user')

HAS_PARQUET = any(
    importlib.util.find_spec(m) is not None
    for m in ('pyarrow', 'fastparquet'))

# Bob comes first in the file but 'alice' < 'bob'; alice's times tie at 5:
CSV = ('user,item,timestamp,rating\n'
       'bob,x,30,5\n'
       'alice,y,5,4\n'
       'bob,z,10,3.5\n'
       'alice,x,5,2\n'
       'alice,z,1,4\n')


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def edges(data):
    return data[E].edge_index.tolist()


def test_string_ids_and_time_order(tmp_path):
    data = read_interactions_table(write(tmp_path, 'log.csv', CSV))
    assert data['user'].num_nodes == 2 and data['item'].num_nodes == 3
    assert data['user'].raw_id == ['alice', 'bob']
    assert data['item'].raw_id == ['x', 'y', 'z']
    # alice: z (1), then y and x tie at 5 and keep file order; bob: z, x.
    assert edges(data) == [[0, 0, 0, 1, 1], [2, 1, 0, 2, 0]]
    assert data[E].time.tolist() == [0, 1, 2, 0, 1]
    assert data[E].edge_index.dtype == torch.long
    assert data[E].time.dtype == torch.long
    assert torch.equal(data[R].edge_index, data[E].edge_index.flip([0]))
    # The mappings can be saved as JSON as lists:
    raw = json.loads(json.dumps([data['user'].raw_id.tolist(),
                                 data['item'].raw_id.tolist()]))
    assert raw == [['alice', 'bob'], ['x', 'y', 'z']]


def test_int_ids(tmp_path):
    path = write(tmp_path, 'log.csv', 'user,item\n10,3\n9,100\n10,20\n')
    data = read_interactions_table(path)
    assert data['user'].raw_id == [9, 10]  # Numerically sorted.
    assert data['item'].raw_id == [3, 20, 100]
    assert all(type(i) is int for i in data['item'].raw_id)
    assert edges(data) == [[0, 1, 1], [2, 0, 1]]  # No time: file order.
    assert data[E].time.tolist() == [0, 0, 1]

    # Ids written in another form stay strings, so '7' and '007' differ:
    path = write(tmp_path, 'zeros.csv', 'user,item\n007,1\n7,1\n')
    data = read_interactions_table(path)
    assert data['user'].raw_id == ['007', '7']


def test_no_time_column_keeps_file_order(tmp_path):
    path = write(tmp_path, 'log.csv', 'item,user\nc,u2\nb,u1\na,u2\nd,u1\n')
    data = read_interactions_table(path)
    assert data['item'].raw_id == ['a', 'b', 'c', 'd']
    assert edges(data) == [[0, 0, 1, 1], [1, 3, 2, 0]]

    # `time_col=None` ignores a time column:
    data = read_interactions_table(write(tmp_path, 'log2.csv', CSV),
                                   time_col=None)
    assert edges(data) == [[0, 0, 0, 1, 1], [1, 0, 2, 0, 2]]


def test_dates_as_time(tmp_path):
    path = write(
        tmp_path, 'log.csv', 'user,item,date\n'
        'u,a,2016-03-09 17:05:00\n'
        'u,b,2016-03-08\n'
        'u,c,2016-03-09T17:00:00-01:00\n')  # 18:00 UTC.
    data = read_interactions_table(path, time_col='date')
    assert edges(data) == [[0, 0, 0], [1, 0, 2]]


@pytest.mark.parametrize('name,sep', [
    ('log.tsv', None),
    ('log.txt', None),
    ('log.dat', '\t'),
    ('log.csv', '\t'),
])
def test_tab_separated(tmp_path, name, sep):
    path = write(tmp_path, name, CSV.replace(',', '\t'))
    data = read_interactions_table(path, sep=sep)
    expected = read_interactions_table(write(tmp_path, 'ref.csv', CSV))
    assert edges(data) == edges(expected)
    assert data['user'].raw_id == expected['user'].raw_id


def test_gzip_and_blank_lines(tmp_path):
    path = tmp_path / 'log.csv.gz'
    with gzip.open(path, 'wt') as f:
        f.write(CSV.replace('alice,x', '\nalice,x') + '\n\n')
    data = read_interactions_table(str(path))
    expected = read_interactions_table(write(tmp_path, 'ref.csv', CSV))
    assert edges(data) == edges(expected)


@pytest.mark.skipif(not HAS_PARQUET, reason='pyarrow/fastparquet missing')
@pytest.mark.parametrize('ext', ['parquet', 'pq'])
def test_parquet_round_trip(tmp_path, ext):
    df = pd.read_csv(write(tmp_path, 'log.csv', CSV))
    df.to_parquet(tmp_path / f'log.{ext}')
    data = read_interactions_table(str(tmp_path / f'log.{ext}'))
    expected = read_interactions_table(str(tmp_path / 'log.csv'))
    assert edges(data) == edges(expected)
    assert data[E].time.tolist() == expected[E].time.tolist()
    assert data['user'].raw_id == expected['user'].raw_id


def test_parquet_is_read_with_pandas(tmp_path, monkeypatch):
    # Runs without a Parquet engine: `pd.read_parquet` is replaced.
    df = pd.DataFrame({
        'user': [2, 1, 2],
        'item': ['b', 'a', 'a'],
        'timestamp': [2.0, float('nan'), 1.0],
    })
    path = write(tmp_path, 'log.parquet', '')
    monkeypatch.setattr(pd, 'read_parquet', lambda p: df.copy())
    with pytest.raises(DatasetFormatError,
                       match=r"log.parquet: row 2: missing time"):
        read_interactions_table(path)
    df.loc[1, 'timestamp'] = 0.0
    data = read_interactions_table(path)
    assert data['user'].raw_id == [1, 2]
    assert edges(data) == [[0, 1, 1], [0, 0, 1]]

    def no_engine(p):
        raise ImportError('Unable to find a usable engine')

    monkeypatch.setattr(pd, 'read_parquet', no_engine)
    with pytest.raises(ImportError, match=r"'log.parquet' needs 'pyarrow'"
                       ) as e:
        read_interactions_table(path)
    # One line and the fix (the extra of pyproject.toml), exit code 3:
    assert isinstance(e.value, DataError) and '\n' not in str(e.value)
    assert "pip install -e '.[parquet]'" in e.value.hint
    with open(os.path.join(ROOT, 'pyproject.toml')) as f:
        assert 'parquet = ["pyarrow"]' in f.read()


@pytest.mark.parametrize('name,text,sep', [
    ('log.csv', CSV.replace(',', '\t'), None),
    ('log.csv', CSV.replace(',', ';'), None),
    ('log.tsv', CSV, None),
    ('log.json', CSV, None),
    ('log.dat', CSV, '|'),
])
def test_a_wrong_separator_names_what_reads_the_file(tmp_path, name, text,
                                                     sep):
    # The command has no 'sep': the hint names the extensions (a caller
    # that passed sep is shown it).
    path = write(tmp_path, name, text)
    with pytest.raises(DatasetFormatError) as e:
        read_interactions_table(path, sep=sep)
    message = str(e.value)
    assert "'sep'" not in message
    if sep is None:
        assert e.value.hint == ("'.csv' files are read comma-separated, "
                                "'.tsv' and '.txt' files tab-separated: save "
                                "or rename the file to match")
    else:
        assert message.endswith("is the separator right (sep='|')?")
        assert e.value.hint is None


def test_rating_filter(tmp_path):
    path = write(tmp_path, 'log.csv', CSV)
    data = read_interactions_table(path, rating_col='rating', min_rating=4)
    # alice,x (2) and bob,z (3.5) are dropped:
    assert data['item'].raw_id == ['x', 'y', 'z']
    assert edges(data) == [[0, 0, 1], [2, 1, 0]]

    data = read_interactions_table(path, rating_col='rating', min_rating=5)
    assert data['user'].raw_id == ['bob'] and data['item'].raw_id == ['x']


def naive_k_core(rows, k):
    rows = list(rows)
    while True:
        users = [u for u, _ in rows]
        items = [i for _, i in rows]
        kept = [(u, i) for u, i in rows
                if users.count(u) >= k and items.count(i) >= k]
        if len(kept) == len(rows):
            return rows
        rows = kept


@pytest.mark.parametrize('k', [1, 2, 3, 4])
def test_k_core(tmp_path, k):
    rng = random.Random(k)
    rows = [(f'u{rng.randrange(12)}', rng.randrange(15)) for _ in range(90)]
    text = 'user,item\n' + ''.join(f'{u},{i}\n' for u, i in rows)
    path = write(tmp_path, 'log.csv', text)

    expected = naive_k_core(rows, k)
    assert len(expected) > 0
    data = read_interactions_table(path, k_core=k)
    users, items = data['user'].raw_id, data['item'].raw_id
    assert users == sorted({u for u, _ in expected})  # Remapped after.
    assert items == sorted({i for _, i in expected})
    got = [(users[u], items[i]) for u, i in zip(*edges(data))]
    # Same interactions, in file order per user (no time column):
    assert got == sorted(expected, key=lambda r: users.index(r[0]))


def test_repeated_pairs_are_kept(tmp_path):
    path = write(tmp_path, 'log.csv',
                 'user,item,timestamp\na,x,3\na,y,2\na,x,1\nb,x,1\nb,x,1\n')
    data = read_interactions_table(path)
    assert edges(data) == [[0, 0, 0, 1, 1], [0, 1, 0, 0, 0]]
    assert data[E].time.tolist() == [0, 1, 2, 0, 1]

    # The CF split de-duplicates them, as for Yelp:
    splits = PerUserRandomSplit(test_ratio=0.5, val_ratio=0.0)(data)
    for split in splits:
        assert split.num_duplicates_removed == 2
    labels = torch.cat([s[E].edge_label_index for s in splits], dim=1)
    assert sorted(map(tuple, labels.t().tolist())) == [(0, 0), (0, 1),
                                                       (1, 0)]


def test_same_form_as_built_in_datasets(tmp_path):
    data = read_interactions_table(write(tmp_path, 'log.csv', CSV))
    ref = read_s3rec(write(tmp_path, 'Tiny.txt', '2 3 1\n1 4 2 4\n3 5\n'))
    assert data.node_types == ref.node_types
    assert data.edge_types == ref.edge_types
    for key in ref.node_types:
        assert set(data[key].keys()) == set(ref[key].keys()) | {'raw_id'}
    for key in ref.edge_types:
        assert set(data[key].keys()) == set(ref[key].keys())
        for attr in ref[key].keys():
            assert data[key][attr].dtype == ref[key][attr].dtype
    assert set(data.keys()) == set(ref.keys()) | {
        'raw_id', 'file_order', 'repeated_rows'}  # (own data: how it was read)

    train, val, test = PerUserRandomSplit(test_ratio=0.5,
                                          val_ratio=0.0)(data)
    assert train[E].edge_index.size(1) + test[E].edge_label_index.size(1) \
        == data[E].edge_index.size(1)
    assert train['user'].raw_id == ['alice', 'bob']


@pytest.mark.parametrize('name,text,kwargs,error,match', [
    ('log.csv', '', {}, DatasetFormatError, r'log.csv:1: the file is empty'),
    ('log.csv', 'user,item\n\n', {}, DatasetFormatError,
     r'log.csv:1: no rows after the header'),
    ('log.csv', 'usr,itm,timestamp\n1,2,3\n', {}, DatasetFormatError,
     r"log.csv:1: missing column\(s\) 'user', 'item' \(the file has the "
     r"columns 'usr', 'itm', 'timestamp'\); did you mean 'usr' for 'user'"),
    ('log.csv', 'UserID,ItemID\n1,2\n', {}, DatasetFormatError,
     r"did you mean 'UserID' for 'user'\? did you mean 'ItemID'"),
    ('log.csv', 'user\titem\n1\t2\n', {}, DatasetFormatError,
     r"log.csv:1: missing .* is the separator right"),
    ('log.csv', '1,2\n3,4\n', {}, DatasetFormatError,
     r"log.csv:1: missing .* does the file have one"),
    ('log.csv', CSV, dict(time_col='time'), DatasetFormatError,
     r"log.csv:1: missing column\(s\) 'time' .* did you mean 'timestamp'"),
    ('log.csv', CSV, dict(rating_col='stars'), DatasetFormatError,
     r"log.csv:1: missing column\(s\) 'stars'"),
    ('log.csv', 'user,user,item\n1,2,3\n', {}, DatasetFormatError,
     r"log.csv:1: column\(s\) 'user' appear more than once"),
    ('log.csv', 'user,item\n1,2\n,3\n4,\n', {}, DatasetFormatError,
     r"log.csv:3: missing value in column 'user'"),
    ('log.csv', 'user,item\n1,2\n\n4,\n', {}, DatasetFormatError,
     r"log.csv:4: missing value in column 'item'"),
    ('log.csv', 'user,item\n1,2\n3\n', {}, DatasetFormatError,
     r"log.csv:3: missing value in column 'item'"),
    ('log.csv', 'user,item\n1,2\n3,4,5\n', {}, DatasetFormatError,
     r'log.csv:3: could not be parsed .* Expected 2 fields'),
    ('log.csv', 'user,item,timestamp\n1,2,3\n1,3,soon\n1,4,x\n', {},
     DatasetFormatError, r"log.csv:3: time 'soon' is not a number \(column "
     r"'timestamp'\) \(and 1 more row\(s\)\)"),
    ('log.csv', 'user,item,timestamp\n1,2,2020-01-01\n1,3,soon\n', {},
     DatasetFormatError, r"log.csv:3: time 'soon' is not a date"),
    ('log.csv', 'user,item,timestamp\n1,2,3\n1,3,\n', {}, DatasetFormatError,
     r"log.csv:3: missing time"),
    ('log.csv', 'user,item,timestamp\n1,2,3\n1,3,inf\n1,4,-inf\n', {},
     DatasetFormatError, r"log.csv:3: time 'inf' is not finite \(column "
     r"'timestamp'\) \(and 1 more row\(s\)\)"),
    ('log.csv', 'user,item,timestamp\n1,2,Infinity\n', {},
     DatasetFormatError, r"log.csv:2: time 'Infinity' is not finite"),
    ('log.csv', 'user,item,timestamp\n1,2,1e999\n', {},
     DatasetFormatError, r"log.csv:2: time '1e999' is not finite"),
    ('log.csv', 'user,item,timestamp\n1,2,2020-01-01\n1,3,1010\n', {},
     DatasetFormatError, r"log.csv:3: time '1010' is a number, but the "
     r"column holds dates like the first row's '2020-01-01' \(a time "
     r"column is all numbers or all dates\) \(column 'timestamp'\)$"),
    ('log.csv', 'user,item,t\n1,2,2020-01-01\n1,3,2020-01-02 10:00\n'
     '1,4,soon\n1,5,20200101\n', dict(time_col='t'), DatasetFormatError,
     r"log.csv:4: time 'soon' is not a date .* \(column 't'\) \(and 1 more"),
    ('log.csv', 'user,item,t\n1,2,2020-01-01\n1,3,2020-01-02\n'
     '1,4,20200101\n', dict(time_col='t'), DatasetFormatError,
     r"log.csv:4: time '20200101' is a number, but the column holds dates"),
    ('log.csv', 'user,item,timestamp\n1,2,1010\n1,3,2020-01-01\n', {},
     DatasetFormatError, r"log.csv:3: time '2020-01-01' is not a number"),
    ('log.tsv', 'user\titem\tstars\n1\t2\t5\n1\t3\tgood\n',
     dict(rating_col='stars', min_rating=4), DatasetFormatError,
     r"log.tsv:3: rating 'good' is not a number \(column 'stars'\)"),
    ('log.csv', CSV, dict(rating_col='rating', min_rating=6),
     DatasetFormatError,
     r"No interactions of 'log.csv' are left after filtering"),
    ('log.csv', CSV, dict(k_core=3), DatasetFormatError,
     r"No interactions of 'log.csv' are left .* k_core=3"),
    ('log.csv', CSV, dict(min_rating=4), ValueError,
     r"'min_rating=4' needs 'rating_col'"),
    ('log.csv', CSV, dict(k_core=-1), ValueError, r"'k_core' must be"),
    ('log.csv', CSV, dict(item_col='user'), ValueError,
     r'must name different columns'),
    ('log.json', CSV, {}, DatasetFormatError,
     r"Unknown format of 'log.json'"),
])
def test_bad_input(tmp_path, name, text, kwargs, error, match):
    path = write(tmp_path, name, text)
    with pytest.raises(error, match=match):
        read_interactions_table(path, **kwargs)


@pytest.mark.parametrize('name,opener', [('log.csv', open),
                                          ('log.csv.gz', gzip.open)])
def test_not_utf8_names_the_line(tmp_path, name, opener):
    with opener(tmp_path / name, 'wb') as f:
        f.write(b'user,item\nu1,i1\nu2,i2\nu3,caf\xe9\nu4,i4\n')
    with pytest.raises(DatasetFormatError,
                       match=rf'{name}:4: not valid UTF-8 \(byte 0xe9 at '
                       r'column 7\)') as e:
        read_interactions_table(str(tmp_path / name))
    assert e.value.hint == 'save the file as UTF-8'


@pytest.mark.parametrize('ext', ['.gz', '.bz2', '.xz', '.zip'])
def test_compressed_file_named_as_text(tmp_path, ext):
    r"""A compressed file named as text (".csv") says so, not a parse error
    at some line; named by its format, it is read."""
    import bz2
    import lzma
    import zipfile
    body = CSV.encode()
    path = tmp_path / 'log.csv'
    if ext == '.zip':
        with zipfile.ZipFile(path, 'w') as z:
            z.writestr('log.csv', body)
    else:
        path.write_bytes({'.gz': gzip.compress, '.bz2': bz2.compress,
                          '.xz': lzma.compress}[ext](body))
    with pytest.raises(DatasetFormatError,
                       match=rf"log.csv: a compressed \('\{ext}'\) file"
                       r"( or an Excel workbook)?, not the text its "
                       r"extension says") as e:
        read_interactions_table(str(path))
    assert e.value.hint.startswith(
        f"name it by its format (e.g. 'log.csv{ext}')")
    path.rename(tmp_path / f'log.csv{ext}')
    expected = read_interactions_table(write(tmp_path, 'plain.csv', CSV))
    got = read_interactions_table(str(tmp_path / f'log.csv{ext}'))
    assert edges(got) == edges(expected)


def test_text_that_begins_as_a_binary_format_is_text(tmp_path):
    r"""Only a format's whole signature counts: a header that begins with
    "BZh" or "PAR1" is a header."""
    for header in ('BZh,item\n', 'PAR1,item\n'):
        path = write(tmp_path, 'log.csv', header + 'u,i\n')
        data = read_interactions_table(path, user_col=header.split(',')[0])
        assert edges(data) == [[0], [0]]
    (tmp_path / 'log.csv').write_bytes(b'PAR1' + bytes(range(40)) + b'PAR1')
    with pytest.raises(DatasetFormatError, match=r"log.csv: a Parquet file, "
                       r"not the text its extension says"):
        read_interactions_table(str(tmp_path / 'log.csv'))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nothing.csv') as e:
        read_interactions_table(str(tmp_path / 'nothing.csv'))
    assert isinstance(e.value, DataError) and e.value.hint
    with pytest.raises(DataError, match=r'is a directory'):
        read_interactions_table(str(tmp_path))


def test_order_and_repeated_rows_are_recorded(tmp_path):
    path = tmp_path / 'r.csv'
    path.write_text('user,item,timestamp\na,x,1\na,y,2\na,x,1\nb,x,5\n'
                    'b,x,6\n')
    data = read_interactions_table(str(path))
    assert not data.file_order and data.repeated_rows == 1  # (a, x, 1)
    path.write_text('user,item,when\na,x,1\na,x,1\n')
    data = read_interactions_table(str(path))
    assert data.file_order and data.repeated_rows == 0  # (no time: unknown)
