"""The bulk enrolment job: list DIR/<subject>/* photos, have a runner make their templates (this
process, or Ray Data actors: bulk/ray_runner.py), and write them to the gallery in transactions of
whole subjects, by the gallery's enrolment rules.

Resume: the SHA-256 of every photo already enrolled is read from the gallery first and travels
with each listed photo; the template maker hashes the bytes it reads anyway and skips the decode and
embed of a known photo. Photos are read once, where they are decoded (never by the driver), and a
subject is written whole or not at all, so a killed job run again enrols exactly what is missing."""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from ..engine import Engine
from ..errors import FaceprintError
from ..gallery.bulk_enrol import SubjectPhotos
from ..progress import progress
from ..types import Template
from .maker import Batch, EngineSpec, TemplateMaker
from .report import JobReport, SkippedPhoto


@dataclass(frozen=True)
class JobOptions:
    """force and best: Gallery.enroll's; best counts photos a previous run enrolled. commit_every:
    photos per gallery transaction (rounded up to whole subjects). batch_size: photos per call of a
    template maker."""
    force: bool = False
    best: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    commit_every: int = 512
    batch_size: int = 64


class Runner(Protocol):
    """Who makes the templates: yields TemplateMaker output batches covering every row given once."""
    name: str

    def run(self, rows: list[dict[str, str]], batch_size: int) -> Iterator[Batch]: ...


class LocalRunner:
    """Templates made in this process: one TemplateMaker, the next batch read and decoded on
    threads while the current one is detected and embedded."""

    def __init__(self, spec: EngineSpec, engine: Engine | None = None):
        self.spec, self.engine = spec, engine
        self.name = f"local, {spec.threads or 'all'} thread(s)"

    def run(self, rows: list[dict[str, str]], batch_size: int) -> Iterator[Batch]:
        maker = TemplateMaker(self.spec, decode_threads=max(self.spec.threads or 2, 2), engine=self.engine)
        chunks = [columns(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
        with ThreadPoolExecutor(max_workers=1) as ahead:
            pending = ahead.submit(maker.prepare, chunks[0]) if chunks else None
            for k in range(len(chunks)):
                photos = pending.result()
                if k + 1 < len(chunks):
                    pending = ahead.submit(maker.prepare, chunks[k + 1])
                yield maker.finish(photos)


def columns(rows: list[dict[str, str]]) -> Batch:
    return {key: [r[key] for r in rows] for key in ("subject", "path", "known")}


def list_photos(root: Path) -> dict[str, list[str]]:
    """{subject: its photo paths}: one subject per sub-folder of root, hidden files left out."""
    people = sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
    if not people:
        raise FaceprintError(f"{root} has no sub-folders; expected {root}/<name>/*.jpg")
    return {p.name: sorted(str(f) for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            for p in people}


@dataclass(frozen=True)
class _Result:
    path: str
    sha256: str
    status: str
    reason: str
    template: Template | None


def _results(batch: Batch) -> Iterator[tuple[str, _Result]]:
    """(subject, result) for each row of a TemplateMaker output batch."""
    for i, status in enumerate(batch["status"]):
        template = None
        if status == "ok":
            masked = float(batch["masked"][i])
            template = Template(vector=np.asarray(batch["vector"][i], np.float32), model=str(batch["model"][i]),
                                quality=float(batch["quality"][i]), quality_detail=json.loads(batch["detail"][i]),
                                source=str(batch["sha256"][i]), masked=None if math.isnan(masked) else masked,
                                unmasked=bool(batch["unmasked"][i]))
        yield str(batch["subject"][i]), _Result(str(batch["path"][i]), str(batch["sha256"][i]), str(status),
                                                str(batch["reason"][i]), template)


class _Writer:
    """Gathers each subject's results until all its photos are in, then writes subjects to the
    gallery in transactions of about options.commit_every photos."""

    def __init__(self, gallery, listing: dict[str, list[str]], options: JobOptions, report: JobReport):
        self.gallery, self.options, self.report = gallery, options, report
        self.expected = {name: len(paths) for name, paths in listing.items()}
        self.got: dict[str, dict[str, _Result]] = {}
        self.ready: list[tuple[str, list[_Result]]] = []
        self.ready_photos = 0

    def add(self, subject: str, result: _Result) -> None:
        got = self.got.setdefault(subject, {})
        got[result.path] = result           # a batch a restarted worker retried counts once
        if len(got) == self.expected[subject]:
            self.ready.append((subject, sorted(self.got.pop(subject).values(), key=lambda r: r.path)))
            self.ready_photos += self.expected[subject]
            if self.ready_photos >= self.options.commit_every:
                self.flush()

    def flush(self) -> None:
        """Write the subjects that are complete, in one transaction."""
        if not self.ready:
            return
        offers = []
        for subject, results in self.ready:
            mine = self.report.subject(subject)
            for r in results:
                if r.status == "already_enrolled":
                    mine.already_enrolled.append(r.path)
                elif r.template is None:
                    mine.skipped.append(SkippedPhoto(r.path, r.status, r.reason))
            best = self.options.best        # photos enrolled before count towards it
            if best is not None:
                best = max(best - len({r.sha256 for r in results if r.status == "already_enrolled"}), 0)
            offers.append(SubjectPhotos(subject, [r.template for r in results if r.template is not None], best))
        outcomes = self.gallery.enroll_many(offers, metadata=self.options.metadata or None, force=self.options.force)
        for (subject, results), outcome in zip(self.ready, outcomes):
            made = [r for r in results if r.template is not None]
            mine, skipped = self.report.subject(subject), {s.index: s for s in outcome.skipped}
            for i, r in enumerate(made):
                if i in skipped:
                    mine.skipped.append(SkippedPhoto(r.path, skipped[i].code, skipped[i].reason))
                else:
                    mine.enrolled.append(r.path)
        self.ready, self.ready_photos = [], 0


def run_job(gallery, folder: Path, runner: Runner, options: JobOptions = JobOptions(), *,
            show_progress: bool = True) -> JobReport:
    """Enrol every photo of folder/<subject>/ not yet in the gallery; returns what became of each."""
    t0 = time.perf_counter()
    listing = list_photos(folder)
    known = gallery.enrolled_sources()
    rows = []
    for name, paths in listing.items():
        mine = "\n".join(sorted(known.get(name, ())))
        rows += [{"subject": name, "path": path, "known": mine} for path in paths]
    report = JobReport(folder=str(folder), runner=runner.name, photos=len(rows))
    writer = _Writer(gallery, {n: p for n, p in listing.items() if p}, options, report)
    results = (r for batch in runner.run(rows, options.batch_size) for r in _results(batch))
    for subject, result in progress(results, desc="enrolling", unit="photo", total=len(rows), enabled=show_progress):
        writer.add(subject, result)
    writer.flush()
    report.runner = runner.name         # a Ray runner names its pool once it has met the cluster
    if report.accounted != report.photos:
        raise FaceprintError(f"the template makers returned {report.accounted} of {report.photos} photos "
                             f"(incomplete subjects: {', '.join(sorted(writer.got)[:5])}); run the job again to finish")
    report.seconds = time.perf_counter() - t0
    return report
