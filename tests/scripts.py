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
