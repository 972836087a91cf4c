r"""Objects from a :class:`~adar_pyg.config.Config`: data and splits, the
backbone, the sampler, the augmenter, the task and the trainer — the
data → model → trainer → evaluator chain of one run.

The composition root of :obj:`adar_pyg`: the settings
(:mod:`adar_pyg.config`) know nothing of the objects, the objects nothing
of the settings; this module joins them, by name, through the registries
:obj:`DATASETS`, :obj:`MODELS`, :obj:`AUGMENTERS` and
:obj:`adar_pyg.sampling.SAMPLERS` (see :mod:`adar_pyg.registry`). Adding
a backbone: docs/adding_a_model.md."""
import dataclasses
import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch

from adar_pyg.augment import (Augmenter, CausalNegativeAugmenter,
                              NegativeAugmenter, NoiseAugmenter,
                              ReweightAugmenter)
from adar_pyg.config.config import Config
from adar_pyg.datasets import (AmazonBeauty, AmazonSports, AmazonToys,
                               Gowalla, OODFood, OODYelp2018, Yelp,
                               default_mirror)
from adar_pyg.errors import DataError, UsageError
from adar_pyg.nn import NGCF, LightGCN
from adar_pyg.registry import AUGMENTER_NAMES, MODEL_NAMES, Registry
from adar_pyg.sampling import SAMPLERS
from adar_pyg.sequential import CL4SRec, GRU4Rec, SASRec
from adar_pyg.train import CFTask, RecTask, Trainer
from adar_pyg.transforms import PerUserRandomSplit

EDGE = ('user', 'rates', 'item')
#: The cut-offs :math:`K` of the ranking metrics (Recall@K, NDCG@K).
METRIC_KS = (10, 20)
#: The built-in datasets by name (:obj:`--dataset`): each class is called
#: as :obj:`cls(root, mirror=...)`.
DATASETS: Registry[type] = Registry('dataset')
DATASETS.register('beauty', AmazonBeauty)
DATASETS.register('toys', AmazonToys)
DATASETS.register('sports', AmazonSports)
DATASETS.register('yelp', Yelp)
DATASETS.register('ood-food', OODFood)
DATASETS.register('ood-yelp2018', OODYelp2018)
DATASETS.register('gowalla', Gowalla)


@dataclass
class RunData:
    r"""The data of a run: the splits the task is built on, their
    statistics, further test splits (*e.g.* :obj:`'test_ood'`) and the
    original ids of users and items (own data only)."""
    train: Any
    val: Any = None
    test: Any = None
    statistics: Dict[str, Any] = field(default_factory=dict)
    extra_tests: Dict[str, Any] = field(default_factory=dict)
    raw_ids: Optional[Dict[str, List[Any]]] = None


def check_data(cfg: Config) -> None:
    r"""Raises :class:`~adar_pyg.config.ConfigError` for an own data file
    that does not exist or an unknown built-in dataset (naming the
    nearest), before anything is loaded or written."""
    from adar_pyg.config.settings import ConfigError, suggest
    if cfg.data.data:
        if os.path.isdir(cfg.data.data):
            from adar_pyg.errors import DataError
            raise DataError(f"--data '{cfg.data.data}' is a directory, not a "
                            f"file", hint='pass a CSV, TSV or Parquet file '
                            '(or --dataset NAME for a built-in one)')
        if not os.path.isfile(cfg.data.data):
            raise ConfigError(f"data.data: no file '{cfg.data.data}'")
    elif cfg.data.dataset not in DATASETS:
        raise ConfigError(f"data.dataset: unknown dataset "
                          f"'{cfg.data.dataset}'"
                          f"{suggest(cfg.data.dataset, list(DATASETS))} "
                          f"(choose from {', '.join(DATASETS)}, or pass "
                          f"--data FILE)")


def check_parallel(cfg: Config) -> None:
    r"""Raises :class:`~adar_pyg.config.ConfigError` if :obj:`cfg` asks for
    column-parallel training (:obj:`run.parallel`) of a backbone or a
    sampler that cannot be split by columns (their declared contracts, see
    :func:`~adar_pyg.train.cf_task.column_parallel_errors`), before
    anything is loaded or launched."""
    if cfg.run.parallel != 'columns' or cfg.run.task != 'cf':
        return  # (Config.errors refuses 'columns' for SR.)
    from adar_pyg.config.settings import ConfigError
    from adar_pyg.train.cf_task import column_parallel_errors
    errors = column_parallel_errors(MODELS[cfg.model.model],
                                    SAMPLERS[cfg.sampler.sampler])
    if errors:
        raise ConfigError.of(errors, 'the settings')


def check_device(cfg: Config) -> str:
    r"""The device name of :obj:`cfg`; a :class:`~adar_pyg.errors.UsageError`
    for a GPU this machine lacks (nothing else is touched)."""
    device = cfg.device_name()
    if device == 'cuda' and not torch.cuda.is_available():
        raise UsageError('--device cuda was asked for but CUDA is not '
                         'available', hint='use --device cpu')
    return device


def threads_of(cfg: Config) -> int:
    r"""The torch threads of :obj:`cfg.run.threads` on this machine: at most
    its CPUs (more is never faster, and a huge number exhausts the memory;
    the run says so, see :func:`~adar_pyg.run.train`). The thread count
    changes no result, so a run of another machine resumes here."""
    return min(cfg.run.threads or 1, os.cpu_count() or 1)


def setup(cfg: Config) -> torch.device:
    r"""Threads (:func:`threads_of`), freed-memory reuse
    (:mod:`adar_pyg.train.memory`), the seed of the global RNG and the
    device (:func:`check_device`)."""
    device = check_device(cfg)
    from adar_pyg.train.distributed import world
    rank, world_size = world()
    if cfg.run.threads:
        torch.set_num_threads(threads_of(cfg))
    elif world_size > 1:  # Not N processes x all cores:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    if cfg.run.reuse_memory:
        from adar_pyg.train.memory import reuse_freed_memory
        reuse_freed_memory()
    torch.manual_seed(cfg.run.seed)
    if device == 'cuda' and world_size > 1:
        local = int(os.environ.get('LOCAL_RANK', rank))
        torch.cuda.set_device(local)
        return torch.device('cuda', local)
    return torch.device(device)


def load_dataset(name: str, root: str, mirror: Optional[str] = None):
    r"""The built-in dataset :obj:`name` under :obj:`root/<name>`, from
    :obj:`mirror` (default: :func:`~adar_pyg.datasets.default_mirror`) or
    its canonical URL."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}' (choose from "
                         f"{sorted(DATASETS)}, or pass --data FILE)")
    return DATASETS[name](os.path.join(root, name),
                          mirror=mirror or default_mirror())


def load_interactions(cfg: Config):
    r"""The interactions of the run as one :class:`HeteroData` (built-in
    dataset or :obj:`--data` file)."""
    d = cfg.data
    if d.data:
        from adar_pyg.datasets import read_interactions_table
        return read_interactions_table(
            d.data, user_col=d.user_col, item_col=d.item_col,
            time_col=d.time_col, rating_col=d.rating_col,
            min_rating=d.min_rating, k_core=d.k_core)
    return load_dataset(d.dataset, d.data_root, d.mirror)[0]


def raw_ids(data) -> Optional[Dict[str, List[Any]]]:
    r"""The original ids of own data (index order), else :obj:`None`."""
    if 'raw_id' not in data['user']:
        return None
    return {t: [v.item() if hasattr(v, 'item') else v
                for v in data[t].raw_id] for t in ('user', 'item')}


def evaluated_users(num_users: int, held_out: Dict[str, torch.Tensor],
                    counts: torch.Tensor, published: bool = False
                    ) -> Dict[str, Any]:
    r"""How many users each split evaluates, how many it leaves out and
    why: a user without a held-out item of a split is not ranked there
    (the metrics average over the others).

    Args:
        num_users (int): All users.
        held_out (dict): The users of each split's held-out interactions
            (:obj:`'val'`, :obj:`'test'`, ...), one entry per interaction.
        counts (torch.Tensor): Each user's number of interactions (after
            de-duplication), :obj:`[num_users]`.
        published (bool, optional): The split is a published one (not
            drawn by the number of interactions). (default: :obj:`False`)
    """
    out: Dict[str, Any] = {'users': int(num_users)}
    for split, users in held_out.items():
        has = torch.zeros(num_users, dtype=torch.bool)
        has[users.cpu()] = True
        entry: Dict[str, Any] = {'evaluated': int(has.sum()),
                                 'left_out': int((~has).sum())}
        if entry['left_out']:
            what = 'a validation' if split == 'val' else f'a {split}'
            fewest = int(counts[has].min()) if bool(has.any()) else None
            most = int(counts[~has].max())
            if published:
                entry['why'] = (f'no {split} interaction in the published '
                                f'split')
            elif fewest is not None and most >= fewest:
                entry['why'] = f'too few interactions for {what} item'
            elif most <= 1:
                entry['why'] = f'a single interaction, no {split} item'
            else:
                entry['why'] = (f'{most} or fewer interactions, no {split} '
                                f'item')
        out[split] = entry
    return out


def check_split(stats: Dict[str, Any], needs_val: bool = False,
                task: str = 'cf') -> None:
    r"""Raises a :class:`~adar_pyg.errors.DataError` for a split that
    cannot be evaluated: no test interactions (*e.g.* one interaction per
    user; in :obj:`task` :obj:`'sr'`, fewer than three), or, with
    :obj:`needs_val` (the run selects its epoch on a validation split it
    asked for), no validation interactions: the trainer would otherwise
    select on test."""
    from adar_pyg.errors import DataError
    users = stats.get('evaluated_users', {})
    least = 3 if task == 'sr' else 2  # (leave-one-out: train, val, test)
    for split, what, needed, hint in (
            ('test', 'nothing could be evaluated', True,
             f'keep the users with enough interactions (--k-core {least} '
             f'or more), or use data with several interactions per user' + (
                 ' (leave-one-out holds out the last two of each)'
                 if task == 'sr' else '')),
            ('val', 'the epoch cannot be chosen on validation', needs_val,
             'a larger --val-ratio (a share of each user\'s training '
             'part), data with more interactions per user (--k-core), or '
             '--select-on test (optimistic)')):
        entry = users.get(split)
        if needed and entry is not None and entry['evaluated'] == 0:
            name = 'test' if split == 'test' else 'validation'
            raise DataError(
                f"the split of '{stats['dataset']}' holds no {name} "
                f"interactions: all {entry['left_out']} users were left out "
                f"({entry.get('why', f'no {split} item')}); {what}",
                hint=hint)


def check_items(stats: Dict[str, Any]) -> None:
    r"""Raises a :class:`~adar_pyg.errors.DataError` for fewer items than
    the cut-offs of the ranking metrics."""
    from adar_pyg.errors import DataError
    if stats['items'] < max(METRIC_KS):
        raise DataError(
            f"'{stats['dataset']}' has {stats['items']} items, fewer than "
            f"the cut-off {max(METRIC_KS)} of the ranking metrics (Recall@"
            f"{max(METRIC_KS)} would count every item)",
            hint='use data with more items')


def published_split(dataset: str) -> bool:
    r"""Whether the built-in :obj:`dataset` comes with its published CF
    split (its class has :meth:`splits`: OOD, Gowalla), used instead of
    :obj:`split.test_ratio`'s random one."""
    cls = DATASETS.get(dataset)
    return cls is not None and cls.published_split


def load_cf_data(cfg: Config) -> RunData:
    r"""The CF splits: the published ones of a dataset with :meth:`splits`
    (OOD: train, validation, test and OOD test; Gowalla: train and test, with
    :obj:`cfg.split.val_ratio` of each user's training part carved out for
    validation), else the per-user random split of :obj:`cfg.split`."""
    name = cfg.dataset_name()
    seed = cfg.run.seed if cfg.split.split_seed is None else \
        cfg.split.split_seed
    if not cfg.data.data and published_split(cfg.data.dataset):
        dataset = load_dataset(name, cfg.data.data_root, cfg.data.mirror)
        extra: Dict[str, Any] = {}
        if isinstance(dataset, Gowalla):
            views = dataset.splits(val_ratio=cfg.split.val_ratio, seed=seed)
            split = (f'published ({dataset.__class__.__name__}: train and '
                     f'test of the LightGCN authors; validation: '
                     f'val_ratio={cfg.split.val_ratio} of each user\'s '
                     f'training part, seed={seed})')
        else:
            views = dataset.splits()
            split = (f'published ({dataset.__class__.__name__}: train, IID '
                     f'validation and test, OOD test with a {dataset.shift} '
                     f'shift)')
            extra['skipped_lines'] = list(dataset[0].skipped_lines)
        sizes = {key: int(data[EDGE].edge_label_index.size(1))
                 for key, data in views.items()}
        num_users = int(views['train']['user'].num_nodes)
        stats = {
            'dataset': name,
            'users': num_users,
            'items': int(views['train']['item'].num_nodes),
            'interactions': sum(sizes.values()),
            **sizes,
            'split': split,
            **extra,
            'evaluated_users': _cf_coverage(views, num_users,
                                            published=True),
        }
        check_split(stats, needs_val=cfg.train.select_on == 'val' and (
            not isinstance(dataset, Gowalla) or cfg.split.val_ratio > 0))
        return RunData(views['train'], views['val'], views['test'], stats,
                       {key: views[key] for key in views
                        if key not in ('train', 'val', 'test')})
    data = load_interactions(cfg)
    split = PerUserRandomSplit(test_ratio=cfg.split.test_ratio,
                               val_ratio=cfg.split.val_ratio, seed=seed)
    train, val, test = split(data)
    stats = {
        'dataset': name,
        'users': int(data['user'].num_nodes),
        'items': int(data['item'].num_nodes),
        'interactions': int(data[EDGE].edge_index.size(1)),
        'train': int(train[EDGE].edge_label_index.size(1)),
        'val': int(val[EDGE].edge_label_index.size(1)),
        'test': int(test[EDGE].edge_label_index.size(1)),
        'split': repr(split),
        'evaluated_users': _cf_coverage(
            {'train': train, 'val': val, 'test': test},
            int(data['user'].num_nodes)),
    }
    # The split counts a repeated (user, item) pair once (said if any):
    repeated = stats['interactions'] - (stats['train'] + stats['val'] +
                                        stats['test'])
    if repeated:
        stats['repeated'] = repeated
    check_split(stats, needs_val=cfg.train.select_on == 'val' and
                cfg.split.val_ratio > 0)
    return RunData(train, val, test, stats, raw_ids=raw_ids(data))


def _cf_coverage(views: Dict[str, Any], num_users: int,
                 published: bool = False) -> Dict[str, Any]:
    users = {key: view[EDGE].edge_label_index[0]
             for key, view in views.items()}
    counts = torch.bincount(torch.cat(list(users.values())).cpu(),
                            minlength=num_users)
    return evaluated_users(num_users, {k: v for k, v in users.items()
                                       if k != 'train'}, counts, published)


def load_sr_data(cfg: Config) -> RunData:
    r"""The leave-one-out sequences of the run's interactions."""
    from adar_pyg.sequential.data import LeaveOneOutSplit
    data = load_interactions(cfg)
    transform = LeaveOneOutSplit(max_len=cfg.split.max_len)
    split = transform(data)
    sizes = split.statistics()
    stats = {
        'dataset': cfg.dataset_name(),
        'users': int(data['user'].num_nodes),
        'items': int(data['item'].num_nodes),
        'interactions': int(data[EDGE].edge_index.size(1)),
        'train': sizes['train_interactions'],
        'train_positions': sizes['train_positions'],
        'val': sizes['val_interactions'],
        'test': sizes['test_interactions'],
        'max_len': cfg.split.max_len,
        'split': repr(transform),
    }
    num_users = int(data['user'].num_nodes)
    counts = torch.bincount(data[EDGE].edge_index[0].cpu(),
                            minlength=num_users)
    stats['evaluated_users'] = evaluated_users(
        num_users, {'val': split.val_edge_index[0],
                    'test': split.test_edge_index[0]}, counts)
    if cfg.data.data:  # Own data: how its sequences were ordered.
        if 'file_order' in data and data.file_order:
            stats['order'] = 'file order (the file has no time column)'
        if 'repeated_rows' in data and data.repeated_rows:
            stats['repeated_rows'] = data.repeated_rows
    check_split(stats, task='sr')  # (a validation item before each test one)
    return RunData(split, statistics=stats, raw_ids=raw_ids(data))


def load_data(cfg: Config) -> RunData:
    return load_cf_data(cfg) if cfg.run.task == 'cf' else load_sr_data(cfg)


def cf_backbone(cls, cfg: Config, num_users: int, num_items: int):
    r"""The builder of a CF backbone whose constructor takes
    :obj:`(num_users, num_items, embedding_dim, num_layers)`
    (:class:`~adar_pyg.nn.LightGCN`), from :obj:`cfg.model`."""
    m = cfg.model
    return cls(num_users, num_items, embedding_dim=m.dim, num_layers=m.layers)


def _ngcf(cls, cfg: Config, num_users: int, num_items: int):
    m = cfg.model
    return cls(num_users, num_items, embedding_dim=m.dim,
               num_layers=m.layers, node_dropout=m.ngcf_node_dropout,
               message_dropout=m.ngcf_message_dropout)


def _gru4rec(cls, cfg: Config, num_users: int, num_items: int):
    m = cfg.model
    return cls(num_items, m.dim, cfg.split.max_len, num_layers=m.layers,
               dropout=m.dropout)


def _sasrec(cls, cfg: Config, num_users: int, num_items: int):
    m = cfg.model
    return cls(num_items, m.dim, cfg.split.max_len, num_layers=m.layers,
               num_heads=m.heads, dropout=m.dropout)


def _cl4srec(cls, cfg: Config, num_users: int, num_items: int):
    m = cfg.model
    return cls(num_items, m.dim, cfg.split.max_len, num_layers=m.layers,
               num_heads=m.heads, dropout=m.dropout, cl_weight=m.cl_weight,
               temperature=m.cl_temperature, similarity=m.cl_similarity,
               crop_ratio=m.crop_ratio, mask_ratio=m.mask_ratio,
               reorder_ratio=m.reorder_ratio)


#: The backbones by name (:obj:`--model`): the class and the builder
#: taking :obj:`(cls, cfg, num_users, num_items)` (:obj:`cfg` resolved,
#: see :meth:`Config.resolved`). Each name (its task, its defaults) is
#: declared in :obj:`adar_pyg.registry.MODEL_NAMES`.
MODELS: Registry[type] = Registry('model', declared=MODEL_NAMES)
MODELS.register('lightgcn', LightGCN, build=cf_backbone)
MODELS.register('ngcf', NGCF, build=_ngcf)
MODELS.register('sasrec', SASRec, build=_sasrec)
MODELS.register('gru4rec', GRU4Rec, build=_gru4rec)
MODELS.register('cl4srec', CL4SRec, build=_cl4srec)


def build_model(cfg: Config, num_users: int,
                num_items: int) -> torch.nn.Module:
    r"""The backbone of :obj:`cfg.model` (model-dependent defaults filled
    in, see :meth:`Config.resolved`), by its entry in :obj:`MODELS`."""
    cfg = cfg.resolved()
    return MODELS.build(cfg.model.model, cfg, num_users, num_items)


def sampler_kwargs(cfg: Config, cls: type) -> Dict[str, Any]:
    r"""The arguments of the sampler class :obj:`cls` that :obj:`cfg.sampler`
    sets: :obj:`num_candidates` when given and :obj:`cls` takes it, and
    the sampler's own settings, named :obj:`<sampler>_<argument>` in
    :class:`~adar_pyg.config.SamplerConfig` (*e.g.* :obj:`ahns_alpha`)."""
    s = cfg.sampler
    params = inspect.signature(cls).parameters
    kwargs: Dict[str, Any] = {}
    if s.num_candidates is not None and 'num_candidates' in params:
        kwargs['num_candidates'] = s.num_candidates
    own = f'{s.sampler}_'
    for f in dataclasses.fields(s):
        if f.name.startswith(own):
            kwargs[f.name[len(own):]] = getattr(s, f.name)
    return kwargs


def build_sampler(cfg: Config, train_data, num_users: int, num_items: int):
    r"""The :class:`~adar_pyg.sampling.NegativeSampler` of
    :obj:`cfg.sampler` (by its entry in
    :obj:`adar_pyg.sampling.SAMPLERS`) on the training positives of
    :obj:`train_data`."""
    cls = SAMPLERS[cfg.sampler.sampler]
    return cls(train_data[EDGE].edge_label_index, num_users, num_items,
               **sampler_kwargs(cfg, cls))


def _no_augmenter(cls, cfg: Config, embedding_dim: int) -> None:
    return None


def _control(cls, cfg: Config, embedding_dim: int) -> Augmenter:
    return cls(embedding_dim, weight=cfg.adar.weight)


def _cnsdiff(cls, cfg: Config, embedding_dim: int) -> Augmenter:
    c = cfg.cnsdiff
    return cls(embedding_dim, num_steps=c.num_steps,
               start_steps=c.start_steps, hidden_channels=c.hidden_channels,
               curriculum_epochs=c.curriculum_epochs, cl_weight=c.cl_weight,
               cl_temperature=c.cl_temperature,
               causal_weight=c.causal_weight, diff_weight=c.diff_weight,
               lr=c.lr, train_denoiser=not c.frozen_denoiser)


def _adar(cls, cfg: Config, embedding_dim: int) -> Augmenter:
    a = cfg.adar
    return cls(embedding_dim, num_steps=a.num_steps, weight=a.weight,
               strategy=a.strategy, hardness=a.hardness, source=a.source,
               omega=a.omega, k=a.k, schedule=a.schedule, lr=a.lr,
               score=a.score, clip_x0=a.clip_x0,
               max_x0_weight=a.max_x0_weight, normalize=a.normalize,
               posterior_noise=a.posterior_noise,
               hidden_channels=a.hidden_channels)


#: The augmenters by name (:obj:`--augmenter`): the class (:obj:`None` for
#: :obj:`'none'`) and the builder taking :obj:`(cls, cfg, embedding_dim)`
#: (a result file records the settings themselves). Each name
#: is declared in :obj:`adar_pyg.registry.AUGMENTER_NAMES`.
AUGMENTERS: Registry[Optional[type]] = Registry('augmenter',
                                                 declared=AUGMENTER_NAMES)
AUGMENTERS.register('none', None, build=_no_augmenter)
AUGMENTERS.register('adar', NegativeAugmenter, build=_adar)
AUGMENTERS.register('cnsdiff', CausalNegativeAugmenter, build=_cnsdiff)
AUGMENTERS.register('reweight', ReweightAugmenter, build=_control)
AUGMENTERS.register('noise', NoiseAugmenter, build=_control)


def build_augmenter(cfg: Config, embedding_dim: int) -> Optional[Augmenter]:
    r"""The augmenter of :obj:`cfg.train.augmenter` (or :obj:`None`), by its
    entry in :obj:`AUGMENTERS`."""
    return AUGMENTERS.build(cfg.train.augmenter, cfg, embedding_dim)


def build_task(cfg: Config, data: RunData, device: torch.device,
               model_factory: Optional[Callable[..., torch.nn.Module]] = None,
               **task_kwargs: Any) -> RecTask:
    r"""The model (by :func:`build_model`, or :obj:`model_factory(cfg,
    num_users, num_items)`) and its task on :obj:`data`; :obj:`task_kwargs`
    go to the task's constructor as well (settings of the Python API only,
    *e.g.* :obj:`subgraph_sampler` of
    :class:`~adar_pyg.train.SampledCFTask`). A user of own data who has
    seen every item is named by its id
    (:class:`~adar_pyg.sampling.NoNegativeError`)."""
    from adar_pyg.sampling import NoNegativeError
    try:
        return _build_task(cfg, data, device, model_factory, **task_kwargs)
    except NoNegativeError as e:
        if data.raw_ids is None:
            raise
        raise e.named(data.raw_ids['user']) from None
    except ValueError as e:
        if isinstance(e, DataError) or not cfg.train.sampled:
            raise
        # The model does not fit the sampled path (a model without hops):
        raise UsageError(f'model.model {cfg.model.model!r} cannot be '
                         f'trained with these settings: {e}') from None


def _build_task(cfg: Config, data: RunData, device: torch.device,
                model_factory: Optional[Callable[..., torch.nn.Module]],
                **task_kwargs: Any) -> RecTask:
    stats, factory = data.statistics, model_factory or build_model
    check_items(stats)
    model = factory(cfg, stats['users'], stats['items'])
    if cfg.run.task == 'cf':
        sampler = build_sampler(cfg, data.train, stats['users'],
                                stats['items'])
        kwargs: Dict[str, Any] = dict(
            sampler=sampler, batch_size=cfg.train.batch_size,
            eval_batch_size=cfg.train.eval_batch_size, device=device,
            extra_test_data=data.extra_tests or None, ks=METRIC_KS,
            max_batches=cfg.train.max_batches, **task_kwargs)
        if cfg.train.sampled:
            from adar_pyg.train import SampledCFTask
            return SampledCFTask(
                model, data.train, data.val, data.test,
                num_neighbors=cfg.train.fanout,
                sparse_grad=cfg.train.sparse_grad, **kwargs)
        return CFTask(model, data.train, data.val, data.test, **kwargs)
    from adar_pyg.train import SRTask
    return SRTask(model, data.train, batch_size=cfg.train.batch_size,
                  eval_batch_size=cfg.train.eval_batch_size,
                  mask_history=cfg.train.mask_history,
                  max_batches=cfg.train.max_batches, device=device,
                  ks=METRIC_KS, **task_kwargs)


def augmented_dim(task: RecTask) -> int:
    r"""The size of the representations the augmenter sees (NGCF: the
    concatenated layers), which :obj:`task`'s model says
    (:meth:`~adar_pyg.train.RecTask.representation_dim`)."""
    dim = task.representation_dim()
    if dim is None:
        raise UsageError(
            f"the model {type(task.model).__name__} does not say the size "
            f"of its representations, which an augmenter is built for",
            hint='derive it from adar_pyg.nn.BipartiteRecommender (its '
            'out_channels) or adar_pyg.sequential.SequentialRecommender')
    return dim


def build_trainer(cfg: Config, task: RecTask,
                  augmenter: Optional[Augmenter], **kwargs: Any) -> Trainer:
    r"""The :class:`~adar_pyg.train.Trainer` of :obj:`cfg.train`
    (:obj:`kwargs`: :obj:`progress`, :obj:`checkpoint`, :obj:`log`,
    :obj:`on_evaluate`)."""
    t = cfg.train
    from adar_pyg.train.distributed import world
    lr = t.lr * world()[1] if t.lr_scaling == 'linear' else t.lr
    return Trainer(task, augmenter, lr=lr, l2=t.l2, epochs=t.epochs,
                   eval_every=t.eval_every, patience=t.patience,
                   monitor=t.monitor, select_on=t.select_on,
                   seed=cfg.run.seed, parallel=cfg.run.parallel, **kwargs)
