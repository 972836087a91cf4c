import os.path as osp
from typing import Callable, Dict, List, Optional

import torch

from torch_geometric.data import HeteroData

from adar_pyg.datasets.utils import (
    DatasetFormatError,
    VerifiedInMemoryDataset,
    fetch_file,
    resolve_mirror,
)
from adar_pyg.io import atomic_path


def read_s3rec(path: str) -> HeteroData:
    r"""Reads a sequential recommendation file in the format of the
    `"S3-Rec: Self-Supervised Learning for Sequential Recommendation with
    Mutual Information Maximization" <https://arxiv.org/abs/2008.07873>`_
    paper into a :class:`~torch_geometric.data.HeteroData` object.

    Each line holds one user, :obj:`user_id item_1 item_2 ... item_n`, with
    1-based ids and items in chronological order.
    Blank lines at the end of the file are skipped.

    The returned graph holds :obj:`data['user'].num_nodes` and
    :obj:`data['item'].num_nodes` (the largest ids), the edge type
    :obj:`('user', 'rates', 'item')` with a 0-based :obj:`edge_index`
    ordered by user and, within a user, chronologically, and :obj:`time`,
    the position of each interaction within its user's sequence
    (:obj:`0, 1, 2, ...`), as well as the reverse edge type
    :obj:`('item', 'rated_by', 'user')`.
    All interactions are kept, including repeated (user, item) pairs.

    Args:
        path (str): The file to read.

    Raises:
        DatasetFormatError: On a non-integer token, a user without items, an
            id smaller than :obj:`1`, a duplicated user id or a blank line
            before the end of the file. The message reads
            :obj:`"<file name>:<line number>: <what is wrong>"`.
    """
    name = osp.basename(path)
    with open(path, 'rb') as f:
        lines = f.read().split(b'\n')
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1

    users: List[int] = []
    lengths: List[int] = []
    items: List[int] = []
    first_line: Dict[int, int] = {}

    for lineno, line in enumerate(lines[:end], start=1):
        tokens = line.split()
        if len(tokens) == 0:
            raise DatasetFormatError(
                f"{name}:{lineno}: blank line (only blank lines at the end "
                f"of the file are allowed)")
        try:
            ids = list(map(int, tokens))
        except ValueError:
            for pos, token in enumerate(tokens):
                try:
                    int(token)
                except ValueError:
                    token = token.decode('utf-8', errors='replace')
                    raise DatasetFormatError(
                        f"{name}:{lineno}: token {pos + 1} ('{token}') is "
                        f"not an integer") from None
            raise  # pragma: no cover
        if min(ids) < 1:
            pos = next(pos for pos, i in enumerate(ids) if i < 1)
            what = 'user id' if pos == 0 else f'item id (token {pos + 1})'
            raise DatasetFormatError(
                f"{name}:{lineno}: {what} must be >= 1 (ids are 1-based), "
                f"got {ids[pos]}")
        user = ids[0]
        if len(ids) == 1:
            raise DatasetFormatError(
                f"{name}:{lineno}: user {user} has no items")
        if user in first_line:
            raise DatasetFormatError(
                f"{name}:{lineno}: duplicated user id {user} (first seen on "
                f"line {first_line[user]})")
        first_line[user] = lineno
        users.append(user)
        lengths.append(len(ids) - 1)
        items.extend(ids[1:])

    if len(users) == 0:
        raise DatasetFormatError(f"{name}:1: file contains no users")

    if max(users) != len(users):  # ids are 1..U: a gap is a user without items
        missing = min(set(range(1, len(users) + 1)) - set(users))
        raise DatasetFormatError(
            f"{name}:{end}: user ids must be 1..{len(users)} without gaps, "
            f"but user {missing} has no line (largest id {max(users)}); "
            f"a user with no items is not allowed")

    user = torch.tensor(users, dtype=torch.long)
    length = torch.tensor(lengths, dtype=torch.long)
    col = torch.tensor(items, dtype=torch.long) - 1

    row = user.repeat_interleave(length) - 1
    start = length.cumsum(0) - length
    time = torch.arange(row.numel()) - start.repeat_interleave(length)

    if bool((user[1:] < user[:-1]).any()):  # Order lines by user id:
        perm = torch.sort(row, stable=True)[1]
        row, col, time = row[perm], col[perm], time[perm]

    data = HeteroData()
    data['user'].num_nodes = int(user.max())
    data['item'].num_nodes = int(col.max()) + 1
    edge_index = torch.stack([row, col], dim=0)
    data['user', 'rates', 'item'].edge_index = edge_index
    data['user', 'rates', 'item'].time = time
    data['item', 'rated_by', 'user'].edge_index = edge_index.flip([0])
    return data


class S3RecDataset(VerifiedInMemoryDataset):
    r"""Base class of the 5-core sequential recommendation datasets
    preprocessed by the `"S3-Rec: Self-Supervised Learning for Sequential
    Recommendation with Mutual Information Maximization"
    <https://arxiv.org/abs/2008.07873>`_ paper, as used in Table 1 of the
    "Adaptive Diffusion-based Augmentation for Recommendation" (ADAR) paper.
    Each dataset is a single file with one user per line,
    :obj:`user_id item_1 ... item_n` (1-based ids, items in chronological
    order); see :func:`read_s3rec` for the resulting
    :class:`~torch_geometric.data.HeteroData` object.

    .. list-table::
        :widths: 14 10 10 14 10
        :header-rows: 1

        * - Name
          - #users
          - #items
          - #interactions
          - avg. length
        * - :class:`AmazonBeauty`
          - 22,363
          - 12,101
          - 198,502
          - 8.88
        * - :class:`AmazonToys`
          - 19,412
          - 11,924
          - 167,597
          - 8.63
        * - :class:`AmazonSports`
          - 35,598
          - 18,357
          - 296,337
          - 8.32
        * - :class:`Yelp`
          - 30,431
          - 20,033
          - 316,354
          - 10.40

    The raw file is fetched from :obj:`mirror` if given (a local folder laid
    out as :obj:`<mirror>/<folder>/<file>`, *e.g.*,
    :obj:`<mirror>/amazon-beauty/Beauty.txt`), else from the folder in the
    environment variable :obj:`ADAR_PYG_MIRROR` if set, else downloaded from
    :obj:`url`.
    Its MD5 checksum is verified at every load, and the processed cache
    is rebuilt when it was built from another file (see
    :class:`~adar_pyg.datasets.utils.VerifiedInMemoryDataset`).
    Files are stored under :obj:`<root>/<folder>/raw` and
    :obj:`<root>/<folder>/processed`, so that several datasets can share one
    :obj:`root`.

    Args:
        root (str): Root directory where the dataset should be saved.
        mirror (str, optional): A local folder to copy the raw file from
            instead of downloading it. If set to :obj:`None`, will use the
            environment variable :obj:`ADAR_PYG_MIRROR` if set.
            (default: :obj:`None`)
        transform (callable, optional): A function/transform that takes in an
            :class:`~torch_geometric.data.HeteroData` object and returns a
            transformed version. The data object will be transformed before
            every access. (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform that takes in
            an :class:`~torch_geometric.data.HeteroData` object and returns a
            transformed version. The data object will be transformed before
            being saved to disk. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
    """
    url = ('https://raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec/'
           'master/data/{}')

    #: The raw file name, *e.g.*, :obj:`"Beauty.txt"`.
    file_name: str = ''
    #: The MD5 checksum of the raw file.
    md5: str = ''
    #: The sub-folder of the mirror (and of :obj:`root`), *e.g.*,
    #: :obj:`"amazon-beauty"`.
    folder: str = ''
    #: The expected statistics: numbers of users, items and interactions.
    stats: Dict[str, int] = {}

    def __init__(
        self,
        root: str,
        mirror: Optional[str] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
        if not self.file_name:
            raise TypeError(
                f"'{self.__class__.__name__}' is a base class; use one of "
                f"'AmazonBeauty', 'AmazonToys', 'AmazonSports' or 'Yelp'")
        self.mirror = resolve_mirror(mirror)
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.folder, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.folder, 'processed')

    @property
    def raw_file_names(self) -> str:
        return self.file_name

    @property
    def processed_file_names(self) -> str:
        return 'data.pt'

    def expected_md5(self) -> Dict[str, str]:
        return {self.file_name: self.md5}

    def download(self) -> None:
        fetch_file(self.__class__.__name__, self.url.format(self.file_name),
                   self.md5, self.raw_dir, self.file_name, self.mirror,
                   osp.join(self.folder, self.file_name))

    def process(self) -> None:
        data = read_s3rec(self.raw_paths[0])

        if self.pre_transform is not None:
            data = self.pre_transform(data)

        with atomic_path(self.processed_paths[0]) as tmp:  # Shared caches
            self.save([data], tmp)  # are read by other runs meanwhile.

    def __repr__(self) -> str:
        data = self._data
        try:
            num_users = data['user'].num_nodes
            num_items = data['item'].num_nodes
            num_edges = data['user', 'rates', 'item'].num_edges
        except (KeyError, AttributeError):  # Changed by a `pre_transform`.
            return f'{self.__class__.__name__}()'
        return (f'{self.__class__.__name__}(users={num_users}, '
                f'items={num_items}, interactions={num_edges})')


class AmazonBeauty(S3RecDataset):
    r"""The Amazon *Beauty* 5-core dataset with 22,363 users, 12,101 items
    and 198,502 chronologically ordered interactions (8.88 per user), as
    preprocessed by the `"S3-Rec: Self-Supervised Learning for Sequential
    Recommendation with Mutual Information Maximization"
    <https://arxiv.org/abs/2008.07873>`_ paper.
    See :class:`S3RecDataset` for the data layout and the arguments.
    """
    file_name = 'Beauty.txt'
    md5 = 'cb03635343187f36526ed4ba48102b53'
    folder = 'amazon-beauty'
    stats = dict(users=22363, items=12101, interactions=198502)


class AmazonToys(S3RecDataset):
    r"""The Amazon *Toys and Games* 5-core dataset with 19,412 users, 11,924
    items and 167,597 chronologically ordered interactions (8.63 per user),
    as preprocessed by the `"S3-Rec: Self-Supervised Learning for Sequential
    Recommendation with Mutual Information Maximization"
    <https://arxiv.org/abs/2008.07873>`_ paper.
    See :class:`S3RecDataset` for the data layout and the arguments.
    """
    file_name = 'Toys_and_Games.txt'
    md5 = 'b139ecacfc81d0fb642bc2f448f13843'
    folder = 'amazon-toys'
    stats = dict(users=19412, items=11924, interactions=167597)


class AmazonSports(S3RecDataset):
    r"""The Amazon *Sports and Outdoors* 5-core dataset with 35,598 users,
    18,357 items and 296,337 chronologically ordered interactions (8.32 per
    user), as preprocessed by the `"S3-Rec: Self-Supervised Learning for
    Sequential Recommendation with Mutual Information Maximization"
    <https://arxiv.org/abs/2008.07873>`_ paper.
    See :class:`S3RecDataset` for the data layout and the arguments.
    """
    file_name = 'Sports_and_Outdoors.txt'
    md5 = '9691c051152edf528a56581da65b1ce3'
    folder = 'amazon-sports'
    stats = dict(users=35598, items=18357, interactions=296337)


class Yelp(S3RecDataset):
    r"""The *Yelp* 5-core dataset with 30,431 users, 20,033 items and 316,354
    chronologically ordered interactions (10.40 per user), as preprocessed by
    the `"S3-Rec: Self-Supervised Learning for Sequential Recommendation with
    Mutual Information Maximization" <https://arxiv.org/abs/2008.07873>`_
    paper.
    See :class:`S3RecDataset` for the data layout and the arguments.

    .. note::
        Unlike the Amazon datasets, Yelp contains repeat visits:
        11,830 interactions repeat an earlier (user, item) pair, leaving
        304,524 distinct pairs.
        The dataset keeps all of them, as sequential recommendation (SR)
        needs the full sequences.
        The collaborative filtering (CF) split
        :class:`~adar_pyg.transforms.PerUserRandomSplit` de-duplicates them
        by default, keeping the first occurrence of each pair.
        (The ADAR paper's "avg. length 8.3" for Yelp does not match its own
        counts; :math:`316{,}354 / 30{,}431 = 10.40`.)
    """
    file_name = 'Yelp.txt'
    md5 = 'da7989002c123e7680afaaa5141fb85b'
    folder = 'yelp'
    stats = dict(users=30431, items=20033, interactions=316354)
