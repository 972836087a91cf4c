import difflib
import lzma
import os.path as osp
import re
import zipfile
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, \
    Tuple, Union

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from torch_geometric.data import HeteroData

from adar_pyg.datasets.interactions import EDGE_TYPE, REV_EDGE_TYPE
from adar_pyg.datasets.utils import DatasetFormatError
from adar_pyg.errors import DataError

#: The default :obj:`time_col`; a file without this column keeps file order.
DEFAULT_TIME_COL = 'timestamp'

#: File extensions, after stripping a compression suffix, and their formats.
TEXT_SEPARATORS = {'.csv': ',', '.tsv': '\t', '.txt': '\t'}
#: The hint for a text file of another separator or extension.
TEXT_HINT = ("'.csv' files are read comma-separated, '.tsv' and '.txt' files "
             "tab-separated: save or rename the file to match")
PARQUET_EXTENSIONS = ('.parquet', '.pq')
COMPRESSION_EXTENSIONS = ('.gz', '.bz2', '.xz', '.zip', '.zst')
#: The first bytes of the binary formats a text file may turn out to be
#: (by the extension of each compression, as :func:`pandas.read_csv`
#: infers it, or a format's name).
MAGIC = {b'\x1f\x8b': '.gz', b'\xfd7zXZ\x00': '.xz',
         b'PK\x03\x04': '.zip', b'\x28\xb5\x2f\xfd': '.zst'}
#: Bzip2's (after 'BZh' and the block size): text does not begin so.
BZIP2 = re.compile(rb'BZh[1-9]1AY&SY')


class DataFileNotFoundError(DataError, FileNotFoundError):
    r"""Raised when the file of interactions does not exist (a
    :class:`FileNotFoundError` too)."""


class ParquetEngineError(DataError, ImportError):
    r"""Raised when a Parquet file is read without an engine for it
    (:obj:`pyarrow` or :obj:`fastparquet`) installed."""


class RawIds:
    r"""The original ids of the nodes of one type in index order, as
    :func:`read_interactions_table` stores them in
    :obj:`data[node_type].raw_id`: :obj:`ids[i]` is the raw id
    (:obj:`int`, :obj:`float` or :obj:`str`) of node :obj:`i`.

    A read-only sequence rather than a :class:`list`: PyG's loaders
    (:class:`~torch_geometric.loader.NeighborLoader`,
    :class:`~torch_geometric.loader.LinkNeighborLoader`) slice every
    node-level list, array or tensor of a graph and fail on a list of
    strings, but pass this mapping to each batch whole (as they do any
    other object), where :obj:`batch['user'].raw_id[batch['user'].n_id]`
    are the raw ids of the batch's users (:meth:`HeteroData.subgraph`
    keeps them whole too). :meth:`tolist` gives the ids as a list (*e.g.*,
    to save them as JSON, or a graph for :obj:`torch.load(...,
    weights_only=True)`); :obj:`==` compares them with a list. An index
    may be a boolean mask.

    Args:
        ids (Iterable): The raw ids in index order.
    """
    __slots__ = ('_ids', '_positions')

    def __init__(self, ids: Iterable[Any]) -> None:
        self._ids = list(ids)
        self._positions: Optional[Dict[Any, int]] = None

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._ids)

    def __getitem__(self, index: Union[int, slice, Tensor, np.ndarray,
                                       List[int]]) -> Any:
        r"""The raw id of a node (an :obj:`int` index), or the list of
        those of several nodes (a slice, a list, or a 1-dimensional index
        tensor or array such as :obj:`n_id`)."""
        if isinstance(index, (Tensor, np.ndarray)):
            if index.dtype in (torch.bool, np.bool_):  # A mask:
                if len(index) != len(self._ids):
                    raise IndexError(f'a mask of {len(index)} for '
                                     f'{len(self._ids)} ids')
                index = index.nonzero()[0] if isinstance(
                    index, np.ndarray) else index.nonzero().view(-1)
            index = index.tolist()
        if isinstance(index, slice):
            return self._ids[index]
        if isinstance(index, (list, tuple)):
            return [self._ids[i] for i in index]
        return self._ids[index]

    def tolist(self) -> List[Any]:
        r"""The raw ids as a new :class:`list`."""
        return list(self._ids)

    def index(self, raw_id: Any) -> int:
        r"""The index of the node of raw id :obj:`raw_id` (a
        :class:`ValueError` if there is none)."""
        if self._positions is None:
            self._positions = {v: i for i, v in enumerate(self._ids)}
        try:
            return self._positions[raw_id]
        except (KeyError, TypeError):
            raise ValueError(f'{raw_id!r} is not a raw id') from None

    def count(self, raw_id: Any) -> int:
        r"""How many nodes have the raw id :obj:`raw_id` (0 or 1)."""
        return int(raw_id in self)

    def __contains__(self, raw_id: Any) -> bool:
        try:
            self.index(raw_id)
        except ValueError:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawIds):
            return self._ids == other._ids
        if isinstance(other, (list, tuple)):
            return self._ids == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore  # (mutable contents, like a list)

    def __getstate__(self) -> List[Any]:
        return self._ids

    def __setstate__(self, state: List[Any]) -> None:
        self._ids, self._positions = state, None

    def __repr__(self) -> str:
        head = ', '.join(repr(v) for v in self._ids[:3])
        more = f', ...], len={len(self)}' if len(self) > 3 else ']'
        return f'{self.__class__.__name__}([{head}{more})'


# A canonically written integer (no leading zeros or plus sign):
_INT_PATTERN = re.compile(r'-?(0|[1-9][0-9]*)')


def read_interactions_table(
    path: str,
    user_col: str = 'user',
    item_col: str = 'item',
    time_col: Optional[str] = DEFAULT_TIME_COL,
    rating_col: Optional[str] = None,
    min_rating: Optional[float] = None,
    k_core: int = 0,
    sep: Optional[str] = None,
) -> HeteroData:
    r"""Reads a table of (user, item) interactions, one row per interaction,
    from a CSV, TSV or Parquet file into a
    :class:`~torch_geometric.data.HeteroData` object of the same form as the
    built-in datasets (see :func:`~adar_pyg.datasets.read_s3rec`), so that
    one's own data runs through the same splits and models.

    The format follows the file extension (a compression suffix such as
    :obj:`.gz` is stripped first and handled by :mod:`pandas`):
    :obj:`.csv` (comma-separated), :obj:`.tsv` and :obj:`.txt`
    (tab-separated), :obj:`.parquet` and :obj:`.pq` (Parquet, which needs
    :obj:`pyarrow` or :obj:`fastparquet`).
    :obj:`sep` overrides the separator of text files, and a file with another
    extension is read as a text file if :obj:`sep` is given.
    The first line of a text file is its header; blank lines are skipped.

    Rows are processed in this order:

    1. If :obj:`min_rating` is set, rows with a rating smaller than
       :obj:`min_rating` are dropped.
    2. If :obj:`k_core > 0`, rows are dropped until every remaining user and
       item has at least :obj:`k_core` interactions (the iterative
       :math:`k`-core: users and items below the threshold are removed
       repeatedly until none is left). Every row counts as one interaction,
       including repeated (user, item) pairs.
    3. The remaining raw user and item ids, of any type (integers, strings),
       are mapped to contiguous 0-based indices in the order of the sorted
       unique raw ids (numerically for integer ids, lexicographically for
       string ids), so that the mapping depends on nothing else than the
       remaining ids. Integer ids in a text file are read as integers unless
       one of them is written in another form (*e.g.*, :obj:`"007"`), in
       which case all of them are kept as strings.
    4. Rows are sorted by user and, within a user, by time (a stable sort, so
       that ties keep file order). Without a time column, each user's rows
       keep file order.

    The returned graph holds :obj:`data['user'].num_nodes` and
    :obj:`data['item'].num_nodes`, the edge type
    :obj:`('user', 'rates', 'item')` with a 0-based :obj:`edge_index`
    ordered by user and, within a user, chronologically, and :obj:`time`,
    the position of each interaction within its user's sequence
    (:obj:`0, 1, 2, ...`, as a :obj:`torch.long` tensor; the raw timestamps
    only define the order), as well as the reverse edge type
    :obj:`('item', 'rated_by', 'user')`.
    The id mappings are stored in :obj:`data['user'].raw_id` and
    :obj:`data['item'].raw_id`: the raw ids (:obj:`int`, :obj:`float` or
    :obj:`str`) in index order as :class:`RawIds`, *i.e.*,
    :obj:`data['user'].raw_id[i]` is the raw id of user :obj:`i`;
    :meth:`RawIds.tolist` gives them as a list that can be saved as JSON.
    They are no node-level feature of PyG's loaders: a
    :class:`~torch_geometric.loader.LinkNeighborLoader` or
    :class:`~torch_geometric.loader.NeighborLoader` batch holds them whole,
    and :obj:`batch['user'].raw_id[batch['user'].n_id]` are the raw ids of
    its users.

    The graph-level :obj:`data.file_order` says whether the sequences are
    in file order (no time column), and :obj:`data.repeated_rows`
    counts the rows equal to an earlier one in user, item and time (kept;
    often a data error).

    Repeated (user, item) pairs are all kept, in time order, as sequential
    recommendation needs the full sequences (as for
    :class:`~adar_pyg.datasets.Yelp`); the collaborative filtering split
    :class:`~adar_pyg.transforms.PerUserRandomSplit` de-duplicates them by
    default, keeping the first occurrence of each pair.

    .. code-block:: python

        from adar_pyg.datasets import read_interactions_table
        from adar_pyg.transforms import PerUserRandomSplit

        data = read_interactions_table('ratings.csv', user_col='userId',
                                       item_col='movieId', min_rating=4,
                                       rating_col='rating', k_core=5)
        train_data, val_data, test_data = PerUserRandomSplit()(data)

    Args:
        path (str): The file to read.
        user_col (str, optional): The column of user ids.
            (default: :obj:`'user'`)
        item_col (str, optional): The column of item ids.
            (default: :obj:`'item'`)
        time_col (str, optional): The column of timestamps: numbers (*e.g.*,
            Unix time) or dates and times in ISO 8601 form (*e.g.*,
            :obj:`"2016-03-09 17:05:00"`). If the file has no such column and
            :obj:`time_col` is left at its default :obj:`'timestamp'`, rows
            keep file order; a column named otherwise must exist. If set to
            :obj:`None`, any time column is ignored.
            (default: :obj:`'timestamp'`)
        rating_col (str, optional): The column of numeric ratings, required
            by :obj:`min_rating`. (default: :obj:`None`)
        min_rating (float, optional): If set, only rows with a rating of at
            least :obj:`min_rating` are kept. (default: :obj:`None`)
        k_core (int, optional): If set to a value :math:`k > 0`, only the
            :math:`k`-core is kept: users and items with at least :math:`k`
            interactions. (default: :obj:`0`)
        sep (str, optional): The separator of a text file. If set to
            :obj:`None`, will be :obj:`','` for :obj:`.csv` files and
            :obj:`'\t'` for :obj:`.tsv` and :obj:`.txt` files.
            (default: :obj:`None`)

    Raises:
        DataFileNotFoundError: If :obj:`path` is no file (a
            :class:`FileNotFoundError` too).
        DatasetFormatError: On an empty file, missing columns (the message
            lists the columns present and suggests the nearest ones), a
            missing user or item id, a missing or malformed time or rating, or
            a file that :mod:`pandas` cannot parse. Row-level messages read
            :obj:`"<file name>:<line number>: <what is wrong>"` (the header
            is line :obj:`1`; for Parquet files,
            :obj:`"<file name>: row <row number>: ..."`, 1-based).
        ParquetEngineError: On a Parquet file without :obj:`pyarrow` or
            :obj:`fastparquet` installed (an :class:`ImportError` too).
        ValueError: On invalid arguments, or if no interaction is left after
            filtering.
    """
    path = str(path)
    name = osp.basename(path)
    if k_core < 0 or int(k_core) != k_core:
        raise ValueError(f"'k_core' must be an integer >= 0 (got {k_core})")
    if min_rating is not None and rating_col is None:
        raise ValueError(f"'min_rating={min_rating}' needs 'rating_col', the "
                         f"column of ratings in '{name}'")
    if shared_columns(user_col=user_col, item_col=item_col,
                      time_col=time_col, rating_col=rating_col):
        raise ValueError(f"'user_col', 'item_col', 'time_col' and "
                         f"'rating_col' must name different columns (got "
                         f"{user_col!r}, {item_col!r}, {time_col!r}, "
                         f"{rating_col!r})")
    if not osp.isfile(path):
        what = 'is a directory' if osp.isdir(path) else 'does not exist'
        raise DataFileNotFoundError(
            f"Interactions file '{path}' {what}",
            hint='pass the path of a CSV, TSV or Parquet file')

    df, is_text = _read_table(path, name, sep)
    where = _locator(name, is_text, df.index.to_numpy())

    # Check the columns:
    columns = [str(c) for c in df.columns]
    df.columns = columns
    if time_col == DEFAULT_TIME_COL and time_col not in columns:
        time_col = None  # The default, absent: keep file order.
    required = [c for c in (user_col, item_col, time_col, rating_col) if c]
    missing = [c for c in required if c not in columns]
    if missing:
        message, hint = _missing_columns_message(name, is_text, missing,
                                                 columns, sep)
        raise DatasetFormatError(message, hint=hint)
    repeated = [c for c in required if columns.count(c) > 1]
    if repeated:
        raise DatasetFormatError(
            f"{where(None)}: column(s) {', '.join(map(repr, repeated))} "
            f"appear more than once (the file has the columns "
            f"{', '.join(map(repr, columns))})")
    if len(df) == 0:
        raise DatasetFormatError(f"{where(None)}: no rows" +
                                 (' after the header' if is_text else ''))

    # Parse the columns:
    user = _ids(df[user_col], user_col, where)
    item = _ids(df[item_col], item_col, where)
    time = None if time_col is None else _times(df[time_col], time_col,
                                                  where)
    keep = np.ones(len(df), dtype=bool)
    if rating_col is not None:
        rating = _numbers(df[rating_col], rating_col, 'rating', where)
        if min_rating is not None:
            keep &= rating >= min_rating
    if k_core > 0:
        keep[keep] = _k_core(user[keep], item[keep], int(k_core))
    if not keep.any():
        raise DatasetFormatError(
            f"No interactions of '{name}' are left after filtering "
            f"({len(df)} rows; min_rating={min_rating}, k_core={k_core})")

    # Map the remaining ids, then sort by user and time:
    user_index, user_raw = pd.factorize(user[keep], sort=True)
    item_index, item_raw = pd.factorize(item[keep], sort=True)
    if time is None:
        perm = np.argsort(user_index, kind='stable')
    else:
        perm = np.lexsort((time[keep], user_index))  # A stable sort.

    row = torch.from_numpy(user_index[perm].astype(np.int64))
    col = torch.from_numpy(item_index[perm].astype(np.int64))
    count = torch.bincount(row, minlength=len(user_raw))
    start = count.cumsum(0) - count
    position = torch.arange(row.numel()) - start[row]

    data = HeteroData()
    data['user'].num_nodes = len(user_raw)
    data['item'].num_nodes = len(item_raw)
    data['user'].raw_id = RawIds(_to_list(user_raw))
    data['item'].raw_id = RawIds(_to_list(item_raw))
    edge_index = torch.stack([row, col], dim=0)
    data[EDGE_TYPE].edge_index = edge_index
    data[EDGE_TYPE].time = position
    data[REV_EDGE_TYPE].edge_index = edge_index.flip([0])
    # How the sequences were ordered, and the rows equal to an earlier one
    # (user, item and time: kept, as repeats):
    data.file_order = time is None
    data.repeated_rows = 0 if time is None else int(pd.DataFrame({
        'u': user_index, 'i': item_index, 't': time[keep]}).duplicated(
        ).sum())
    return data


#: The arguments of :func:`read_interactions_table` that name a column.
COLUMN_ARGS = ('user_col', 'item_col', 'time_col', 'rating_col')


def shared_columns(**columns: Optional[str]) -> Dict[str, List[str]]:
    r"""Each column that more than one of :obj:`columns` (argument name:
    column, or :obj:`None`) names, with the arguments that name it."""
    names: Dict[str, List[str]] = {}
    for arg, column in columns.items():
        if column:
            names.setdefault(column, []).append(arg)
    return {column: args for column, args in names.items() if len(args) > 1}


def _read_table(path: str, name: str,
                sep: Optional[str]) -> Tuple[pd.DataFrame, bool]:
    r"""The file as a :class:`pandas.DataFrame` (text files as strings, with
    the line number of each row minus 2 as index) and whether it is a text
    file."""
    base = name.lower()
    compressed = False
    for ext in COMPRESSION_EXTENSIONS:
        if base.endswith(ext):
            base, compressed = base[:-len(ext)], True
            break
    ext = osp.splitext(base)[1]

    if ext in PARQUET_EXTENSIONS:
        try:
            df = pd.read_parquet(path)
        except ImportError as e:
            raise ParquetEngineError(
                f"reading the Parquet file '{name}' needs 'pyarrow' (or "
                f"'fastparquet'), which is not installed",
                hint="pip install -e '.[parquet]' (or make install "
                "EXTRAS=test,sparse,parquet), or save the data as CSV") from e
        except Exception as e:
            raise DatasetFormatError(
                f"{name}: could not be read as a Parquet file ({e})") from e
        return df.reset_index(drop=True), False

    if sep is None:
        if ext not in TEXT_SEPARATORS:
            raise DatasetFormatError(
                f"Unknown format of '{name}': expected the extension "
                f"'.csv', '.tsv', '.txt', '.parquet' or '.pq' (optionally "
                f"compressed, e.g. '.csv.gz')", hint=TEXT_HINT)
        sep = TEXT_SEPARATORS[ext]
    if not compressed:
        _refuse_binary(path, name)
    try:
        # Everything as strings, only empty fields missing: ids such as
        # "NA" or "007" are kept as they are.
        # The header is read as a row, so that a line with more fields
        # than the header is an error (not an index column):
        df = pd.read_csv(path, sep=sep, header=None, dtype=str,
                         keep_default_na=False, na_values=[''],
                         skip_blank_lines=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DatasetFormatError(
            f"{name}:1: the file is empty or its first line is blank "
            f"(expected a header line and one row per interaction)") from None
    except (EOFError, OSError, lzma.LZMAError, zipfile.BadZipFile) as e:
        # A compressed file cut short (an interrupted download) or not
        # compressed as its extension says:
        if not compressed:
            raise
        raise DatasetFormatError(
            f"{name}: could not be decompressed as its extension says "
            f"({type(e).__name__}: {e})",
            hint='download it again, or name it by its format') from None
    except ImportError as e:  # (.zst needs the zstandard package)
        raise DatasetFormatError(f"{name}: {e}", hint='install the package '
                                 'it names, or decompress the file') from None
    except UnicodeDecodeError as e:
        raise DatasetFormatError(_undecodable(path, name, e.encoding),
                                 hint='save the file as UTF-8') from e
    except (pd.errors.ParserError, ValueError) as e:
        match = re.search(r'line (\d+)', str(e))
        line = f':{match.group(1)}' if match else ''
        raise DatasetFormatError(
            f"{name}{line}: could not be parsed as a table with separator "
            f"{sep!r} ({str(e).strip()})") from e
    header = ['' if pd.isna(c) else str(c).strip() for c in df.iloc[0]]
    df = df.iloc[1:]
    df.columns = header
    df.index = df.index - 1
    # Without `skip_blank_lines`, row `i` is line `i + 2`; drop blank lines:
    return df[df.notna().any(axis=1)], True


def _refuse_binary(path: str, name: str) -> None:
    r"""Raises a :class:`DatasetFormatError` if the file :obj:`name`, read
    as text by its extension, is a compressed file (:data:`MAGIC`,
    :data:`BZIP2`) or a Parquet one (:obj:`PAR1` at both ends): a parse
    error at some line would not say why."""
    with open(path, 'rb') as f:
        head = f.read(10)
        f.seek(max(osp.getsize(path) - 4, 0))
        tail = f.read(4)
    if head[:4] == tail == b'PAR1':
        raise DatasetFormatError(
            f"{name}: a Parquet file, not the text its extension says",
            hint=f"name it by its format (e.g. '{name}.parquet')")
    ext = '.bz2' if BZIP2.match(head) else next(
        (e for magic, e in MAGIC.items() if head.startswith(magic)), None)
    if ext is None:
        return
    excel = ext == '.zip'  # (an .xlsx is a zip file too)
    raise DatasetFormatError(
        f"{name}: a compressed ('{ext}') file"
        f"{' or an Excel workbook' if excel else ''}, not the text its "
        f"extension says",
        hint=f"name it by its format (e.g. '{name}{ext}')"
        f"{'; save a workbook as CSV' if excel else ''}")


def _undecodable(path: str, name: str, encoding: str) -> str:
    r"""The message for a text file that is not valid :obj:`encoding`,
    naming the first line that is not (uncompressed and :obj:`.gz`,
    :obj:`.bz2` and :obj:`.xz` files), its column and the byte."""
    import bz2
    import gzip
    import lzma
    openers = {'.gz': gzip.open, '.bz2': bz2.open, '.xz': lzma.open}
    ext = osp.splitext(path.lower())[1]
    label = encoding.upper()
    if ext in COMPRESSION_EXTENSIONS and ext not in openers:
        return f"{name}: not valid {label}"
    with openers.get(ext, open)(path, 'rb') as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as e:
                return (f"{name}:{number}: not valid {label} "
                        f"(byte 0x{line[e.start]:02x} at column "
                        f"{e.start + 1})")
    return f"{name}: not valid {label}"


def _locator(name: str, is_text: bool,
             index: np.ndarray) -> Callable[[Optional[int]], str]:
    r"""A function naming the file and, if given, the row at a position."""
    def where(pos: Optional[int]) -> str:
        if pos is None:
            return f'{name}:1' if is_text else name
        if is_text:
            return f'{name}:{int(index[pos]) + 2}'
        return f'{name}: row {int(index[pos]) + 1}'

    return where


def _missing_columns_message(name: str, is_text: bool, missing: List[str],
                             columns: List[str],
                             sep: Optional[str] = None
                             ) -> Tuple[str, Optional[str]]:
    r"""The message of missing columns, and a hint when the separator
    looks wrong."""
    hints, hint = [], None
    for col in missing:
        close = difflib.get_close_matches(col, columns, n=1, cutoff=0.6)
        if not close:  # Also match, e.g., 'user' with 'UserID':
            lower = {c.lower(): c for c in columns}
            close = [
                lower[c] for c in difflib.get_close_matches(
                    col.lower(), list(lower), n=1, cutoff=0.5)
            ]
        if close:
            hints.append(f"did you mean {close[0]!r} for {col!r}?")
    if is_text and len(columns) == 1:
        hints.append("the header has a single column: is the separator "
                     "right" + (f" (sep={sep!r})?" if sep else "?"))
        hint = None if sep else TEXT_HINT
    if is_text and not set(missing) & {c.lower() for c in columns} and all(
            _INT_PATTERN.fullmatch(c.strip()) for c in columns):
        hints.append("the first line is read as the header: does the file "
                     "have one?")
    return (f"{name}{':1' if is_text else ''}: missing column(s) "
            f"{', '.join(map(repr, missing))} (the file has the columns "
            f"{', '.join(map(repr, columns))})" +
            ('; ' + ' '.join(hints) if hints else ''), hint)


def _first_bad(bad: np.ndarray) -> Tuple[int, str]:
    r"""The position of the first :obj:`True` entry and a note on how many
    more there are."""
    pos = int(np.flatnonzero(bad)[0])
    more = int(bad.sum()) - 1
    return pos, f' (and {more} more row(s))' if more else ''


def _ids(column: pd.Series, col: str,
         where: Callable[[Optional[int]], str]) -> np.ndarray:
    r"""The ids of a column, as an integer array if all of them are integers
    (written canonically in a text file), else as they are."""
    missing = column.isna().to_numpy()
    if missing.any():
        pos, more = _first_bad(missing)
        raise DatasetFormatError(f"{where(pos)}: missing value in column "
                                 f"{col!r}{more}")
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy()
    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy().astype(np.int64)
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy()
        integral = np.all(np.mod(values, 1) == 0) and np.all(
            np.abs(values) < 2**53)
        return values.astype(np.int64) if integral else values
    if all(isinstance(v, str) for v in column):
        values = column.str.strip()
        if values.str.fullmatch(_INT_PATTERN).all():
            try:
                return np.array([int(v) for v in values], dtype=np.int64)
            except OverflowError:
                pass
        return values.to_numpy(dtype=object)
    return column.astype(str).to_numpy(dtype=object)  # Mixed types.


def _numbers(column: pd.Series, col: str, what: str,
             where: Callable[[Optional[int]], str]) -> np.ndarray:
    r"""The values of a numeric column (integers stay integers)."""
    values = pd.to_numeric(column, errors='coerce')
    bad = values.isna().to_numpy()
    if bad.any():
        pos, more = _first_bad(bad)
        raw = column.iloc[pos]
        problem = (f"missing {what}" if pd.isna(raw) else
                   f"{what} {raw!r} is not a number")
        raise DatasetFormatError(f"{where(pos)}: {problem} (column "
                                 f"{col!r}){more}")
    return values.to_numpy()


def _times(column: pd.Series, col: str,
           where: Callable[[Optional[int]], str]) -> np.ndarray:
    r"""The values of a time column as numbers: as they are if the first
    value is a number (all of them finite), else as dates (nanoseconds since
    the epoch, none of them a bare number: a column holds numbers or dates,
    not both)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        values = column
        bad = values.isna().to_numpy()
        number = np.zeros(len(column), dtype=bool)
    else:
        first = column.iloc[0]
        if pd.isna(first) or not pd.isna(pd.to_numeric(first,
                                                       errors='coerce')):
            values = _numbers(column, col, 'time', where)
            infinite = ~np.isfinite(values.astype(np.float64))
            if infinite.any():
                pos, more = _first_bad(infinite)
                raw = _show(column.iloc[pos])
                raise DatasetFormatError(
                    f"{where(pos)}: time {raw} is not finite (column "
                    f"{col!r}){more}")
            return values
        # ISO 8601 reads '1010' as the year 1010 and '20200101' as a date:
        number = pd.to_numeric(column, errors='coerce').notna().to_numpy()
        values = pd.to_datetime(column, errors='coerce', utc=True,
                                format='ISO8601')
        bad = values.isna().to_numpy() | number
    if bad.any():
        pos, more = _first_bad(bad)
        raw, first = column.iloc[pos], _show(column.iloc[0])
        if pd.isna(raw):
            problem = "missing time"
        elif number[pos]:
            problem = (f"time {_show(raw)} is a number, but the column "
                       f"holds dates like the first row's {first} (a time "
                       f"column is all numbers or all dates)")
        else:
            problem = (f"time {_show(raw)} is not a date in ISO 8601 form "
                       f"like the first row's {first}")
        raise DatasetFormatError(f"{where(pos)}: {problem} (column "
                                 f"{col!r}){more}")
    if getattr(values.dt, 'tz', None) is not None:
        values = values.dt.tz_convert('UTC').dt.tz_localize(None)
    # Nanoseconds reach the years 1677 to 2262 only; a date beyond them (a
    # placeholder such as 9999-12-31) would wrap around and be misordered:
    outside = ((values < pd.Timestamp.min) |
               (values > pd.Timestamp.max)).to_numpy()
    if outside.any():
        pos, more = _first_bad(outside)
        raise DatasetFormatError(
            f"{where(pos)}: time {_show(column.iloc[pos])} is outside the "
            f"dates that can be ordered ({pd.Timestamp.min:%Y-%m-%d} to "
            f"{pd.Timestamp.max:%Y-%m-%d}; column {col!r}){more}",
            hint='replace placeholder dates, or drop those rows')
    return values.to_numpy(dtype='datetime64[ns]').astype(np.int64)


def _show(value: Any) -> str:
    r"""A value of a cell as a message names it (:obj:`'x'`, :obj:`inf`;
    NumPy scalars as Python ones)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _k_core(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    r"""The mask of the rows of the iterative :math:`k`-core."""
    if len(user) == 0:
        return np.ones(0, dtype=bool)
    user = pd.factorize(user)[0]
    item = pd.factorize(item)[0]
    keep = np.ones(len(user), dtype=bool)
    while True:
        user_count = np.bincount(user[keep], minlength=user.max() + 1)
        item_count = np.bincount(item[keep], minlength=item.max() + 1)
        new_keep = keep & (user_count[user] >= k) & (item_count[item] >= k)
        if new_keep.sum() == keep.sum():
            return keep
        keep = new_keep


def _to_list(values) -> list:
    r"""Raw ids as a list of Python objects (:obj:`int`, :obj:`float`,
    :obj:`str`), which can be saved as JSON."""
    out = []
    for v in np.asarray(values, dtype=object).tolist():
        out.append(v.item() if isinstance(v, np.generic) else v)
    return out
