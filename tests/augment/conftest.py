import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    # The tests are tiny: threads only add overhead on a shared machine.
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)
