r"""Named building blocks: a :class:`Registry` maps a name (the one of the
CLI flag and of the YAML file) to a class, and, where the class needs
more than the common arguments, to a builder that reads the typed
config. It replaces if/isinstance chains over names, in the spirit of
PyG's :mod:`torch_geometric.nn.resolver` and RecBole's :obj:`get_model`.

The registries of :mod:`adar_pyg` live beside what they name
(:obj:`adar_pyg.sampling.SAMPLERS`) or in :mod:`adar_pyg.pipeline`
(:obj:`MODELS`, :obj:`AUGMENTERS`, :obj:`DATASETS`). The settings
(:mod:`adar_pyg.config`) must not import the models, so the names they
accept are declared here, once (:obj:`MODEL_NAMES`, :obj:`AUGMENTER_NAMES`),
and :mod:`adar_pyg.pipeline` registers one entry for each of them (the
registry refuses an undeclared name; a test checks none is missing).

This module imports nothing of :mod:`adar_pyg`: any layer may use it."""
import difflib
from typing import (Any, Callable, Collection, Dict, Generic, Iterator,
                    Mapping, NamedTuple, Optional, Tuple, TypeVar)

T = TypeVar('T')


class ModelName(NamedTuple):
    r"""What the settings know of a backbone: its task, the defaults of
    the model settings it leaves at :obj:`None`, and whether it gives
    per-layer representations (its class's :obj:`per_layer`, as a sampler
    with :obj:`requires_layers` needs; a test checks the two agree)."""
    task: str
    layers: int
    dropout: Optional[float] = None
    per_layer: bool = False


#: The backbones (:obj:`--model`): their task (:obj:`'cf'` or :obj:`'sr'`)
#: and the defaults of :obj:`model.layers` and :obj:`model.dropout`. The
#: order is that of :obj:`--help`.
MODEL_NAMES: Dict[str, ModelName] = {
    'lightgcn': ModelName('cf', layers=3, per_layer=True),
    'ngcf': ModelName('cf', layers=3),
    'sasrec': ModelName('sr', layers=2, dropout=0.5),
    'gru4rec': ModelName('sr', layers=1, dropout=0.3),
    'cl4srec': ModelName('sr', layers=2, dropout=0.5),
}
#: The collaborative-filtering backbones (:obj:`--task cf`).
CF_MODEL_NAMES: Tuple[str, ...] = tuple(
    name for name, m in MODEL_NAMES.items() if m.task == 'cf')
#: The sequential backbones (:obj:`--task sr`).
SR_MODEL_NAMES: Tuple[str, ...] = tuple(
    name for name, m in MODEL_NAMES.items() if m.task == 'sr')
#: The augmenters (:obj:`--augmenter`); :obj:`'none'` trains without one.
AUGMENTER_NAMES: Tuple[str, ...] = ('none', 'adar', 'cnsdiff', 'reweight',
                                    'noise')
#: The augmenter settings each augmenter reads: a section (all of its
#: settings) or one :obj:`'section.name'`; the other settings of the
#: augmenter sections (:obj:`AUGMENTER_SECTIONS`) do not change its run
#: (a test builds each augmenter with them changed).
AUGMENTER_SETTINGS: Dict[str, Tuple[str, ...]] = {
    'none': (), 'adar': ('adar', ), 'cnsdiff': ('cnsdiff', ),
    'reweight': ('adar.weight', ), 'noise': ('adar.weight', )}
#: The sections of augmenter settings.
AUGMENTER_SECTIONS: Tuple[str, ...] = ('adar', 'cnsdiff')
#: The settings of the :obj:`model` section each backbone's builder reads
#: (besides :obj:`model.model`); the others do not change its run (a test
#: records what each builder reads).
MODEL_SETTINGS: Dict[str, Tuple[str, ...]] = {
    'lightgcn': ('dim', 'layers'),
    'ngcf': ('dim', 'layers', 'ngcf_node_dropout', 'ngcf_message_dropout'),
    'gru4rec': ('dim', 'layers', 'dropout'),
    'sasrec': ('dim', 'layers', 'heads', 'dropout'),
    'cl4srec': ('dim', 'layers', 'heads', 'dropout', 'cl_weight',
                'cl_temperature', 'cl_similarity', 'crop_ratio',
                'mask_ratio', 'reorder_ratio'),
}
#: How several processes share a run (:obj:`--parallel`): :obj:`'data'`
#: splits each global batch, :obj:`'columns'` the embedding columns (see
#: :class:`~adar_pyg.train.Trainer`).
PARALLEL: Tuple[str, ...] = ('data', 'columns')

_DECORATE = object()  # register(name) without an object: a decorator


class UnknownNameError(KeyError):
    r"""A name that no entry of a :class:`Registry` has; the message names
    the known ones (and the nearest)."""
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class Registry(Mapping[str, T], Generic[T]):
    r"""A small explicit mapping from names to classes (or other objects),
    with an optional builder per name.

    .. code-block:: python

        MODELS = Registry('model')

        @MODELS.register('lightgcn')
        class LightGCN(BipartiteRecommender): ...

        MODELS.register('ngcf', NGCF, build=ngcf_from_config)
        MODELS['lightgcn']           # LightGCN
        MODELS.build('ngcf', cfg)    # ngcf_from_config(NGCF, cfg)
        MODELS.build('lightgcn', 5, 7)  # LightGCN(5, 7)

    Iterating, :obj:`len`, :obj:`in` and :meth:`names` follow the order of
    registration. Looking up an unknown name raises
    :class:`UnknownNameError` naming the known ones.

    Args:
        kind (str): What the entries are (*e.g.* :obj:`'model'`), for
            messages.
        declared (collection of str, optional): The names the settings
            accept (*e.g.* :obj:`MODEL_NAMES`); registering another name
            fails, and :meth:`missing` lists the declared names without an
            entry. (default: :obj:`None`: any name)
    """
    def __init__(self, kind: str,
                 declared: Optional[Collection[str]] = None) -> None:
        self.kind = kind
        self.declared = declared
        self._entries: Dict[str, T] = {}
        self._builders: Dict[str, Callable[..., Any]] = {}
        self._info: Dict[str, Dict[str, Any]] = {}

    def register(self, name: str, obj: Any = _DECORATE, *,
                 build: Optional[Callable[..., Any]] = None,
                 **info: Any) -> Any:
        r"""Registers :obj:`obj` under :obj:`name`, or, without
        :obj:`obj`, returns a decorator that does. :obj:`build`
        (optional) makes the object from the arguments of :meth:`build`,
        called as :obj:`build(obj, *args, **kwargs)`; by default
        :meth:`build` calls :obj:`obj(*args, **kwargs)`. Further keyword
        arguments are kept as the entry's :meth:`info`."""
        if obj is _DECORATE:
            def decorator(obj: T) -> T:
                self.register(name, obj, build=build, **info)
                return obj
            return decorator
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered "
                             f"({self._entries[name]!r})")
        if self.declared is not None and name not in self.declared:
            raise ValueError(f"{self.kind} '{name}' is not declared: add it "
                             f"to the names in adar_pyg/registry.py first "
                             f"(the settings accept declared names only)")
        self._entries[name] = obj
        if build is not None:
            self._builders[name] = build
        self._info[name] = dict(info)
        return obj

    def info(self, name: str) -> Dict[str, Any]:
        r"""The keyword arguments :obj:`name` was registered with (besides
        :obj:`build`)."""
        self[name]  # an unknown name raises, naming the known ones
        return self._info[name]

    def missing(self) -> Tuple[str, ...]:
        r"""The declared names that have no entry."""
        return tuple(n for n in self.declared or () if n not in self)

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        r"""The object of :obj:`name` made by its builder (or by calling
        the registered class) with :obj:`args` and :obj:`kwargs`."""
        obj: Any = self[name]
        builder = self._builders.get(name)
        if builder is None:
            return obj(*args, **kwargs)
        return builder(obj, *args, **kwargs)

    def names(self) -> Tuple[str, ...]:
        r"""The registered names, in the order of registration."""
        return tuple(self._entries)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            names = list(self._entries)
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{hint}; known: "
                f"{', '.join(names) or 'none'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.kind!r}, "
                f"[{', '.join(self._entries)}])")
