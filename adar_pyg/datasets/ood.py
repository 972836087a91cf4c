import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional

import torch

from torch_geometric.data import HeteroData

from adar_pyg.datasets.interactions import (
    EDGE_TYPE,
    REV_EDGE_TYPE,
    read_interactions,
    split_views,
)
from adar_pyg.datasets.utils import (
    DatasetFormatError,
    DatasetFormatWarning,
    VerifiedInMemoryDataset,
    fetch_file,
    resolve_mirror,
)
from adar_pyg.io import atomic_path


class OODDataset(VerifiedInMemoryDataset):
    r"""Base class of the out-of-distribution (OOD) recommendation splits
    published with the `"Distributionally Robust Graph Out-of-Distribution
    Recommendation via Diffusion Model" <https://github.com/user683/DRGO>`_
    code (DRGO) and used by the
    `"Causal Negative Sampling via Diffusion Model for Out-of-Distribution
    Recommendation" <https://arxiv.org/abs/2508.07243>`_ paper (CNSDiff):
    a training set, an IID validation set, an IID test set drawn from the
    training distribution, and an OOD test set under a distribution shift.

    .. list-table::
        :widths: 14 12 8 8 10 10 10 10
        :header-rows: 1

        * - Name
          - shift
          - #users
          - #items
          - train
          - val (IID)
          - test (IID)
          - test (OOD)
        * - :class:`OODFood`
          - temporal
          - 7,732
          - 6,293
          - 106,253
          - 20,468
          - 43,183
          - 46,149
        * - :class:`OODYelp2018`
          - popularity
          - 8,093
          - 13,879
          - 238,514
          - 47,570
          - 95,173
          - 16,346

    The four sets are disjoint. The raw files hold one interaction per line,
    :obj:`user_id item_id rating` with 0-based ids and rating :obj:`1`; they
    are read by :func:`~adar_pyg.datasets.read_interactions` in
    :obj:`"triplets"` format with :obj:`on_malformed="skip"`: a malformed
    line (not exactly three fields, a non-integer or negative id, a rating
    that is not a positive number) is skipped, with a
    :class:`~adar_pyg.datasets.DatasetFormatWarning` naming its
    :obj:`<folder>/<file>:<line>` (repeated each time the processed
    dataset is loaded),
    and more than ten malformed lines in a file raise a
    :class:`~adar_pyg.datasets.DatasetFormatError`. The messages of the
    skipped lines are kept in :obj:`data.skipped_lines`.

    The dataset holds one :class:`~torch_geometric.data.HeteroData` object
    with :obj:`data['user'].num_nodes` and :obj:`data['item'].num_nodes`
    (the largest ids of all four files plus one), the training interactions
    in :obj:`data['user', 'rates', 'item'].edge_index` (sorted, and flipped
    in :obj:`data['item', 'rated_by', 'user'].edge_index`), and the held-out
    ones in :obj:`val_edge_label_index`, :obj:`test_edge_label_index` (IID)
    and :obj:`test_ood_edge_label_index` of the same edge type.
    :meth:`splits` turns it into one object per split in the form of
    :class:`~adar_pyg.transforms.PerUserRandomSplit`.

    The raw files are fetched from :obj:`mirror` if given (a local folder
    laid out as :obj:`<mirror>/<folder>/<file>`, *e.g.*,
    :obj:`<mirror>/ood-food/train.txt`), else from the folder in the
    environment variable :obj:`ADAR_PYG_MIRROR` if set, else downloaded from
    :obj:`url` (the DRGO repository at a fixed commit); their MD5 checksums
    are verified at every load, and the processed cache is rebuilt when it
    was built from other files (see
    :class:`~adar_pyg.datasets.utils.VerifiedInMemoryDataset`).

    Args:
        root (str): Root directory where the dataset should be saved (under
            :obj:`<root>/<folder>`).
        mirror (str, optional): A local folder to copy the raw files from
            instead of downloading them. If set to :obj:`None`, will use the
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
    published_split = True
    url = ('https://raw.githubusercontent.com/user683/DRGO/'
           'cb213e73b209e16dabc8a9ced98c4f84ce57c9fc/data_for_SELFRec/{}/{}')

    #: Split name -> raw file name.
    files: Dict[str, str] = {
        'train': 'train.txt',
        'val': 'valid_iid.txt',
        'test': 'test_iid.txt',
        'test_ood': 'test.txt',
    }
    #: The folder of the raw files in the DRGO repository, *e.g.*,
    #: :obj:`"food"`.
    name: str = ''
    #: The sub-folder of the mirror (and of :obj:`root`), *e.g.*,
    #: :obj:`"ood-food"`.
    folder: str = ''
    #: The kind of distribution shift of the OOD test set.
    shift: str = ''
    #: Raw file name -> MD5 checksum.
    md5: Dict[str, str] = {}
    #: The expected statistics: users, items and interactions per split.
    stats: Dict[str, int] = {}

    def __init__(
        self,
        root: str,
        mirror: Optional[str] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
        if not self.name:
            raise TypeError(f"'{self.__class__.__name__}' is a base class; "
                            f"use 'OODFood' or 'OODYelp2018'")
        self.mirror = resolve_mirror(mirror)
        self._processed_now = False
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)
        skipped = getattr(self._data, 'skipped_lines', None) or []
        if skipped and not self._processed_now:  # Else read_interactions
            warnings.warn(  # warned already.
                f"{self.__class__.__name__}: {len(skipped)} malformed "
                f"line(s) were skipped (on_malformed='skip'): " +
                '; '.join(skipped), DatasetFormatWarning, stacklevel=2)

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.folder, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.folder, 'processed')

    @property
    def raw_file_names(self) -> List[str]:
        return list(self.files.values())

    @property
    def processed_file_names(self) -> str:
        return 'data.pt'

    def expected_md5(self) -> Dict[str, str]:
        return {name: self.md5[name] for name in self.files.values()}

    def download(self) -> None:
        for file_name in self.files.values():
            fetch_file(self.__class__.__name__,
                       self.url.format(self.name, file_name),
                       self.md5[file_name], self.raw_dir, file_name,
                       self.mirror, osp.join(self.folder, file_name))

    def process(self) -> None:
        self._processed_now = True
        pairs, skipped, duplicates = {}, [], 0
        for key, file_name in self.files.items():
            pairs[key], dup, bad = read_interactions(
                osp.join(self.raw_dir, file_name), 'triplets',
                on_malformed='skip', name=f'{self.folder}/{file_name}')
            skipped += bad
            duplicates += dup
            if pairs[key].size(1) == 0:
                raise DatasetFormatError(
                    f"{self.folder}/{file_name}:1: no interactions")
        both = torch.cat(list(pairs.values()), dim=1)
        num_users, num_items = (int(m) + 1 for m in both.max(dim=1).values)

        data = HeteroData()
        data['user'].num_nodes = num_users
        data['item'].num_nodes = num_items
        data[EDGE_TYPE].edge_index = pairs['train']
        for key in list(self.files)[1:]:
            data[EDGE_TYPE][f'{key}_edge_label_index'] = pairs[key]
        data[REV_EDGE_TYPE].edge_index = pairs['train'].flip([0])
        data.skipped_lines = skipped
        data.num_duplicates_removed = duplicates

        if self.pre_transform is not None:
            data = self.pre_transform(data)

        with atomic_path(self.processed_paths[0]) as tmp:  # Shared caches
            self.save([data], tmp)  # are read by other runs meanwhile.

    def splits(self) -> Dict[str, HeteroData]:
        r"""The splits :obj:`"train"`, :obj:`"val"` (IID), :obj:`"test"`
        (IID) and :obj:`"test_ood"`, each a
        :class:`~torch_geometric.data.HeteroData` object in the form of
        :class:`~adar_pyg.transforms.PerUserRandomSplit` (the training
        interactions as message-passing edges, the split's own in
        :obj:`edge_label_index`), ready for
        :class:`~adar_pyg.train.CFTask`."""
        data = self[0]
        store = data[EDGE_TYPE]
        train = store.edge_index
        labels = {'train': train}
        labels.update({key: store[f'{key}_edge_label_index']
                       for key in list(self.files)[1:]})
        return split_views(data['user'].num_nodes, data['item'].num_nodes,
                           train, labels)

    def __repr__(self) -> str:
        try:
            data = self._data
            sizes = ', '.join(
                f'{key}={data[EDGE_TYPE][attr].size(1)}' for key, attr in (
                    ('train', 'edge_index'),
                    ('val', 'val_edge_label_index'),
                    ('test', 'test_edge_label_index'),
                    ('test_ood', 'test_ood_edge_label_index')))
            return (f"{self.__class__.__name__}(users="
                    f"{data['user'].num_nodes}, items="
                    f"{data['item'].num_nodes}, {sizes}, "
                    f"shift={self.shift!r})")
        except (KeyError, AttributeError):  # Changed by a `pre_transform`.
            return f'{self.__class__.__name__}()'


class OODFood(OODDataset):
    r"""The *Food* OOD split with a **temporal** shift: 7,732 users, 6,293
    items, 106,253 training, 20,468 IID validation, 43,183 IID test and 46,149 OOD test interactions (the
    OOD test set holds later interactions), as published with the DRGO code
    and used by the CNSDiff paper.
    See :class:`OODDataset` for the data layout and the arguments.
    """
    name = 'food'
    folder = 'ood-food'
    shift = 'temporal'
    md5 = {
        'train.txt': '85a591cb92e5e875ff6e76ae4258c0f8',
        'valid_iid.txt': 'd8db67cd1be24236b6aad1f46eac0e04',
        'test_iid.txt': '25ec9ad9435a2b7e4312a37889ae4d04',
        'test.txt': 'e9d05686fa2fafefdd064257f0d30e71',
    }
    stats = dict(users=7732, items=6293, train=106253, val=20468,
                 test=43183, test_ood=46149)


class OODYelp2018(OODDataset):
    r"""The *Yelp2018* OOD split with a **popularity** shift: 8,093 users,
    13,879 items, 238,514 training, 47,570 IID validation, 95,173 IID test
    and 16,346 OOD test interactions, where the OOD test set holds long-tail
    items only (their mean training popularity is 6.2 interactions, against
    45 for the IID test set), as published with the DRGO code and used by
    the CNSDiff paper.
    See :class:`OODDataset` for the data layout and the arguments.

    .. note::
        The first two lines of the published :obj:`train.txt` are malformed
        (:obj:`"0"` and :obj:`"0 1"`, without item or rating). They are
        skipped with a :class:`~adar_pyg.datasets.DatasetFormatWarning`
        naming :obj:`ood-yelp2018/train.txt:1` and
        :obj:`ood-yelp2018/train.txt:2`, so the training set
        holds 238,514 of the file's 238,516 lines.
    """
    name = 'yelp2018'
    folder = 'ood-yelp2018'
    shift = 'popularity'
    md5 = {
        'train.txt': 'd1f378da3f422b5275dd08b9ee5c7328',
        'valid_iid.txt': '22d21396a1296d5d3fb06d4df4e7c00e',
        'test_iid.txt': '9bae6f2fc50abbcc475234f129ca7f06',
        'test.txt': '65336c7e6605048b6e32d10853c50d77',
    }
    stats = dict(users=8093, items=13879, train=238514, val=47570,
                 test=95173, test_ood=16346)
