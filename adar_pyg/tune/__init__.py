r"""Hyper-parameter studies on `Optuna <https://optuna.org>`_ (the
:obj:`tune` extra: :obj:`pip install -e '.[tune]'` from the checkout,
imported only when a study runs): a search space in YAML beside a normal config
(:mod:`~adar_pyg.tune.space`) and :func:`tune`, whose trials are ordinary
run directories scored on validation only (:mod:`~adar_pyg.tune.study`).

.. code-block:: python

    from adar_pyg.config import Config
    from adar_pyg.tune import tune

    cfg = Config.build({'data': {'data': 'my.csv'}, 'train': {'epochs': 50}})
    study = tune(cfg, {'train.lr': {'log_uniform': [1e-4, 1e-2]},
                       'train.l2': {'choices': [0.0, 1e-4, 1e-3]}},
                 trials=20, out='studies/lr-l2')
    print(study.best_params)  # Also in studies/lr-l2/tune.md

:func:`compare` runs the equal-budget protocol over several arms (a base
and variants, each tuned with the same number of trials, its best trial
trained over seeds and tested once; :mod:`~adar_pyg.tune.comparison`);
:func:`compare_status` says where one stands (:mod:`~adar_pyg.tune.status`).
"""
from adar_pyg.tune.space import (DISTRIBUTIONS, Param, SearchSpace,
                                 load_space, parse_space)
from adar_pyg.tune.study import summary, trial_dir, tune, write_report
from adar_pyg.tune.arms import Arm, Arms, load_arms, parse_arms
from adar_pyg.tune.comparison import compare
from adar_pyg.tune.status import compare_status

__all__ = ['tune', 'compare', 'compare_status', 'SearchSpace', 'Param',
           'parse_space', 'load_space', 'DISTRIBUTIONS', 'summary',
           'write_report', 'trial_dir', 'Arm', 'Arms', 'parse_arms',
           'load_arms']
