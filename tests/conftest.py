import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    # Unit tests work on tiny graphs: threads only add overhead (and noise)
    # on a shared 2-core machine. Subprocess tests set their own threads.
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)
