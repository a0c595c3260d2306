"""Bulk enrolment: a folder of people into a gallery, in this process or on a Ray cluster
(bulk/ray_runner.py, the only module that imports Ray)."""
from .job import JobOptions, LocalRunner, Runner, list_photos, run_job
from .maker import EngineSpec, TemplateMaker
from .report import JobReport, SkippedPhoto, SubjectReport

__all__ = ["EngineSpec", "JobOptions", "JobReport", "LocalRunner", "Runner", "SkippedPhoto", "SubjectReport",
           "TemplateMaker", "list_photos", "run_job"]
