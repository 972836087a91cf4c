r"""The defaults of the commands' own arguments (not settings of a run,
which :mod:`adar_pyg.config` declares): declared once here, read by the
functions (:func:`adar_pyg.run.evaluate`, :func:`adar_pyg.run.recommend`,
:func:`adar_pyg.report.report_runs`, :func:`adar_pyg.tune.tune`,
:func:`adar_pyg.tune.compare`) and by the flags of :obj:`adar-pyg`, whose
parser imports this light module only."""

#: The split a saved run's metrics are read or computed on (``evaluate``,
#: ``report``).
SPLIT = 'test'
#: How many items ``recommend`` lists.
TOP_K = 10
#: The seed runs of each arm's best configuration (``compare``).
SEEDS = 5
#: The processes sharing a study's trials (``tune``, ``compare``).
WORKERS = 1
