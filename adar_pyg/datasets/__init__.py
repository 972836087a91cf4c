r"""Recommendation datasets as :class:`~torch_geometric.data.HeteroData`."""

from .utils import (
    ChecksumError,
    DatasetFormatError,
    DatasetFormatWarning,
    DownloadError,
    default_mirror,
    md5sum,
)
from .interactions import read_interactions, split_views
from .table import DataFileNotFoundError, RawIds, read_interactions_table
from .lightgcn_format import read_lightgcn_split
from .s3rec import (
    read_s3rec,
    S3RecDataset,
    AmazonBeauty,
    AmazonToys,
    AmazonSports,
    Yelp,
)
from .ood import OODDataset, OODFood, OODYelp2018
from .gowalla import Gowalla

__all__ = [
    'S3RecDataset',
    'AmazonBeauty',
    'AmazonToys',
    'AmazonSports',
    'Yelp',
    'OODDataset',
    'OODFood',
    'OODYelp2018',
    'Gowalla',
    'read_s3rec',
    'read_interactions',
    'read_interactions_table',
    'RawIds',
    'DataFileNotFoundError',
    'read_lightgcn_split',
    'split_views',
    'default_mirror',
    'md5sum',
    'DatasetFormatError',
    'DatasetFormatWarning',
    'ChecksumError',
    'DownloadError',
]
