r"""Every hyper-parameter of a run, declared once. Flags, the YAML config file,
:obj:`--help`, the saved :obj:`config.yaml` and the README's settings table are
generated from these dataclasses (see :mod:`adar_pyg.config.settings` and
:mod:`adar_pyg.config.config`)."""
import inspect
from dataclasses import dataclass
from typing import ClassVar, List, Optional

from adar_pyg.checks import DEFAULT_FANOUT
from adar_pyg.augment import CausalNegativeAugmenter, NegativeAugmenter
from adar_pyg.augment.negative_augmenter import SCORES, SOURCES, STRATEGIES
from adar_pyg.augment.schedule import SCHEDULES
from adar_pyg.config.settings import Section, default_of, setting
from adar_pyg.registry import (AUGMENTER_NAMES, CF_MODEL_NAMES, MODEL_NAMES,
                               PARALLEL, SR_MODEL_NAMES)
from adar_pyg.sampling import SAMPLERS, AHNSSampler

TASKS = ('cf', 'sr')
#: The largest seed: torch's generators take 64 bits, and a run derives
#: further seeds by adding small offsets (the seeds of a comparison, of the
#: ranks of a data-parallel run).
MAX_SEED = 2 ** 63 - 1
# The names of the registries (the settings do not import the models):
CF_MODELS = CF_MODEL_NAMES
SR_MODELS = SR_MODEL_NAMES
AUGMENTERS = AUGMENTER_NAMES


def _by_model(name: str) -> str:
    r"""The model-dependent default :obj:`name` of each backbone that has
    one, as in :obj:`adar_pyg.registry.MODEL_NAMES` (for help texts)."""
    return ', '.join(f'{getattr(m, name)} for {model}'
                     for model, m in MODEL_NAMES.items()
                     if getattr(m, name) is not None)


@dataclass
class RunConfig(Section):
    key: ClassVar[str] = 'run'
    title: ClassVar[str] = 'run'
    task: str = setting('cf', "'cf' (collaborative filtering on the user-item "
                        "graph) or 'sr' (sequential recommendation)",
                        choices=TASKS)
    seed: int = setting(0, 'seed of all randomness (model, batches, '
                        'augmenter; the split too unless --split-seed)',
                        minimum=0, maximum=MAX_SEED)
    device: str = setting('auto', "'auto' (cuda when available), 'cpu' or "
                          "'cuda'", choices=('auto', 'cpu', 'cuda'))
    threads: Optional[int] = setting(None, 'torch CPU threads (default: '
                                     'torch decides; with --nproc N: the '
                                     'CPU cores / N per process)', minimum=1,
                                     aliases=('thread', 'num_threads'))
    nproc: int = setting(1, 'parallel processes (torch.distributed: '
                         'gloo on CPU, NCCL on CUDA with one GPU each); '
                         'with --parallel data, --batch-size is per '
                         'process, so the global batch is N x '
                         '--batch-size. Under torchrun the '
                         "launcher's world size is used instead", minimum=1,
                         aliases=('world_size', 'num_processes', 'gpus'))
    parallel: str = setting('data', "with --nproc N: 'data' splits each "
                            'global batch over the processes; '
                            "'columns' (LightGCN, uniform negatives) "
                            'splits the embedding columns: every process '
                            'draws the batches of one process and '
                            'propagates dim/N columns, and the run equals '
                            'the one-process run (on the CPU, with the '
                            'same --threads per process)',
                            choices=PARALLEL)
    port: Optional[int] = setting(None, 'with --nproc: the rendezvous port '
                                  'on 127.0.0.1 (default: a free one)',
                                  minimum=1, maximum=65535)
    dist_timeout: float = setting(300.0, 'with --nproc: seconds a process '
                                  'waits for the others before failing',
                                  minimum=1.0)
    reuse_memory: bool = setting(True, 'keep freed memory for the next '
                                 "step (glibc's mallopt: no page faults on "
                                 'every large temporary; the same values)')


@dataclass
class DataConfig(Section):
    key: ClassVar[str] = 'data'
    title: ClassVar[str] = 'data'
    dataset: str = setting('beauty', "built-in dataset (see 'adar-pyg "
                           "datasets'); ignored with --data",
                           aliases=('dataset_name', 'data_name'))
    data: Optional[str] = setting(None, 'your own interactions file (CSV, '
                                  'TSV or Parquet), one row per interaction',
                                  aliases=('data_path', 'file', 'path',
                                           'csv', 'input'))
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
                          minimum=0, aliases=('kcore', 'min_interactions'))
    data_root: str = setting('datasets', 'download / processed-cache folder',
                             aliases=('root', 'data_dir', 'cache_dir'))
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
        "stopping; 0 = the paper's literal protocol", minimum=0.0,
        below=1.0, aliases=('valid_ratio', 'validation_ratio', 'val_size'),
        task='cf')
    test_ratio: float = setting(0.2, "CF: share of each user's interactions "
                                'held out for testing', above=0.0,
                                below=1.0, aliases=('test_size',), task='cf')
    split_seed: Optional[int] = setting(None, 'seed of the split (default: '
                                        '--seed)', minimum=0,
                                        maximum=MAX_SEED)
    max_len: int = setting(50, 'SR: maximum sequence length N', minimum=1,
                           aliases=('max_seq_len', 'max_length', 'seq_len'),
                           task='sr')


@dataclass
class ModelConfig(Section):
    key: ClassVar[str] = 'model'
    title: ClassVar[str] = 'model'
    model: str = setting('lightgcn', f"backbone: {', '.join(CF_MODELS)} "
                         f"(CF); {', '.join(SR_MODELS)} (SR)",
                         choices=CF_MODELS + SR_MODELS, sr='sasrec',
                         aliases=('backbone',))
    dim: int = setting(64, 'embedding size', minimum=1,
                       aliases=('embedding_dim', 'embedding_size', 'emb_dim',
                                'hidden', 'hidden_size', 'hidden_dim'))
    layers: Optional[int] = setting(
        None, 'propagation layers, self-attention blocks or GRU layers '
        f"(default: {_by_model('layers')})", minimum=1,
        aliases=('num_layers', 'n_layers'))
    heads: int = setting(1,
                         'SR: attention heads (SASRec, CL4SRec)',
                         minimum=1, aliases=('num_heads', 'n_heads'))
    dropout: Optional[float] = setting(
        None, f"SR: dropout (default: {_by_model('dropout')})",
        minimum=0.0, below=1.0,
        aliases=('dropout_rate', 'dropout_prob'))
    ngcf_node_dropout: float = setting(0.1,
                                       'NGCF: node (edge) dropout',
                                       minimum=0.0, below=1.0,
                                       aliases=('node_dropout',))
    ngcf_message_dropout: float = setting(0.1,
                                          'NGCF: message dropout',
                                          minimum=0.0, below=1.0,
                                          aliases=('message_dropout',
                                                   'mess_dropout'))
    cl_weight: float = setting(0.1,
                               'CL4SRec: weight of the contrastive loss',
                               minimum=0.0)
    cl_temperature: float = setting(1.0,
                                    'CL4SRec: InfoNCE temperature',
                                    above=0.0)
    cl_similarity: str = setting('dot',
                                 'CL4SRec: InfoNCE similarity',
                                 choices=('dot', 'cos'))
    crop_ratio: float = setting(0.6,
                                'CL4SRec: crop augmentation ratio',
                                minimum=0.0, maximum=1.0)
    mask_ratio: float = setting(0.3,
                                'CL4SRec: mask augmentation ratio',
                                minimum=0.0, below=1.0)
    reorder_ratio: float = setting(0.6,
                                   'CL4SRec: reorder augmentation ratio',
                                   minimum=0.0, maximum=1.0)


@dataclass
class SamplerConfig(Section):
    key: ClassVar[str] = 'sampler'
    title: ClassVar[str] = 'negative sampler (CF)'
    for_task: ClassVar[Optional[str]] = 'cf'  # (SR: uniform negatives)
    sampler: str = setting('uniform', 'negative sampler',
                           choices=tuple(SAMPLERS),
                           aliases=('negative_sampler', 'neg_sampler'))
    num_candidates: Optional[int] = setting(
        None, "candidates per row of dns / mixgcf / ahns (default: the "
        "sampler's, " + ', '.join(
            f"{default_of(SAMPLERS[n], 'num_candidates')} for {n}"
            for n in SAMPLERS if 'num_candidates' in
            inspect.signature(SAMPLERS[n]).parameters) + ')', minimum=1,
        aliases=('candidates', 'n_candidates', 'num_negatives'))
    ahns_alpha: float = setting(default_of(AHNSSampler, 'alpha'),
                                'AHNS: alpha')
    ahns_beta: float = setting(default_of(AHNSSampler, 'beta'), 'AHNS: beta')
    ahns_p: float = setting(default_of(AHNSSampler, 'p'), 'AHNS: p')


@dataclass
class TrainConfig(Section):
    key: ClassVar[str] = 'train'
    title: ClassVar[str] = 'training'
    augmenter: str = setting('none', 'generated-negative augmenter: adar, '
                             'cnsdiff, or a control (reweight: the sampled '
                             'negative counted again with weight λ; noise: '
                             "noise at the positive's scale)",
                             choices=AUGMENTERS, aliases=('augment',
                                                          'augmentation'))
    epochs: int = setting(1000, 'maximum number of training epochs',
                          minimum=1, aliases=('num_epochs', 'max_epochs',
                                              'n_epochs', 'epoch'))
    batch_size: int = setting(2048,
                              'training batch size, per process (with '
                              '--nproc N the global batch is N times it)',
                              sr=256, minimum=1,
                              aliases=('batch', 'bs', 'train_batch_size'))
    eval_batch_size: int = setting(2048,
                                   'users per evaluation block',
                                   sr=1024,
                                   minimum=1, aliases=('test_batch_size',))
    lr: float = setting(1e-3, 'Adam learning rate', above=0.0,
                        aliases=('learning_rate', 'learningrate'))
    lr_scaling: str = setting('none', "with --nproc N: 'linear' multiplies "
                              '--lr by N (the global batch is N times '
                              "larger); 'none' keeps it",
                              choices=('none', 'linear'))
    l2: float = setting(1e-4, 'weight of the L2 term of the batch\'s layer-0 '
                        'embeddings', sr=0.0, minimum=0.0,
                        aliases=('weight_decay', 'reg', 'reg_weight',
                                 'l2_reg', 'decay'))
    eval_every: int = setting(1, 'epochs between evaluations', minimum=1,
                              aliases=('eval_step', 'eval_interval'))
    patience: int = setting(10, 'evaluations without improvement before '
                            'stopping', minimum=1,
                            aliases=('early_stop', 'stopping_step',
                                     'early_stopping'))
    select_on: str = setting('val', "split the epoch is selected on; 'test' "
                             'is optimistic (the literal protocol of the '
                             'paper)', choices=('val', 'test'))
    monitor: str = setting('recall@20', 'metric the epoch is selected on',
                           choices=('recall@10', 'recall@20', 'ndcg@10',
                                    'ndcg@20'),
                           aliases=('metric', 'valid_metric'))
    mask_history: bool = setting(True, 'SR: exclude the history items from '
                                 'the ranking', task='sr')
    sampled: bool = setting(
        False, 'CF: train each step on the subgraph LinkNeighborLoader '
        'samples around its triplets (SampledCFTask); evaluation stays '
        'full', task='cf')
    fanout: Optional[List[int]] = setting(
        None, 'CF --sampled: neighbours per layer, one number per layer or '
        'one for all; -1: all; ignored without --sampled (default: '
        f"{' '.join(map(str, DEFAULT_FANOUT))}, cut or extended with its "
        'last number to --layers)',
        minimum=-1, aliases=('num_neighbors', 'fanouts'), task='cf')
    sparse_grad: bool = setting(
        False, 'CF --sampled: sparse gradients of the embedding table (its '
        "rows in each step's subgraph), updated by SparseAdam (lazy Adam: "
        'the moments of rows outside the step are not decayed), other '
        "parameters by Adam: the optimiser's cost per step is that of the "
        "subgraph's rows, not of the whole table", task='cf')
    max_batches: Optional[int] = setting(
        None, 'stop every epoch after this many batches (smoke tests and '
        'timing)', minimum=1)


def _adar(name: str) -> object:
    r"""The default of :class:`~adar_pyg.augment.NegativeAugmenter`'s
    argument :obj:`name`: the class declares it, the config reads it."""
    return default_of(NegativeAugmenter, name)


@dataclass
class ADARConfig(Section):
    r"""The settings of :class:`~adar_pyg.augment.NegativeAugmenter` (and the
    weight of the controls); every default is read from the constructor."""
    key: ClassVar[str] = 'adar'
    prefix: ClassVar[str] = 'adar-'
    title: ClassVar[str] = 'ADAR (--augmenter adar; weight also for the '\
        'controls)'
    weight: float = setting(_adar('weight'), 'λ of D-BPR (Eq. 12) (chosen on '
                            'validation on Beauty: LightGCN for CF, '
                            'GRU4Rec for SR)', minimum=0.0, maximum=1.0,
                            aliases=('lambda', 'lambda_', 'adar_weight',
                                     'dbpr_weight'))
    num_steps: int = setting(_adar('num_steps'), 'diffusion steps T',
                             old_flag='adar-steps', sr=20, minimum=1,
                             aliases=('steps', 'T', 'timesteps',
                                      'diffusion_steps'))
    strategy: str = setting(_adar('strategy'), "how t* is chosen "
                            "('transition': Theorem 1 with the sampled "
                            "negative; the others: Table 3, 'adaptive' is "
                            'Eq. 11)', choices=STRATEGIES)
    hardness: float = setting(_adar('hardness'), "'transition': h; μ⁻ = "
                              's_neg + h (μ⁺ − s_neg)', minimum=0.0,
                              below=1.0, aliases=('h',))
    source: str = setting(_adar('source'), 'negative at t*: the '
                          "reverse-chain state (paper) or the forward-noised "
                          'positive', choices=SOURCES)
    schedule: str = setting(_adar('schedule'), 'noise schedule',
                            choices=SCHEDULES,
                            aliases=('noise_schedule', 'beta_schedule'))
    omega: float = setting(_adar('omega'), 'ω of Eq. 11', above=0.0)
    k: float = setting(_adar('k'), 'k of Eq. 11', above=0.0)
    score: str = setting(_adar('score'), 'positive score p_s of Eq. 11 (dot: '
                         'as printed; cosine: scale-free)', choices=SCORES)
    lr: float = setting(_adar('lr'), "learning rate of the denoiser's Adam",
                        above=0.0, aliases=('learning_rate',))
    clip_x0: Optional[float] = setting(
        _adar('clip_x0'), 'clamp of the predicted x_0 in reverse steps (<= 0 '
        'or null: none, as printed)', nonpositive_is_none=True)
    max_x0_weight: Optional[float] = setting(
        _adar('max_x0_weight'), 'bound on the x_0 weight of Eq. 8 (null: as '
        'printed)', minimum=0.0)
    normalize: bool = setting(_adar('normalize'), 'diffuse RMS-standardised '
                              'embeddings (--no-adar-normalize: as printed)')
    posterior_noise: bool = setting(_adar('posterior_noise'), 'add σ_t z in '
                                    'reverse steps (DDPM; Eq. 10 prints the '
                                    'mean only)')
    hidden_channels: int = setting(_adar('hidden_channels'), 'hidden size of '
                                   'the FiLM denoiser', old_flag='adar-hidden',
                                   minimum=1, aliases=('hidden', 'hidden_dim',
                                                       'hidden_size'))


def _cnsdiff(name: str) -> object:
    r"""The default of :class:`~adar_pyg.augment.CausalNegativeAugmenter`'s
    argument :obj:`name`."""
    return default_of(CausalNegativeAugmenter, name)


@dataclass
class CNSDiffConfig(Section):
    key: ClassVar[str] = 'cnsdiff'
    prefix: ClassVar[str] = 'cnsdiff-'
    title: ClassVar[str] = 'CNSDiff (--augmenter cnsdiff)'
    num_steps: int = setting(_cnsdiff('num_steps'), 'diffusion steps T '
                             '(linear-variance schedule)',
                             old_flag='cnsdiff-steps', minimum=2,
                             aliases=('steps', 'T', 'timesteps'))
    start_steps: List[int] = setting(list(_cnsdiff('start_steps')),
                                     'start steps of the '
                                     'hardness levels (distinct, at most '
                                     'T)', minimum=1)
    hidden_channels: int = setting(_cnsdiff('hidden_channels'),
                                   'hidden size of the denoiser MLP',
                                   old_flag='cnsdiff-hidden', minimum=1,
                                   aliases=('hidden', 'hidden_dim'))
    cl_weight: float = setting(_cnsdiff('cl_weight'),
                               'weight of the contrastive loss', minimum=0.0)
    cl_temperature: float = setting(_cnsdiff('cl_temperature'),
                                    'temperature of the contrastive '
                                    'loss', old_flag='cnsdiff-temperature',
                                    above=0.0, aliases=('temperature',))
    causal_weight: float = setting(_cnsdiff('causal_weight'),
                                   'weight of the KL term of the '
                                   'diffusion loss', minimum=0.0)
    diff_weight: float = setting(_cnsdiff('diff_weight'), 'weight of the '
                                 "diffusion loss in the encoder's loss",
                                 minimum=0.0)
    lr: float = setting(_cnsdiff('lr'), "learning rate of the denoiser's Adam",
                        above=0.0, aliases=('learning_rate',))
    curriculum_epochs: Optional[int] = setting(
        _cnsdiff('curriculum_epochs'), 'epochs of the easy-to-hard '
        'curriculum (default: --epochs)', minimum=1)
    frozen_denoiser: bool = setting(not _cnsdiff('train_denoiser'),
                                    'never train the denoiser (as the '
                                    'reference code): ablation')


#: The sections of a run, in the order of the YAML file and of --help.
SECTIONS = (RunConfig, DataConfig, SplitConfig, ModelConfig, SamplerConfig,
            TrainConfig, ADARConfig, CNSDiffConfig)
