"""Session fixtures: one tiny trained run and its four exported variants, shared by the export,
classifier and edge-app tests (training and conversion take seconds, so they happen once)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def export_run(tmp_path_factory):
    from train.config import TrainConfig
    from train.fit import fit

    out = tmp_path_factory.mktemp("export-runs")
    return fit(TrainConfig(model="baseline", epochs=2, limit=3000, out=str(out)), progress=False).path


@pytest.fixture(scope="session")
def exported(export_run, tmp_path_factory):
    """variant → path of the packed .tflite, all four variants (200 calibration images)."""
    from export.config import ExportConfig
    from export.convert import convert_all

    out = tmp_path_factory.mktemp("export-models")
    paths = convert_all(export_run, config=ExportConfig(out=str(out), calibration=200))
    return {p.stem.split("-", 1)[1]: p for p in paths}
