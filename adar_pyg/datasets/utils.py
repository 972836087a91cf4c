import hashlib
import io
import json
import os
import os.path as osp
import re
import shutil
import sys
import urllib.error
import warnings
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Type

import torch

from torch_geometric.data import Data, InMemoryDataset, download_url
from torch_geometric.data.data import BaseData

from adar_pyg.errors import DataError
from adar_pyg.io import CorruptFileError, atomic_path, file_lock, write_text

#: Environment variable naming a local mirror of the dataset files.
MIRROR_ENV_VAR = 'ADAR_PYG_MIRROR'


class DatasetFormatError(DataError, ValueError):
    r"""Raised when a raw dataset file does not follow its expected format.

    The message reads :obj:`"<file name>:<line number>: <what is wrong>"`.
    """


class DatasetFormatWarning(UserWarning):
    r"""Emitted when lines of a raw dataset file are skipped by an explicit
    policy (see :func:`~adar_pyg.datasets.read_interactions`); the message
    names each skipped line as :obj:`"<file name>:<line number>: <what is
    wrong>"`.
    """


class ChecksumError(DataError, RuntimeError):
    r"""Raised when a fetched dataset file does not have the expected MD5
    checksum.
    """


class DownloadError(DataError, RuntimeError):
    r"""Raised when a dataset file cannot be downloaded from its canonical
    URL (no internet access, a server that refuses); the message names the
    mirror that would do instead.
    """


def md5sum(path: str, chunk_size: int = 1 << 20) -> str:
    r"""Returns the hexadecimal MD5 digest of the file at :obj:`path`.

    Args:
        path (str): The file.
        chunk_size (int, optional): Number of bytes read at a time.
            (default: :obj:`1048576`)
    """
    md5 = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            md5.update(chunk)
    return md5.hexdigest()


def check_md5(path: str, expected: str, name: Optional[str] = None) -> None:
    r"""Verifies the MD5 checksum of the file at :obj:`path`.
    On mismatch, the file is deleted and a :class:`ChecksumError` naming the
    file, the expected and the actual checksum is raised.

    Args:
        path (str): The file to verify.
        expected (str): The expected hexadecimal MD5 digest.
        name (str, optional): The file name used in the error message.
            If set to :obj:`None`, will use the base name of :obj:`path`.
            (default: :obj:`None`)
    """
    actual = md5sum(path)
    if actual != expected.lower():
        os.remove(path)
        name = name or osp.basename(path)
        raise ChecksumError(
            f"MD5 mismatch for '{name}': expected {expected}, got {actual}. "
            f"The corrupted copy '{path}' has been deleted; fetch the "
            f"file again from an intact source")


def resolve_mirror(mirror: Optional[str] = None) -> Optional[str]:
    r"""Returns :obj:`mirror` if given, else the value of the environment
    variable :obj:`ADAR_PYG_MIRROR` if set and non-empty, else :obj:`None`.

    Args:
        mirror (str, optional): An explicit mirror folder.
            (default: :obj:`None`)
    """
    if mirror is not None:
        return str(mirror)
    return os.environ.get(MIRROR_ENV_VAR) or None


def default_mirror() -> Optional[str]:
    r"""Returns the local dataset mirror to use by default:
    the environment variable :obj:`ADAR_PYG_MIRROR` if set, else the folder
    :obj:`<repository root>/../shared/datasets` if it exists, else
    :obj:`None`.

    A mirror is laid out as :obj:`<mirror>/<folder>/<file>`, *e.g.*,
    :obj:`<mirror>/amazon-beauty/Beauty.txt`.
    """
    mirror = resolve_mirror(None)
    if mirror is not None:
        return mirror
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    path = osp.normpath(osp.join(repo_root, '..', 'shared', 'datasets'))
    return path if osp.isdir(path) else None


def fetch_file(
    owner: str,
    url: str,
    md5: str,
    raw_dir: str,
    file_name: str,
    mirror: Optional[str] = None,
    mirror_path: Optional[str] = None,
) -> str:
    r"""Fetches a raw dataset file into :obj:`raw_dir`: copied from
    :obj:`<mirror>/<mirror_path>` if :obj:`mirror` is set, else downloaded
    from :obj:`url`. The file is written under a temporary name unique to
    the call and only gets its final name once its MD5 checksum is verified
    (see :func:`check_md5` and :func:`~adar_pyg.io.atomic_path`). Returns
    the path of the file.

    Args:
        owner (str): The dataset's name, for error messages.
        url (str): The canonical URL of the file.
        md5 (str): The expected hexadecimal MD5 digest.
        raw_dir (str): The folder to write to.
        file_name (str): The name of the file in :obj:`raw_dir`.
        mirror (str, optional): A local mirror folder. (default: :obj:`None`)
        mirror_path (str, optional): The path of the file within the mirror.
            If set to :obj:`None`, will be :obj:`file_name`.
            (default: :obj:`None`)
    """
    path = osp.join(raw_dir, file_name)
    # Only verified files get the final name; the temporary name is unique
    # to this call, so runs fetching the same file at once do not collide.
    with atomic_path(path) as tmp_path:
        if mirror is not None:
            mirror_path = mirror_path or file_name
            src = osp.join(mirror, mirror_path)
            if not osp.isfile(src):
                raise FileNotFoundError(
                    f"'{owner}' expected the file '{src}' in the mirror "
                    f"'{mirror}' (given by the 'mirror' argument or the "
                    f"{MIRROR_ENV_VAR} environment variable), but it does "
                    f"not exist. Point 'mirror' or {MIRROR_ENV_VAR} at a "
                    f"folder holding '{mirror_path}', or set neither to "
                    f"download it from {url}")
            shutil.copyfile(src, tmp_path)
        else:
            try:
                download_url(url, osp.dirname(tmp_path),
                             filename=osp.basename(tmp_path))
            except urllib.error.URLError as e:
                raise DownloadError(
                    f"Could not download '{url}' ({e}). Without internet "
                    f"access, pass 'mirror' or set {MIRROR_ENV_VAR} to a "
                    f"local folder holding '{mirror_path or file_name}'"
                ) from e
        check_md5(tmp_path, md5, name=file_name)
    return path


def file_digests(path: str, chunk_size: int = 1 << 20) -> Dict[str, str]:
    r"""Returns the hexadecimal MD5 and SHA-256 digests of the file at
    :obj:`path` (:obj:`{'md5': ..., 'sha256': ...}`), read once."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            md5.update(chunk)
            sha256.update(chunk)
    return {'md5': md5.hexdigest(), 'sha256': sha256.hexdigest()}


#: The sidecar of a processed folder: the digests of the raw files the cache
#: was built from and of each processed file (see
#: :class:`VerifiedInMemoryDataset`).
CACHE_RECORD_FILE = 'cache.json'

#: Files that PyG (and older versions of adar_pyg) write into a processed
#: folder. They are never read, since reading them would unpickle arbitrary
#: objects, and are removed when the cache is rebuilt.
LEGACY_PROCESSED_FILES = ('pre_transform.pt', 'pre_filter.pt',
                          'raw_md5.json')


def _recorded_sha256(record: Optional[Dict[str, Any]],
                     path: str) -> Optional[str]:
    processed = (record or {}).get('processed')
    entry = (processed.get(osp.basename(path))
             if isinstance(processed, dict) else None)
    return entry.get('sha256') if isinstance(entry, dict) else None


def _repr(obj: Any) -> str:  # As PyG records a pre_transform.
    return 'None' if obj is None else re.sub(r'(<.*?)\s.*(>)', r'\1\2',
                                             str(obj))


class VerifiedInMemoryDataset(InMemoryDataset):
    r"""An :class:`~torch_geometric.data.InMemoryDataset` that trusts no file
    on disk, and never unpickles one (a data folder may be shared, and a
    pickle runs code when it is loaded):

    * every raw file is checked against its known MD5 checksum
      (:meth:`expected_md5`) at every load, not only when it is fetched: a
      truncated or altered file already in :obj:`raw_dir` raises a
      :class:`ChecksumError` naming it, before anything is processed;
    * building the processed cache writes a sidecar,
      :obj:`processed/cache.json` (atomically), with the MD5 and SHA-256
      digests of the raw files it was built from, the SHA-256 digest of
      each processed file and the :obj:`pre_transform` it was built with.
      The cache is used only if the sidecar matches all of them; otherwise
      (another dataset's cache copied in, a file altered or replaced, no
      sidecar) it is rebuilt from the raw files, with a warning saying why;
    * a processed file is read with :obj:`torch.load(weights_only=True)`
      only, from the very bytes whose digest was checked; PyG's
      :obj:`pre_transform.pt` and :obj:`pre_filter.pt` are never read (nor
      written), and a file that does not load raises a
      :class:`~adar_pyg.io.CorruptFileError` naming it and the fix
      (:obj:`force_reload=True`, or deleting it);
    * the loaded data is checked against the statistics the class declares
      in :attr:`stats` (see :meth:`statistics`; skipped with a
      :obj:`pre_transform`): a mismatch raises a
      :class:`~adar_pyg.errors.DataError` naming the file, the expected and
      the found numbers.

    Builders of one cache take an exclusive lock on
    :obj:`processed/.lock` (readers a shared one, where the folder is
    writable), so processes sharing a folder never mix two builds.
    After loading, :attr:`cache_record` holds the sidecar's content.
    """
    #: The expected statistics of the processed data (see
    #: :meth:`statistics`); empty: not checked.
    stats: Dict[str, int] = {}
    #: Whether the dataset comes with its published CF split (its
    #: :meth:`splits`), which a run uses instead of a random one.
    published_split: bool = False
    #: The edge type whose edges :meth:`statistics` counts.
    edge_type = ('user', 'rates', 'item')
    #: The sidecar of the loaded cache (:obj:`processed/cache.json`): the
    #: digests of its raw and processed files.
    cache_record: Optional[Dict[str, Any]] = None

    def expected_md5(self) -> Dict[str, str]:
        r"""Raw file name (in :obj:`raw_dir`) -> its MD5 checksum (an empty
        checksum: not checked, only recorded)."""
        raise NotImplementedError

    def statistics(self) -> Dict[str, int]:
        r"""The statistics of the loaded data, under the keys of
        :attr:`stats`: :obj:`"users"` and :obj:`"items"` are node counts,
        :obj:`"interactions"` and :obj:`"train"` the number of edges of
        :attr:`edge_type`, and any other key :obj:`k` the number of
        held-out pairs in its :obj:`<k>_edge_label_index`."""
        data, found = self._data, {}
        for key in self.stats:
            if key in ('users', 'items'):
                found[key] = int(data[key[:-1]].num_nodes)
            elif key in ('interactions', 'train'):
                found[key] = int(data[self.edge_type].edge_index.size(1))
            else:
                found[key] = int(
                    data[self.edge_type][f'{key}_edge_label_index'].size(1))
        return found

    @property
    def cache_record_path(self) -> str:
        r"""The sidecar of the processed cache."""
        return osp.join(self.processed_dir, CACHE_RECORD_FILE)

    def _raw_digests(self) -> Dict[str, Dict[str, str]]:
        owner, digests = self.__class__.__name__, {}
        for name, expected in self.expected_md5().items():
            path = osp.join(self.raw_dir, name)
            digests[name] = file_digests(path)
            actual = digests[name]['md5']
            if expected and actual != expected.lower():
                raise ChecksumError(
                    f"{owner}: the raw file '{path}' has MD5 {actual}, "
                    f"expected {expected}: it is truncated or altered. "
                    f"Delete it to fetch an intact copy again (from the "
                    f"mirror or by download)")
        return digests

    def _read_record(self) -> Optional[Dict[str, Any]]:
        try:
            with open(self.cache_record_path, encoding='utf-8') as f:
                record = json.load(f)
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def _stale_reason(self, raw: Dict[str, Dict[str, str]]
                      ) -> Optional[str]:
        r"""Why the processed cache cannot be used: :obj:`None` if it can,
        :obj:`""` if there is none."""
        if not any(osp.isfile(p) for p in self.processed_paths):
            return ''
        missing = [p for p in self.processed_paths if not osp.isfile(p)]
        if missing:
            return f"the processed file '{missing[0]}' is missing"
        record = self._read_record()
        if record is None:
            return (f"it has no readable digest record "
                    f"'{self.cache_record_path}' (built by another tool or "
                    f"an older version)")
        if record.get('raw') != raw:
            recorded = record.get('raw')
            if isinstance(recorded, dict):
                recorded = {name: d.get('sha256') if isinstance(d, dict)
                            else d for name, d in recorded.items()}
            now = {name: d['sha256'] for name, d in raw.items()}
            return (f"it was not built from the raw files now in "
                    f"'{self.raw_dir}' (recorded SHA-256: {recorded or 'none'}"
                    f", now: {now})")
        for path in self.processed_paths:
            expected = _recorded_sha256(record, path)
            actual = file_digests(path)['sha256']
            if actual != expected:
                return (f"'{path}' does not match its recorded digest "
                        f"(SHA-256 {actual}, recorded {expected or 'none'}): "
                        f"it was altered or replaced after it was built")
        for key, obj in (('pre_transform', self.pre_transform),
                         ('pre_filter', self.pre_filter)):
            if record.get(key) != _repr(obj):
                return (f"it was built with {key} {record.get(key)!r}, not "
                        f"{_repr(obj)!r}")
        return None

    @contextmanager
    def _cache_lock(self, exclusive: bool) -> Iterator[None]:
        if exclusive:
            os.makedirs(self.processed_dir, exist_ok=True)
        with file_lock(osp.join(self.processed_dir, '.lock'), exclusive):
            yield

    def _process(self) -> None:
        # Replaces PyG's `Dataset._process`, which unpickles
        # `pre_transform.pt` and `pre_filter.pt` (`weights_only=False`).
        owner = self.__class__.__name__
        raw = self._raw_digests()
        if not self.force_reload:
            with self._cache_lock(exclusive=False):
                reason = self._stale_reason(raw)
            if reason is None:
                return
            if reason:
                warnings.warn(
                    f"{owner}: the processed cache in '{self.processed_dir}' "
                    f"cannot be used: {reason}; rebuilding it from the raw "
                    f"files", stacklevel=5)
        with self._cache_lock(exclusive=True):
            # Another process may have rebuilt it while we waited:
            if not self.force_reload and self._stale_reason(raw) is None:
                return
            for name in (CACHE_RECORD_FILE, ) + LEGACY_PROCESSED_FILES:
                path = osp.join(self.processed_dir, name)
                if osp.isfile(path):
                    os.remove(path)
            if self.log and 'PYTEST_CURRENT_TEST' not in os.environ:
                print('Processing...', file=sys.stderr)
            self.process()
            record = {
                'dataset': owner,
                'raw': raw,
                'processed': {
                    osp.basename(path): {
                        'sha256': file_digests(path)['sha256']
                    }
                    for path in self.processed_paths
                },
                'pre_transform': _repr(self.pre_transform),
                'pre_filter': _repr(self.pre_filter),
            }
            write_text(self.cache_record_path,
                       json.dumps(record, indent=1, sort_keys=True) + '\n')
            if self.log and 'PYTEST_CURRENT_TEST' not in os.environ:
                print('Done!', file=sys.stderr)

    def load(self, path: str, data_cls: Type[BaseData] = Data) -> None:
        r"""Loads the processed file :obj:`path` with
        :obj:`torch.load(weights_only=True)` (never unpickling anything
        else), after checking its SHA-256 digest against the sidecar if it
        is one of :obj:`processed_paths`, then checks :attr:`stats`."""
        owner = self.__class__.__name__
        fix = ("Pass force_reload=True or delete it to rebuild it from the "
               "raw files")
        ours = osp.abspath(path) in {osp.abspath(p)
                                     for p in self.processed_paths}
        with self._cache_lock(exclusive=False):
            record = self._read_record() if ours else None
            try:
                with open(path, 'rb') as f:
                    content = f.read()
            except OSError as e:
                raise CorruptFileError(
                    f"{owner}: cannot read the processed cache '{path}' "
                    f"({e.strerror or e}). {fix}") from e
        if ours:
            expected = _recorded_sha256(record, path)
            actual = hashlib.sha256(content).hexdigest()
            if actual != expected:
                raise CorruptFileError(
                    f"{owner}: the processed cache '{path}' does not match "
                    f"its recorded digest (SHA-256 {actual}, recorded "
                    f"{expected or 'none'} in '{self.cache_record_path}'): "
                    f"it was altered or replaced after it was built. {fix}")
        try:
            out = torch.load(io.BytesIO(content), weights_only=True)
            if not isinstance(out, tuple) or len(out) not in (2, 3):
                raise TypeError(f'a {type(out).__name__}, not the tuple '
                                f'InMemoryDataset.save writes')
            data, slices = out[0], out[1]
            if len(out) == 3:
                data_cls = out[2]
            if not (isinstance(data_cls, type)
                    and issubclass(data_cls, BaseData)):
                raise TypeError(f'{data_cls!r} is not a data class')
            data = data_cls.from_dict(data) if isinstance(data,
                                                          dict) else data
            if not isinstance(data, BaseData):
                raise TypeError(f'a {type(data).__name__}, not data')
        except Exception as e:
            detail = str(e).splitlines()[0] if str(e) else 'no detail'
            raise CorruptFileError(
                f"{owner}: cannot read the processed cache '{path}' "
                f"({type(e).__name__}: {detail}): it is truncated, damaged "
                f"or not a dataset cache. {fix}") from e
        self.data, self.slices = data, slices
        self.cache_record = record
        self._check_stats(path)

    def _check_stats(self, path: str) -> None:
        if not self.stats or self.pre_transform is not None:
            return
        owner = self.__class__.__name__
        try:
            found: Any = self.statistics()
        except (KeyError, AttributeError, TypeError) as e:
            found = f'no {e} (not a user-item graph)'
        if found != dict(self.stats):
            raise DataError(
                f"{owner}: the processed cache '{path}' does not hold "
                f"{owner}'s data: expected {dict(self.stats)}, found "
                f"{found}",
                hint=("it is another dataset's cache or was built from "
                      "other files; delete it or pass force_reload=True to "
                      "rebuild it from the raw files"))
