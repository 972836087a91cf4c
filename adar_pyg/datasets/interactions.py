import os.path as osp
import warnings
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from torch_geometric.data import HeteroData

from adar_pyg.datasets.utils import DatasetFormatError, DatasetFormatWarning

EDGE_TYPE = ('user', 'rates', 'item')
REV_EDGE_TYPE = ('item', 'rated_by', 'user')

LINE_FORMATS = ('lists', 'triplets')
ON_MALFORMED = ('raise', 'skip')

# At most this many skipped lines are named in the warning:
MAX_REPORTED = 20


MAX_ID = 2**63 - 1


def _parse_line(tokens: List[bytes],
                line_format: str) -> Tuple[List[int], Optional[str]]:
    r"""The ids of one line (user first), or the reason it is malformed."""
    if line_format == 'triplets' and len(tokens) != 3:
        return [], (f"expected 3 fields 'user item rating', got "
                    f"{len(tokens)}")
    id_tokens = tokens[:2] if line_format == 'triplets' else tokens
    try:
        ids = [int(t) for t in id_tokens]
    except ValueError:
        bad = next(t for t in id_tokens if not t.lstrip(b'-').isdigit())
        return [], f"token '{bad.decode(errors='replace')}' is not an integer"
    if min(ids) < 0:
        return [], f"ids must be >= 0 (0-based), got {min(ids)}"
    if max(ids) > MAX_ID:  # torch.long holds the ids.
        return [], f"id {max(ids)} is larger than the largest int64 ({MAX_ID})"
    if line_format == 'triplets':
        rating = tokens[2].decode(errors='replace')
        try:
            positive = float(rating) > 0
        except ValueError:
            positive = False
        if not positive:
            return [], f"rating '{rating}' is not a positive number"
    return ids, None


def read_interactions(
    path: str,
    line_format: str = 'lists',
    on_malformed: str = 'raise',
    max_skipped: int = 10,
    name: Optional[str] = None,
) -> Tuple[Tensor, int, List[str]]:
    r"""Reads a file of (user, item) interactions with 0-based ids, in one of
    two line formats:

    * :obj:`"lists"`: one line per user, :obj:`user_id item_1 item_2 ...`
      (the NGCF / LightGCN / AHNS split files); a line with a user id only
      holds no interaction.
    * :obj:`"triplets"`: one line per interaction, :obj:`user_id item_id
      rating` (the SELFRec files, *e.g.*, the OOD splits of
      :class:`~adar_pyg.datasets.OODFood`); the rating must be a positive
      number and is otherwise ignored (implicit feedback: every listed pair
      is a positive interaction).

    Blank lines are ignored. Repeated (user, item) pairs are merged; their
    number is returned.

    A line is *malformed* if it has a non-integer or negative id, or, in
    :obj:`"triplets"` format, not exactly three fields or a rating that is
    not a positive number. The policy for malformed lines is explicit:

    * :obj:`on_malformed="raise"`: the first one raises a
      :class:`~adar_pyg.datasets.DatasetFormatError`.
    * :obj:`on_malformed="skip"`: they are skipped, and one
      :class:`~adar_pyg.datasets.DatasetFormatWarning` names each of them
      (:obj:`"<file name>:<line number>: <what is wrong>"`). More than
      :obj:`max_skipped` malformed lines raise a
      :class:`~adar_pyg.datasets.DatasetFormatError` all the same: the file
      is then most likely not in the expected format, and dropping lines
      would silently misparse it.

    Args:
        path (str): The file to read.
        line_format (str, optional): :obj:`"lists"` or :obj:`"triplets"`.
            (default: :obj:`"lists"`)
        on_malformed (str, optional): :obj:`"raise"` or :obj:`"skip"`.
            (default: :obj:`"raise"`)
        max_skipped (int, optional): The largest number of malformed lines
            that :obj:`on_malformed="skip"` skips. (default: :obj:`10`)
        name (str, optional): The file name in messages. If set to
            :obj:`None`, will be the base name of :obj:`path`.
            (default: :obj:`None`)

    Returns:
        The unique (user, item) pairs as a :obj:`torch.long` tensor of shape
        :obj:`[2, E]` (sorted by user, then item), the number of repeated
        pairs removed, and the messages of the skipped lines.
    """
    if line_format not in LINE_FORMATS:
        raise ValueError(f"Unknown line format {line_format!r} (valid "
                         f"options: {', '.join(map(repr, LINE_FORMATS))})")
    if on_malformed not in ON_MALFORMED:
        raise ValueError(f"Unknown policy {on_malformed!r} for malformed "
                         f"lines (valid options: "
                         f"{', '.join(map(repr, ON_MALFORMED))})")
    if max_skipped < 0:
        raise ValueError(f"'max_skipped' must be >= 0 (got {max_skipped})")

    name = name or osp.basename(path)
    users: List[int] = []
    items: List[int] = []
    skipped: List[str] = []
    with open(path, 'rb') as f:
        for lineno, line in enumerate(f, start=1):
            tokens = line.split()
            if not tokens:
                continue
            ids, problem = _parse_line(tokens, line_format)
            if problem is not None:
                message = f"{name}:{lineno}: {problem}"
                if on_malformed == 'raise':
                    raise DatasetFormatError(message)
                skipped.append(message)
                if len(skipped) > max_skipped:
                    raise DatasetFormatError(
                        f"{message} (more than max_skipped={max_skipped} "
                        f"malformed lines: is '{name}' in the "
                        f"'{line_format}' format?)")
                continue
            users += [ids[0]] * (len(ids) - 1)
            items += ids[1:]

    if skipped:
        shown = skipped[:MAX_REPORTED]
        more = len(skipped) - len(shown)
        warnings.warn(
            f"Skipped {len(skipped)} malformed line(s) of '{name}' "
            f"(on_malformed='skip'): " + '; '.join(shown) +
            (f'; and {more} more' if more else ''), DatasetFormatWarning,
            stacklevel=2)

    pairs = torch.tensor([users, items], dtype=torch.long).view(2, -1)
    num = pairs.size(1)
    if num:
        pairs = torch.unique(pairs, dim=1)
    return pairs, num - pairs.size(1), skipped


def split_views(
    num_users: int,
    num_items: int,
    train: Tensor,
    labels: Dict[str, Tensor],
) -> Dict[str, HeteroData]:
    r"""Builds one :class:`~torch_geometric.data.HeteroData` object per split
    in the form of :class:`~adar_pyg.transforms.PerUserRandomSplit`: each
    holds the training interactions :obj:`train` as message-passing edges in
    :obj:`data['user', 'rates', 'item'].edge_index` (and flipped in
    :obj:`data['item', 'rated_by', 'user'].edge_index`) and its own split's
    interactions in :obj:`edge_label_index`.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        train (torch.Tensor): The training pairs :obj:`[2, E]`.
        labels (Dict[str, torch.Tensor]): The pairs :obj:`[2, E_s]` of each
            split, by name.
    """
    out = {}
    for key, label in labels.items():
        data = HeteroData()
        data['user'].num_nodes = num_users
        data['item'].num_nodes = num_items
        data[EDGE_TYPE].edge_index = train
        data[EDGE_TYPE].edge_label_index = label
        data[REV_EDGE_TYPE].edge_index = train.flip([0])
        out[key] = data
    return out
