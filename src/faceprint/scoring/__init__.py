"""Scoring: comparison, calibrated thresholds (FMR, FPIR from the gallery size) and mask-aware
equalisation. Imports point one way: nothing here imports the engine or the face stages."""
from .compare import compare, probe_score
from .masks import (
                         UNMASK_AT,
                         equalise,
                         equalise_where,
                         unmask,
                         unmasking,
                         unmasking_version,
)
from .thresholds import (
                         DEFAULT_FPIR,
                         calibration,
                         check_fpir,
                         fmr_for_fpir,
                         threshold_at_fmr,
                         threshold_for_fmr,
                         threshold_for_fpir,
)

__all__ = [
                         "DEFAULT_FPIR",
                         "UNMASK_AT",
                         "calibration",
                         "check_fpir",
                         "compare",
                         "equalise",
                         "equalise_where",
                         "fmr_for_fpir",
                         "probe_score",
                         "threshold_at_fmr",
                         "threshold_for_fmr",
                         "threshold_for_fpir",
                         "unmask",
                         "unmasking",
                         "unmasking_version",
]
