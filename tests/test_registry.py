import pytest

from adar_pyg.registry import (AUGMENTER_NAMES, CF_MODEL_NAMES, MODEL_NAMES,
                               SR_MODEL_NAMES, Registry, UnknownNameError)


class A:
    def __init__(self, x, y=0):
        self.x, self.y = x, y


class B(A):
    pass


def test_register_lookup_and_order():
    reg = Registry('thing')
    assert reg.register('a', A) is A

    @reg.register('b', note='decorated')
    class C(A):
        pass

    reg.register('none', None)  # None is an entry, not a decorator
    assert reg.names() == ('a', 'b', 'none') == tuple(reg)
    assert reg['a'] is A and reg['b'] is C and reg['none'] is None
    assert len(reg) == 3 and 'a' in reg and 'z' not in reg
    assert dict(reg) == {'a': A, 'b': C, 'none': None}
    assert reg.info('b') == {'note': 'decorated'} and reg.info('a') == {}
    assert repr(reg) == "Registry('thing', [a, b, none])"


def test_build_calls_the_class_or_the_builder():
    reg = Registry('thing')
    reg.register('a', A)
    reg.register('b', B, build=lambda cls, cfg: cls(cfg['x'], y=cfg['y']))
    a = reg.build('a', 1, y=2)
    assert type(a) is A and (a.x, a.y) == (1, 2)
    b = reg.build('b', {'x': 3, 'y': 4})
    assert type(b) is B and (b.x, b.y) == (3, 4)


def test_unknown_name_names_the_known_ones():
    reg = Registry('sampler')
    reg.register('uniform', A)
    reg.register('mixgcf', B)
    with pytest.raises(UnknownNameError) as e:
        reg['mixgfc']
    assert str(e.value) == ("unknown sampler 'mixgfc' (did you mean "
                            "'mixgcf'?); known: uniform, mixgcf")
    assert isinstance(e.value, KeyError)  # a Mapping's lookup error
    assert reg.get('mixgfc') is None
    with pytest.raises(UnknownNameError, match='known: uniform, mixgcf'):
        reg.build('dns')
    with pytest.raises(UnknownNameError, match="unknown sampler 'x'"):
        reg.info('x')


def test_duplicate_and_undeclared_names_are_refused():
    reg = Registry('model', declared=('a', 'b'))
    reg.register('a', A)
    with pytest.raises(ValueError, match="model 'a' is already registered"):
        reg.register('a', B)
    with pytest.raises(ValueError, match="model 'c' is not declared"):
        reg.register('c', B)
    assert reg.missing() == ('b', )


def test_declared_names():
    assert CF_MODEL_NAMES == ('lightgcn', 'ngcf')
    assert SR_MODEL_NAMES == ('sasrec', 'gru4rec', 'cl4srec')
    assert tuple(MODEL_NAMES) == CF_MODEL_NAMES + SR_MODEL_NAMES
    assert AUGMENTER_NAMES[0] == 'none'


@pytest.mark.parametrize('name', AUGMENTER_NAMES)
def test_each_augmenter_reads_the_settings_declared_for_it(name):
    r"""AUGMENTER_SETTINGS (what `report` ignores as unused) is what the
    builder of each augmenter reads: a recording stand-in for the augmenter
    sections, built through the registry."""
    from adar_pyg.config import Config
    from adar_pyg.config.config import unused_settings
    from adar_pyg.pipeline import AUGMENTERS
    from adar_pyg.registry import AUGMENTER_SECTIONS, AUGMENTER_SETTINGS
    cfg = Config.build({'train': {'augmenter': name}})
    read = set()

    class Recording:
        def __init__(self, key, section):
            self._key, self._section = key, section

        def __getattr__(self, attr):
            read.add(f'{self._key}.{attr}')
            return getattr(self._section, attr)

    for key in AUGMENTER_SECTIONS:
        setattr(cfg, key, Recording(key, getattr(cfg, key)))
    AUGMENTERS.build(name, cfg, 8)
    declared = AUGMENTER_SETTINGS[name]
    assert all(k.split('.')[0] in declared or k in declared for k in read)
    whole = [s for s in declared if '.' not in s]
    for s in whole:  # A whole section: every setting read.
        assert {k for k in read if k.startswith(f'{s}.')} == {
            f'{s}.{f}' for f in Config.build({}).to_dict()[s]}
    assert {k for k in declared if '.' in k} <= read
    values = Config.build({'train': {'augmenter': name}}).to_dict()
    assert not read & set(unused_settings(values))


@pytest.mark.parametrize('name', ['lightgcn', 'ngcf', 'gru4rec', 'sasrec',
                                  'cl4srec'])
def test_each_backbone_reads_the_model_settings_declared_for_it(name):
    r"""MODEL_SETTINGS (the model settings `unused_settings` leaves out of a
    run: `report`'s groups, `tune`'s space) is what each backbone's builder
    reads of the model section, recorded through the registry."""
    from adar_pyg.config import Config
    from adar_pyg.config.config import unused_settings
    from adar_pyg.pipeline import MODELS
    from adar_pyg.registry import MODEL_NAMES, MODEL_SETTINGS
    task = MODEL_NAMES[name].task
    cfg = Config.build({'run': {'task': task},
                        'model': {'model': name}}).resolved()
    read = set()

    class Recording:
        def __init__(self, section):
            self._section = section

        def __getattr__(self, attr):
            read.add(attr)
            return getattr(self._section, attr)

    cfg.model = Recording(cfg.model)
    MODELS.build(name, cfg, 10, 12)
    assert read - {'model'} == set(MODEL_SETTINGS[name])
    unused = unused_settings(Config.build({'run': {'task': task}, 'model': {
        'model': name}}).to_dict())
    assert not {f'model.{k}' for k in read} & set(unused)


def test_unused_settings_say_why():
    from adar_pyg.config import Config
    from adar_pyg.config.config import unused_settings
    cf = unused_settings(Config.build({'sampler': {'sampler': 'dns'}}
                                      ).to_dict())
    assert cf['model.heads'] == '(not read by model.model lightgcn)'
    assert 'train.max_batches' not in cf  # (both tasks read it)
    assert cf['adar.weight'] == '(train.augmenter none)'
    assert cf['sampler.ahns_alpha'] == '(sampler.sampler dns)'
    assert cf['train.fanout'] == '(read with train.sampled only)'
    assert 'sampler.num_candidates' not in cf  # (dns draws candidates)
    # (under torchrun a run records run.nproc 1 and scales its lr all the
    # same: lr_scaling must keep its runs apart in `report`)
    assert 'train.lr_scaling' not in cf
    uniform = unused_settings(Config.build({}).to_dict())
    assert uniform['sampler.num_candidates'] == '(sampler.sampler uniform)'
    sr = unused_settings(Config.build({'run': {'task': 'sr'}, 'model': {
        'model': 'sasrec'}}).to_dict())
    assert sr['sampler.sampler'] == '(CF only; run.task sr)'
    assert sr['train.sampled'] == '(CF only; run.task sr)'
    assert 'model.heads' not in sr and 'train.max_batches' not in sr
    assert [k for k in sr if k.startswith(('run.', 'split.'))] == [
        'split.val_ratio', 'split.test_ratio']  # (leave-one-out reads none)
    # (the columns of your own data: a built-in dataset names its own)
    assert [k for k in sr if k.startswith('data.')] == [
        'data.user_col', 'data.item_col', 'data.time_col']
    assert sr['data.user_col'] == '(read with data.data only)'
    own = unused_settings(Config.build({'data': {'data': 'r.csv'}}).to_dict())
    assert own['data.dataset'] == '(data.data is read instead)'
    assert not any(k.startswith('data.') and k != 'data.dataset' for k in own)


def test_declared_per_layer_is_the_class_contract():
    r"""`ModelName.per_layer` (what the settings check for a sampler with
    `requires_layers`, before any data are read) is the backbone class's
    `per_layer`, and such a backbone gives the layers `forward` pools."""
    import torch

    from adar_pyg.pipeline import MODELS
    for name in CF_MODEL_NAMES:
        cls = MODELS[name]
        assert MODEL_NAMES[name].per_layer == cls.per_layer, name
        model = cls(4, 5, 8)
        edge_index = torch.tensor([[0, 1, 2, 3, 0], [0, 1, 2, 3, 4]])
        if cls.per_layer:
            users, items = model.layer_embeddings(edge_index)
            out = model(edge_index)
            assert torch.allclose(model.pool_layers(users), out[0])
            assert torch.allclose(model.pool_layers(items), out[1])
        else:
            with pytest.raises(NotImplementedError, match='per-layer'):
                model.layer_embeddings(edge_index)
