import hashlib
import json
import os
import os.path as osp
import shutil
import urllib.error
import warnings
from typing import Dict, Optional

from torch_geometric.data import InMemoryDataset, download_url

from adar_pyg.errors import DataError
from adar_pyg.io import CorruptFileError, atomic_path

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
                raise RuntimeError(
                    f"Could not download '{url}' ({e}). Without internet "
                    f"access, pass 'mirror' or set {MIRROR_ENV_VAR} to a "
                    f"local folder holding '{mirror_path or file_name}'"
                ) from e
        check_md5(tmp_path, md5, name=file_name)
    return path


#: The file of a processed folder that records the MD5 checksums of the raw
#: files the cache was built from.
RAW_MD5_FILE = 'raw_md5.json'


class VerifiedInMemoryDataset(InMemoryDataset):
    r"""An :class:`~torch_geometric.data.InMemoryDataset` that trusts no file
    on disk:

    * every raw file is checked against its known MD5 checksum
      (:meth:`expected_md5`) at every load, not only when it is fetched: a
      truncated or altered file already in :obj:`raw_dir` raises a
      :class:`ChecksumError` naming it, before anything is processed;
    * the processed cache records the MD5 checksums of the raw files it was
      built from (:obj:`processed/raw_md5.json`) and is rebuilt, with a
      warning, when they differ (or are not recorded);
    * a damaged cache raises a :class:`~adar_pyg.io.CorruptFileError`
      naming it and the fix (:obj:`force_reload=True`, or deleting it),
      instead of a bare :class:`EOFError`.
    """
    def expected_md5(self) -> Dict[str, str]:
        r"""Raw file name (in :obj:`raw_dir`) -> its MD5 checksum (an empty
        checksum: not checked, only recorded)."""
        raise NotImplementedError

    def _process(self) -> None:
        owner = self.__class__.__name__
        raw_md5 = {}
        for name, expected in self.expected_md5().items():
            path = osp.join(self.raw_dir, name)
            actual = md5sum(path)
            if expected and actual != expected.lower():
                raise ChecksumError(
                    f"{owner}: the raw file '{path}' has MD5 {actual}, "
                    f"expected {expected}: it is truncated or altered. "
                    f"Delete it to fetch an intact copy again (from the "
                    f"mirror or by download)")
            raw_md5[name] = actual
        record = osp.join(self.processed_dir, RAW_MD5_FILE)
        recorded = None
        if osp.isfile(record):
            try:
                with open(record) as f:
                    recorded = json.load(f)
            except (OSError, ValueError):
                recorded = None
        force = self.force_reload
        cached = all(osp.isfile(p) for p in self.processed_paths)
        if not force and cached and recorded != raw_md5:
            warnings.warn(
                f"{owner}: the processed cache in '{self.processed_dir}' was "
                f"not built from the raw files now in '{self.raw_dir}' "
                f"(recorded MD5: {recorded or 'none'}, now: {raw_md5}); "
                f"rebuilding it", stacklevel=5)
            self.force_reload = True
        try:
            super()._process()
        finally:
            self.force_reload = force
        if recorded != raw_md5 or force or not cached:
            with atomic_path(record) as tmp, open(tmp, 'w') as f:
                json.dump(raw_md5, f, indent=1, sort_keys=True)

    def load(self, path: str, *args, **kwargs) -> None:
        try:
            super().load(path, *args, **kwargs)
        except Exception as e:
            raise CorruptFileError(
                f"{self.__class__.__name__}: cannot read the processed cache "
                f"'{path}' ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else 'no detail'}): it is "
                f"truncated or damaged. Pass force_reload=True or delete it "
                f"to rebuild it from the raw files") from e
