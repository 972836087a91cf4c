import hashlib
import os
import os.path as osp
import shutil
import urllib.error
from typing import Optional

from torch_geometric.data import download_url

from adar_pyg.io import atomic_path

#: Environment variable naming a local mirror of the dataset files.
MIRROR_ENV_VAR = 'ADAR_PYG_MIRROR'


class DatasetFormatError(ValueError):
    r"""Raised when a raw dataset file does not follow its expected format.

    The message reads :obj:`"<file name>:<line number>: <what is wrong>"`.
    """


class DatasetFormatWarning(UserWarning):
    r"""Emitted when lines of a raw dataset file are skipped by an explicit
    policy (see :func:`~adar_pyg.datasets.read_interactions`); the message
    names each skipped line as :obj:`"<file name>:<line number>: <what is
    wrong>"`.
    """


class ChecksumError(RuntimeError):
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
