"""Replication package for Wang, Liang, Zhang, Hou (2022), BMJ Open 12:e060551.

Stages (each a subcommand of ``python -m analysis``): generate the synthetic raw survey,
clean it into the analytic sample, describe it (Tables 1-2), fit the two-part models and
write the exhibits. The two-part estimator itself lives in :mod:`analysis.twopart`.
"""

__version__ = "0.1.0"
