r"""Imports a script of the repository as a module: ``benchmarks/`` and
``examples/`` are folders of scripts, not packages. The script's folder goes
on :obj:`sys.path` first, for its sibling imports (``from common import``)."""
import importlib.util
import os
import sys
from types import ModuleType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relpath: str) -> ModuleType:
    r"""The module of the script at :obj:`relpath` (relative to the
    repository root, e.g. ``'benchmarks/table2.py'``)."""
    path = os.path.join(ROOT, relpath)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_files(folders=('adar_pyg', 'examples', 'benchmarks')):
    r"""(file name, text) of every Python file under :obj:`folders` of the
    repository."""
    for folder in folders:
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith('.py'):
                    with open(os.path.join(dirpath, name)) as f:
                        yield name, f.read()


def snapshot(folder):
    r"""Every file of :obj:`folder` with its bytes (a run directory's lock
    file aside): what a command that must write nothing leaves as it was."""
    from adar_pyg import rundir
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if name != rundir.LOCK:
                path = os.path.join(root, name)
                with open(path, 'rb') as f:
                    out[os.path.relpath(path, folder)] = f.read()
    return out
