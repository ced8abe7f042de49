"""The pipeline as data: which detectors run with which parameters, how the ensemble weighs them,
where events start - read from a TOML file (``analytics/pipelines/<name>.toml``) plus the files
fitted for it next to it (``<name>.calibration.json``, ``<name>.combiner*.json``). The CLI, the
dashboard and the distributed run all execute :func:`score_partition` with the same
:class:`Pipeline`.

Modules, one concern each: :mod:`.config` (reading and validating the TOML, the fit fingerprint),
:mod:`.load` (the TOML and its fitted files), :mod:`.run` (running the models, scoring a
partition), :mod:`.thresholds` (event thresholds learned in the run), :mod:`.calibration` (fitting
the clean-data calibration), :mod:`.blocks` (scoring store-sized mixes in blocks).
"""

from analytics.detectors.base import InputError
from analytics.pipeline.blocks import MAX_PANEL_CELLS, score_blocks
from analytics.pipeline.calibration import calibrate, calibrate_clean_events
from analytics.pipeline.config import (
    PIPELINE_DIR,
    DetectorConfig,
    PanelSettings,
    Pipeline,
    fit_fingerprint,
    fitted_config,
)
from analytics.pipeline.load import StaleFitError, apply_calibration, apply_clean_events, load_pipeline
from analytics.pipeline.run import (
    ScoreResult,
    combiner_surprise,
    param_networks,
    run_models,
    score_partition,
    scoring_surprise,
)
from analytics.pipeline.thresholds import at_capacity, in_run_thresholds

__all__ = [
    "MAX_PANEL_CELLS", "PIPELINE_DIR", "DetectorConfig", "InputError", "PanelSettings", "Pipeline", "ScoreResult",
    "StaleFitError", "apply_calibration", "apply_clean_events", "calibrate", "calibrate_clean_events", "combiner_surprise", "fit_fingerprint", "fitted_config",
    "at_capacity", "in_run_thresholds", "load_pipeline", "param_networks", "run_models", "score_blocks", "score_partition",
    "scoring_surprise",
]
