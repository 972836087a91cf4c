from adar_pyg.train.task import BatchOutput, RecTask
from adar_pyg.train.cf_task import CFTask
from adar_pyg.train.sr_task import SRTask
from adar_pyg.train.neighbor_sampler import TorchNeighborSampler
from adar_pyg.train.sampled_task import SampledCFTask
from adar_pyg.train.checkpoint import (CheckpointMismatchError, check_fits,
                                       load_checkpoint, save_checkpoint)
from adar_pyg.train.trainer import Trainer, TrainResult

__all__ = [
    'BatchOutput', 'RecTask', 'CFTask', 'SRTask', 'SampledCFTask',
    'TorchNeighborSampler', 'Trainer',
    'TrainResult', 'save_checkpoint', 'load_checkpoint', 'check_fits',
    'CheckpointMismatchError'
]
