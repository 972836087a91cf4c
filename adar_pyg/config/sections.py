r"""Every hyper-parameter of a run, declared once. Flags, the YAML config file,
:obj:`--help`, the saved :obj:`config.yaml` and the README's settings table are
generated from these dataclasses (see :mod:`adar_pyg.config.flags` and
:mod:`adar_pyg.config.files`)."""
from dataclasses import dataclass
from typing import ClassVar, List, Optional

from adar_pyg.augment.negative_augmenter import SCORES, SOURCES, STRATEGIES
from adar_pyg.augment.schedule import SCHEDULES
from adar_pyg.config.settings import Section, setting
from adar_pyg.sampling import SAMPLERS

TASKS = ('cf', 'sr')
CF_MODELS = ('lightgcn', 'ngcf')
SR_MODELS = ('sasrec', 'gru4rec', 'cl4srec')
AUGMENTERS = ('none', 'adar', 'cnsdiff', 'reweight', 'noise')


@dataclass
class RunConfig(Section):
    key: ClassVar[str] = 'run'
    title: ClassVar[str] = 'run'
    task: str = setting('cf', "'cf' (collaborative filtering on the user-item "
                        "graph) or 'sr' (sequential recommendation)",
                        choices=TASKS)
    seed: int = setting(0, 'seed of all randomness (model, batches, '
                        'augmenter; the split too unless --split-seed)')
    device: str = setting('auto', "'auto' (cuda when available), 'cpu' or "
                          "'cuda'", choices=('auto', 'cpu', 'cuda'))
    threads: Optional[int] = setting(None, 'torch CPU threads (default: '
                                     'torch decides; with --nproc N: the '
                                     'CPU cores / N per process)', minimum=1)
    nproc: int = setting(1, 'data-parallel processes (torch.distributed: '
                         'gloo on CPU, NCCL on CUDA with one GPU each); '
                         '--batch-size is per process, so the global batch '
                         'is N x --batch-size. Under torchrun the '
                         "launcher's world size is used instead", minimum=1)
    port: Optional[int] = setting(None, 'with --nproc: the rendezvous port '
                                  'on 127.0.0.1 (default: a free one)',
                                  minimum=1)
    dist_timeout: float = setting(300.0, 'with --nproc: seconds a process '
                                  'waits for the others before failing',
                                  minimum=1.0)


@dataclass
class DataConfig(Section):
    key: ClassVar[str] = 'data'
    title: ClassVar[str] = 'data'
    dataset: str = setting('beauty', "built-in dataset (see 'adar-pyg "
                           "datasets'); ignored with --data")
    data: Optional[str] = setting(None, 'your own interactions file (CSV, '
                                  'TSV or Parquet), one row per interaction')
    user_col: str = setting('user', '--data: column of the user ids')
    item_col: str = setting('item', '--data: column of the item ids')
    time_col: Optional[str] = setting(
        'timestamp', '--data: column of the times (orders each user\'s '
        'interactions; optional)')
    rating_col: Optional[str] = setting(None, '--data: column of the ratings')
    min_rating: Optional[float] = setting(
        None, '--data: keep rows with rating >= this (needs --rating-col)')
    k_core: int = setting(0, '--data: keep users and items with at least '
                          'this many interactions (repeated until stable)',
                          minimum=0)
    data_root: str = setting('datasets', 'download / processed-cache folder')
    mirror: Optional[str] = setting(
        None, 'local mirror laid out like ../shared/datasets (default: '
        '$ADAR_PYG_MIRROR, else ../shared/datasets when present, else '
        'download)')


@dataclass
class SplitConfig(Section):
    key: ClassVar[str] = 'split'
    title: ClassVar[str] = 'split'
    val_ratio: float = setting(
        0.1, "CF: share of each user's training part held out for early "
        "stopping; 0 = the paper's literal protocol", minimum=0.0)
    test_ratio: float = setting(0.2, "CF: share of each user's interactions "
                                'held out for testing', minimum=0.0)
    split_seed: Optional[int] = setting(None, 'seed of the split (default: '
                                        '--seed)')
    max_len: int = setting(50, 'SR: maximum sequence length N', minimum=1)


@dataclass
class ModelConfig(Section):
    key: ClassVar[str] = 'model'
    title: ClassVar[str] = 'model'
    model: str = setting('lightgcn', 'backbone: lightgcn, ngcf (CF); sasrec, '
                         'gru4rec, cl4srec (SR)', choices=CF_MODELS +
                         SR_MODELS, sr='sasrec')
    dim: int = setting(64, 'embedding size', minimum=1)
    layers: Optional[int] = setting(
        None, 'propagation layers (default 3), self-attention blocks '
        '(default 2) or GRU layers (default 1)', minimum=1)
    heads: int = setting(1, 'SR: attention heads (SASRec, CL4SRec)',
                         minimum=1)
    dropout: Optional[float] = setting(
        None, 'SR: dropout (default 0.5 for SASRec and CL4SRec, 0.3 for '
        'GRU4Rec)', minimum=0.0)
    ngcf_node_dropout: float = setting(0.1, 'NGCF: node (edge) dropout',
                                       minimum=0.0)
    ngcf_message_dropout: float = setting(0.1, 'NGCF: message dropout',
                                          minimum=0.0)
    cl_weight: float = setting(0.1, 'CL4SRec: weight of the contrastive loss',
                               minimum=0.0)
    cl_temperature: float = setting(1.0, 'CL4SRec: InfoNCE temperature')
    cl_similarity: str = setting('dot', 'CL4SRec: InfoNCE similarity',
                                 choices=('dot', 'cos'))
    crop_ratio: float = setting(0.6, 'CL4SRec: crop augmentation ratio')
    mask_ratio: float = setting(0.3, 'CL4SRec: mask augmentation ratio')
    reorder_ratio: float = setting(0.6, 'CL4SRec: reorder augmentation ratio')


@dataclass
class SamplerConfig(Section):
    key: ClassVar[str] = 'sampler'
    title: ClassVar[str] = 'negative sampler (CF)'
    sampler: str = setting('uniform', 'negative sampler',
                           choices=tuple(SAMPLERS))
    num_candidates: Optional[int] = setting(
        None, "candidates per row of dns / mixgcf / ahns (default: the "
        "sampler's, 32 for dns and ahns, 16 for mixgcf)", minimum=1)
    ahns_alpha: float = setting(1.0, 'AHNS: alpha')
    ahns_beta: float = setting(0.1, 'AHNS: beta')
    ahns_p: float = setting(-2.0, 'AHNS: p')


@dataclass
class TrainConfig(Section):
    key: ClassVar[str] = 'train'
    title: ClassVar[str] = 'training'
    augmenter: str = setting('none', 'generated-negative augmenter: adar, '
                             'cnsdiff, or a control (reweight: the sampled '
                             'negative counted again with weight λ; noise: '
                             "noise at the positive's scale)",
                             choices=AUGMENTERS)
    epochs: int = setting(1000, 'maximum number of training epochs',
                          minimum=1)
    batch_size: int = setting(2048, 'training batch size, per process '
                              '(with --nproc N the global batch is N times '
                              'it)', sr=256, minimum=1)
    eval_batch_size: int = setting(1024, 'SR: users per evaluation block',
                                   minimum=1)
    lr: float = setting(1e-3, 'Adam learning rate', minimum=0.0)
    lr_scaling: str = setting('none', "with --nproc N: 'linear' multiplies "
                              '--lr by N (the global batch is N times '
                              "larger); 'none' keeps it",
                              choices=('none', 'linear'))
    l2: float = setting(1e-4, 'weight of the L2 term of the batch\'s layer-0 '
                        'embeddings', sr=0.0, minimum=0.0)
    eval_every: int = setting(1, 'epochs between evaluations', minimum=1)
    patience: int = setting(10, 'evaluations without improvement before '
                            'stopping', minimum=1)
    select_on: str = setting('val', "split the epoch is selected on; 'test' "
                             'is optimistic (the literal protocol of the '
                             'paper)', choices=('val', 'test'))
    monitor: str = setting('recall@20', 'metric the epoch is selected on',
                           choices=('recall@10', 'recall@20', 'ndcg@10',
                                    'ndcg@20'))
    mask_history: bool = setting(True, 'SR: exclude the history items from '
                                 'the ranking')
    sampled: bool = setting(
        False, 'CF: train each step on the subgraph LinkNeighborLoader '
        'samples around its triplets (SampledCFTask: epoch cost linear in '
        'the interactions; needs torch-sparse or pyg-lib); evaluation stays '
        'full')
    fanout: Optional[List[int]] = setting(
        None, 'CF --sampled: neighbours per layer, one number per layer or '
        'one for all; -1: all; ignored without --sampled (default: 10 5 2)')
    max_batches: Optional[int] = setting(
        None, 'SR: stop every epoch after this many batches (smoke tests and '
        'timing)', minimum=1)


@dataclass
class ADARConfig(Section):
    key: ClassVar[str] = 'adar'
    prefix: ClassVar[str] = 'adar-'
    title: ClassVar[str] = 'ADAR (--augmenter adar; weight also for the '\
        'controls)'
    weight: float = setting(0.7, 'λ of D-BPR (Eq. 12), in [0, 1] (chosen on '
                            'validation on Beauty: LightGCN for CF, '
                            'GRU4Rec for SR)', minimum=0.0)
    num_steps: int = setting(50, 'diffusion steps T', flag='adar-steps',
                             sr=20, minimum=1)
    strategy: str = setting('transition', "how t* is chosen ('transition':"
                            ' Theorem 1 with the sampled negative; the '
                            "others: Table 3, 'adaptive' is Eq. 11)",
                            choices=STRATEGIES)
    hardness: float = setting(0.5, "'transition': h in [0, 1); μ⁻ = s_neg + "
                              'h (μ⁺ − s_neg)', minimum=0.0)
    source: str = setting('forward', 'negative at t*: the reverse-chain '
                          "state (paper) or the forward-noised positive",
                          choices=SOURCES)
    schedule: str = setting('linear', 'noise schedule', choices=SCHEDULES)
    omega: float = setting(1.0, 'ω of Eq. 11')
    k: float = setting(1.0, 'k of Eq. 11')
    score: str = setting('cosine', 'positive score p_s of Eq. 11 (dot: as '
                         'printed; cosine: scale-free)', choices=SCORES)
    lr: float = setting(1e-3, "learning rate of the denoiser's Adam")
    clip_x0: Optional[float] = setting(
        5.0, 'clamp of the predicted x_0 in reverse steps (<= 0 or null: '
        'none, as printed)', nonpositive_is_none=True)
    max_x0_weight: Optional[float] = setting(
        1.0, 'bound on the x_0 weight of Eq. 8 (null: as printed)',
        nonpositive_is_none=False)
    normalize: bool = setting(True, 'diffuse RMS-standardised embeddings '
                              '(--no-adar-normalize: as printed)')
    posterior_noise: bool = setting(True, 'add σ_t z in reverse steps (DDPM; '
                                    'Eq. 10 prints the mean only)')
    hidden_channels: int = setting(128, 'hidden size of the FiLM denoiser',
                                   flag='adar-hidden', minimum=1)


@dataclass
class CNSDiffConfig(Section):
    key: ClassVar[str] = 'cnsdiff'
    prefix: ClassVar[str] = 'cnsdiff-'
    title: ClassVar[str] = 'CNSDiff (--augmenter cnsdiff)'
    num_steps: int = setting(20, 'diffusion steps T (linear-variance '
                             'schedule)', flag='cnsdiff-steps', minimum=1)
    start_steps: List[int] = setting([10, 14, 18], 'start steps of the '
                                     'hardness levels')
    hidden_channels: int = setting(64, 'hidden size of the denoiser MLP',
                                   flag='cnsdiff-hidden', minimum=1)
    cl_weight: float = setting(0.3, 'weight of the contrastive loss')
    cl_temperature: float = setting(2.0, 'temperature of the contrastive '
                                    'loss', flag='cnsdiff-temperature')
    causal_weight: float = setting(0.1, 'weight of the KL term of the '
                                   'diffusion loss')
    diff_weight: float = setting(1e-6, "weight of the diffusion loss in the "
                                 "encoder's loss")
    lr: float = setting(1e-3, "learning rate of the denoiser's Adam")
    curriculum_epochs: Optional[int] = setting(
        None, 'epochs of the easy-to-hard curriculum (default: --epochs)',
        minimum=1)
    frozen_denoiser: bool = setting(False, 'never train the denoiser (as the '
                                    'reference code): ablation')


#: The sections of a run, in the order of the YAML file and of --help.
SECTIONS = (RunConfig, DataConfig, SplitConfig, ModelConfig, SamplerConfig,
            TrainConfig, ADARConfig, CNSDiffConfig)
