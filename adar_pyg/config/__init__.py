r"""Typed run configuration, declared once (:mod:`~adar_pyg.config.sections`),
with the flags, the YAML file and the saved :obj:`config.yaml` derived from
it (:mod:`~adar_pyg.config.config`, :mod:`~adar_pyg.config.settings`):
settings only. The objects of a run are built from a :class:`Config` by
:mod:`adar_pyg.pipeline`; the CLI (:mod:`adar_pyg.cli`) sits on top."""
from adar_pyg.config.settings import ConfigError, Section, setting
from adar_pyg.config.sections import (SECTIONS, ADARConfig, CNSDiffConfig,
                                      DataConfig, ModelConfig, RunConfig,
                                      SamplerConfig, SplitConfig, TrainConfig)
from adar_pyg.config.config import (PRESETS, Config, add_config_args,
                                    add_output_args, parse_args,
                                    config_from_args, read_yaml,
                                    recorded_settings, settings_given)

__all__ = [
    'Config', 'ConfigError', 'Section', 'setting', 'SECTIONS', 'RunConfig',
    'DataConfig', 'SplitConfig', 'ModelConfig', 'SamplerConfig',
    'TrainConfig', 'ADARConfig', 'CNSDiffConfig', 'PRESETS',
    'add_config_args', 'add_output_args', 'parse_args', 'config_from_args',
    'read_yaml', 'recorded_settings', 'settings_given'
]


def __getattr__(name: str):
    # `adar_pyg.config.build` moved to `adar_pyg.pipeline` (config holds the
    # settings only); the old attribute still resolves, with a warning.
    if name == 'build':
        import importlib
        import warnings
        warnings.warn("'adar_pyg.config.build' moved to 'adar_pyg.pipeline'",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module('adar_pyg.pipeline')
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")
