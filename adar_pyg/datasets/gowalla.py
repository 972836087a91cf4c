import os.path as osp
from typing import Callable, Dict, List, Optional

from torch_geometric.data import HeteroData

from adar_pyg.datasets.interactions import (EDGE_TYPE, REV_EDGE_TYPE,
                                            split_views)
from adar_pyg.datasets.lightgcn_format import read_lightgcn_split
from adar_pyg.datasets.utils import (VerifiedInMemoryDataset, fetch_file,
                                     resolve_mirror)
from adar_pyg.io import atomic_path
from adar_pyg.transforms import PerUserRandomSplit


class Gowalla(VerifiedInMemoryDataset):
    r"""The *Gowalla* check-in dataset in the published training/test split
    of the `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper (the split of
    its authors' code, shared with NGCF): 29,858 users, 40,981 items,
    810,128 training and 217,242 test interactions (1,027,370 in all),
    each user's interactions split at random 80% / 20%.
    There is no validation file; :meth:`splits` can carve a validation part
    out of each user's training interactions.

    .. list-table::
        :widths: 10 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - train
          - test
        * - 29,858
          - 40,981
          - 810,128
          - 217,242

    The LightGCN paper reports LightGCN (3 layers, dim 64) at Recall@20
    0.1830 and NDCG@20 0.1554 on this split.

    The raw files :obj:`train.txt` and :obj:`test.txt` hold one line per
    user, :obj:`user_id item_1 item_2 ...` with 0-based ids, and are read by
    :func:`~adar_pyg.datasets.read_lightgcn_split` (the id maps
    :obj:`user_list.txt` and :obj:`item_list.txt` are not needed and not
    fetched). They are fetched from :obj:`mirror` if given (a local folder
    laid out as :obj:`<mirror>/gowalla/<file>`), else from the folder in the
    environment variable :obj:`ADAR_PYG_MIRROR` if set, else downloaded from
    :obj:`url` (the LightGCN authors' repository); their MD5 checksums are
    verified at every load, and the processed cache is rebuilt when it was
    built from other files (see
    :class:`~adar_pyg.datasets.utils.VerifiedInMemoryDataset`).

    The dataset holds one :class:`~torch_geometric.data.HeteroData` object
    with :obj:`data['user'].num_nodes` and :obj:`data['item'].num_nodes`
    (the largest ids of both files plus one), the training interactions in
    :obj:`data['user', 'rates', 'item'].edge_index` (sorted, and flipped in
    :obj:`data['item', 'rated_by', 'user'].edge_index`) and the test
    interactions in :obj:`test_edge_label_index` of the same edge type.

    .. code-block:: python

        from adar_pyg.datasets import Gowalla

        dataset = Gowalla('datasets/')
        views = dataset.splits(val_ratio=0.1, seed=0)
        train_data, val_data, test_data = (views[k] for k in
                                           ('train', 'val', 'test'))

    Args:
        root (str): Root directory where the dataset should be saved (under
            :obj:`<root>/gowalla`).
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
    url = ('https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data/'
           'gowalla/{}')

    #: The sub-folder of the mirror (and of :obj:`root`).
    folder: str = 'gowalla'
    #: Raw file name -> MD5 checksum.
    md5: Dict[str, str] = {
        'train.txt': '5eec1eb2edb8dd648377d348b8e136cf',
        'test.txt': 'c04e2c4bcd2389f53ed8281816166149',
    }
    #: The expected statistics: users, items and interactions per split.
    stats: Dict[str, int] = dict(users=29858, items=40981, train=810128,
                                 test=217242)

    def __init__(
        self,
        root: str,
        mirror: Optional[str] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
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
    def raw_file_names(self) -> List[str]:
        return list(self.md5)

    @property
    def processed_file_names(self) -> str:
        return 'data.pt'

    def expected_md5(self) -> Dict[str, str]:
        return dict(self.md5)

    def download(self) -> None:
        for file_name, md5 in self.md5.items():
            fetch_file(self.__class__.__name__, self.url.format(file_name),
                       md5, self.raw_dir, file_name, self.mirror,
                       osp.join(self.folder, file_name))

    def process(self) -> None:
        train, _, test = read_lightgcn_split(self.raw_dir)
        data = HeteroData()
        data['user'].num_nodes = train['user'].num_nodes
        data['item'].num_nodes = train['item'].num_nodes
        data[EDGE_TYPE].edge_index = train[EDGE_TYPE].edge_index
        store = data[EDGE_TYPE]
        store.test_edge_label_index = test[EDGE_TYPE].edge_label_index
        data[REV_EDGE_TYPE].edge_index = train[EDGE_TYPE].edge_index.flip([0])
        data.num_duplicates_removed = train.num_duplicates_removed

        if self.pre_transform is not None:
            data = self.pre_transform(data)

        with atomic_path(self.processed_paths[0]) as tmp:  # Shared caches
            self.save([data], tmp)  # are read by other runs meanwhile.

    def splits(self, val_ratio: float = 0.0,
               seed: int = 0) -> Dict[str, HeteroData]:
        r"""The splits :obj:`"train"`, :obj:`"val"` and :obj:`"test"`, each
        a :class:`~torch_geometric.data.HeteroData` object in the form of
        :class:`~adar_pyg.transforms.PerUserRandomSplit` (the training
        interactions as message-passing edges, the split's own in
        :obj:`edge_label_index`), ready for :class:`~adar_pyg.train.CFTask`.

        The test split is the published one. With :obj:`val_ratio > 0`, a
        validation part is carved out of each user's published training
        interactions at random by
        :class:`~adar_pyg.transforms.PerUserRandomSplit` (its test-size rule:
        :math:`\min(\max(\lfloor n \cdot r + 1/2 \rfloor, 1), n - 1)` of a
        user's :math:`n` training interactions, so every user with at least
        two of them has one), and removed from the training graph; with
        :obj:`val_ratio=0` (the paper's protocol) the validation split holds
        no interaction.

        Args:
            val_ratio (float, optional): The share :math:`r` of each user's
                training interactions held out for validation, in
                :obj:`[0, 1)`. (default: :obj:`0.0`)
            seed (int, optional): The seed of the validation draw.
                (default: :obj:`0`)
        """
        if not 0.0 <= val_ratio < 1.0:
            raise ValueError(f"'val_ratio' must lie in [0, 1) "
                             f"(got {val_ratio})")
        data = self[0]
        store = data[EDGE_TYPE]
        train, test = store.edge_index, store.test_edge_label_index
        val = train.new_empty(2, 0)
        if val_ratio > 0:
            carve = PerUserRandomSplit(test_ratio=val_ratio, val_ratio=0.0,
                                       seed=seed)
            train_only = HeteroData()
            train_only['user'].num_nodes = data['user'].num_nodes
            train_only['item'].num_nodes = data['item'].num_nodes
            train_only[EDGE_TYPE].edge_index = train
            rest, _, held_out = carve(train_only)
            train = rest[EDGE_TYPE].edge_label_index
            val = held_out[EDGE_TYPE].edge_label_index
        return split_views(data['user'].num_nodes, data['item'].num_nodes,
                           train, {'train': train, 'val': val, 'test': test})

    def __repr__(self) -> str:
        try:
            data = self._data
            return (f"{self.__class__.__name__}(users="
                    f"{data['user'].num_nodes}, items="
                    f"{data['item'].num_nodes}, "
                    f"train={data[EDGE_TYPE].edge_index.size(1)}, "
                    f"test={data[EDGE_TYPE].test_edge_label_index.size(1)})")
        except (KeyError, AttributeError):  # Changed by a `pre_transform`.
            return f'{self.__class__.__name__}()'
