"""Test layers: every test module belongs to exactly one, and each runs alone.

``pytest -m unit`` (hand-built inputs, answers computed by hand or in closed form),
``-m recovery`` (simulations with known truth, the calibrated generator's targets),
``-m reference`` (numbers from Stata, R or scipy for the same models, and the
out-of-core path against the in-memory one), ``-m pipeline``
(the stages and the Makefile end to end, real-data swaps, hostile files, the notebook).
A new test module must be added to :data:`LAYERS`, or the collection fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shared import built_once

LAYERS = {
    "unit": (
        "test_clean", "test_validate", "test_descriptives", "test_render",
        "test_stamp", "test_disclosure", "test_model_tables", "test_figures",
        "test_cli", "test_estimate_omissions", "test_diagnostics", "test_robustness",
        "test_counterfactuals", "test_calibrate_swaps", "test_report", "test_esttab",
        "test_dictionary", "test_selection_bound", "test_vocabulary",
        "test_architecture",
        "test_twopart_api", "test_twopart_results", "test_twopart_contrasts",
        "test_twopart_margins_fast",
    ),
    "recovery": (
        "test_twopart_sim", "test_montecarlo", "test_bootstrap",
        "test_counterfactual_bootstrap", "test_calibration", "test_calibration_probit",
        "test_calibration_seeds", "test_synth_analytic", "test_synth_raw",
        "test_synth_realism",
    ),
    "reference": (
        "test_twopart_vs_stata", "test_twopart_vs_r", "test_twopart_conventions",
        "test_stat_tests", "test_publication_log", "test_twopart_dask",
        "test_betareg",
    ),
    "pipeline": (
        "test_pipeline", "test_regeneration", "test_compare_raw", "test_notebook",
        "test_real_data_swap", "test_hostile_inputs", "test_bootstrap_dask",
        "test_conventions",
    ),
}  # fmt: skip
LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}
START_ORDER = ("pipeline", "recovery", "reference", "unit")


@pytest.fixture(scope="session")
def master_draw(tmp_path_factory, worker_id) -> tuple:
    """The master seed's analytic frame (the one the pipeline ships), its attempt, and
    whether the synthesis left the seed's state as it found it.

    Synthesising it takes 10-20 s; several modules measure it, so it is built once per
    run (:mod:`shared`). Modules take a copy: a test that edits it spoils no other.
    """
    from analysis.config import MASTER_SEED
    from analysis.synth import analytic_seed
    from analysis.synth.analytic import synthesize_with_attempt

    def build():
        seed = analytic_seed(MASTER_SEED)
        before = seed.state
        frame, attempt = synthesize_with_attempt(seed)
        return frame, attempt, seed.state == before

    folder = None if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    return built_once(folder, "master_analytic", build)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the layer markers (``--strict-markers`` is on)."""
    for layer in LAYERS:
        config.addinivalue_line("markers", f"{layer}: the {layer} test layer")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Mark every test with its module's layer; refuse a module with none."""
    unlisted = set()
    for item in items:
        module = Path(str(item.fspath)).stem
        layer = LAYER_OF.get(module)
        if layer is None:
            unlisted.add(module)
            continue
        item.add_marker(getattr(pytest.mark, layer))
    if unlisted:
        raise pytest.UsageError(
            f"test module(s) {sorted(unlisted)} belong to no layer: add them to "
            "LAYERS in tests/conftest.py"
        )
    # Longest first: ``make test`` hands whole modules to two workers in this order
    # (``--dist loadfile --no-loadscope-reorder``), and the pipeline and recovery
    # modules hold the long tests, so the short unit modules fill the end evenly.
    items.sort(key=lambda item: START_ORDER.index(LAYER_OF[Path(item.fspath).stem]))
