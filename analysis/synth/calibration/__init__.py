"""The calibration of the analytic frame to the publication, one module per step.

The steps run in this order (``analysis.synth.analytic`` calls them; the diagram and
what each step fixes and may not move are in ``analysis/synth/README.md``):

1. ``covariates``: covariates exact to Table 1 by column.
2. ``participation`` and ``flip_polish``: who is reimbursed, so the probit gives back
   the Tables 3-4 probit cells (cell counts exact to Tables 1-2).
3. ``covariate_exchanges``: scope / reason exchanges that finish the probit points.
4. ``part2_counts``: who among the reimbursed has a usable amount (C05-C07).
5. ``money_moments``: part-2 amount and cost with the Table 1-2 moments.
6. ``glm_scores``: amount and ratio moved until the Gamma-log GLMs give Tables 3-4.
7. ``other_costs``: costs of the other stays, Table 1's cost moments.
8. ``reasons``: reasons for no reimbursement (Figures 1-2).

Support modules, not steps: ``cells`` (the Table 3-4 cells aligned with the design
columns), ``fits`` (the fast probit and Gamma-log fits the steps refit with) and
``score_equations`` (the equations and solvers of the GLM step).
"""
