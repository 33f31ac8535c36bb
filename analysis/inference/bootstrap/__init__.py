"""Bootstrap inference for the paper's two-part models (pairs and cluster).

Entry points: :func:`analysis.inference.bootstrap.results.main` (the ``bootstrap``
stage) and
:func:`analysis.inference.bootstrap.results.bootstrap` (pure: data in, tidy tables out).
Modules: :mod:`.resample` (row weights from SeedSequence children),
:mod:`.problem` (the model set as numpy kernels), :mod:`.replicate` (one
replication), :mod:`.runner` (joblib / Dask), :mod:`.intervals` (percentile,
normal, bias-corrected CIs), :mod:`.results` (tidy outputs, Tables 3-4 cells).
"""
