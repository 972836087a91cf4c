r"""Typed run configuration, declared once (:mod:`~adar_pyg.config.sections`),
with the flags, the YAML file and the saved :obj:`config.yaml` derived from
it, and the builders of a run's objects (:mod:`~adar_pyg.config.build`).
This is the only layer of :obj:`adar_pyg` that knows about flags and files;
the CLI (:mod:`adar_pyg.cli`) sits on top of it."""
from adar_pyg.config.settings import ConfigError, Section, setting
from adar_pyg.config.sections import (SECTIONS, ADARConfig, CNSDiffConfig,
                                      DataConfig, ModelConfig, RunConfig,
                                      SamplerConfig, SplitConfig, TrainConfig)
from adar_pyg.config.config import (PRESETS, Config, add_config_args,
                                    add_output_args, parse_args,
                                    config_from_args, read_yaml,
                                    settings_given)

__all__ = [
    'Config', 'ConfigError', 'Section', 'setting', 'SECTIONS', 'RunConfig',
    'DataConfig', 'SplitConfig', 'ModelConfig', 'SamplerConfig',
    'TrainConfig', 'ADARConfig', 'CNSDiffConfig', 'PRESETS',
    'add_config_args', 'add_output_args', 'parse_args', 'config_from_args', 'read_yaml', 'settings_given'
]
