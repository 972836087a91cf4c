r"""Recommendation datasets as :class:`~torch_geometric.data.HeteroData`."""

from .utils import (
    ChecksumError,
    DatasetFormatError,
    default_mirror,
    md5sum,
)
from .s3rec import (
    read_s3rec,
    S3RecDataset,
    AmazonBeauty,
    AmazonToys,
    AmazonSports,
    Yelp,
)

__all__ = [
    'S3RecDataset',
    'AmazonBeauty',
    'AmazonToys',
    'AmazonSports',
    'Yelp',
    'read_s3rec',
    'default_mirror',
    'md5sum',
    'DatasetFormatError',
    'ChecksumError',
]
