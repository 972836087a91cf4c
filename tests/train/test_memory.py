"""adar_pyg.train.memory: freed memory is reused (fewer page faults), and
runs call it unless --no-reuse-memory. (That it changes no value is checked
on committed cells by benchmarks/rerun_check.py, not here.)"""
import subprocess
import sys

import pytest
import torch

from adar_pyg.train import memory

glibc = pytest.mark.skipif(memory._libc() is None, reason='needs glibc')

# 50 times: four 16 MiB tensors alive at once (as a step's temporaries),
# written, then freed; prints the page faults of the loop.
LOOP = '''import resource, sys, torch
from adar_pyg.train.memory import reuse_freed_memory
if sys.argv[1] == 'reuse':
    assert reuse_freed_memory()
torch.empty(1).fill_(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    x = torch.empty(4 << 20)
    x.fill_(1.0)
    y, z, w = x * 2, x * 3, x * 4
    del x, y, z, w
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''


def page_faults(mode):
    out = subprocess.run([sys.executable, '-c', LOOP, mode], check=True,
                         capture_output=True, text=True, timeout=120)
    return int(out.stdout)


@glibc
def test_fewer_page_faults():
    # 16 MiB = 4096 pages per tensor. glibc's default raises its mmap
    # threshold to a freed block's size and gives the top of the heap back
    # beyond twice that, so much of what is freed at the end of an
    # iteration goes back and is faulted in again: measured 102k to 818k
    # faults, as its heap happens to lie. With reuse only the first
    # iterations fault: 16k to 41k.
    default, reuse = page_faults('default'), page_faults('reuse')
    assert reuse < 16 * 4096
    assert default > reuse


@glibc
def test_threshold_is_capped():
    assert memory.reuse_freed_memory(mmap_threshold=1 << 40)


def test_no_glibc(monkeypatch):
    monkeypatch.setattr(memory, '_libc', lambda: None)
    assert memory.reuse_freed_memory() is False


@pytest.mark.parametrize('flag,calls', [([], 1), (['--no-reuse-memory'], 0)])
def test_setup_calls_it(monkeypatch, flag, calls):
    import argparse

    from adar_pyg.config import add_config_args, config_from_args, parse_args
    from adar_pyg.pipeline import setup
    called = []
    monkeypatch.setattr(memory, 'reuse_freed_memory',
                        lambda: called.append(1) or True)
    parser = argparse.ArgumentParser()
    add_config_args(parser)
    cfg = config_from_args(parse_args(parser, ['--device', 'cpu'] + flag),
                           preset={})
    threads = torch.get_num_threads()
    try:
        setup(cfg)
    finally:
        torch.set_num_threads(threads)
    assert len(called) == calls
