"""What a bulk job did with every photo it listed: enrolled, already enrolled, or skipped with a
reason code, per subject; the summary line and the --report JSON."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Reason codes of skipped photos: the template maker's (no_face, unreadable) and the gallery's
# enrolment rules' (duplicate, near_duplicate, masked, low_quality, not_best).
MAKER_CODES = ("no_face", "unreadable")


@dataclass(frozen=True)
class SkippedPhoto:
    path: str
    code: str
    reason: str


@dataclass
class SubjectReport:
    """One subject's photos: the paths enrolled by this job, those a previous run (or another
    enrolment) had already enrolled, and those skipped."""
    enrolled: list[str] = field(default_factory=list)
    already_enrolled: list[str] = field(default_factory=list)
    skipped: list[SkippedPhoto] = field(default_factory=list)


@dataclass
class JobReport:
    folder: str
    runner: str
    photos: int
    seconds: float = 0.0
    subjects: dict[str, SubjectReport] = field(default_factory=dict)

    def subject(self, name: str) -> SubjectReport:
        return self.subjects.setdefault(name, SubjectReport())

    @property
    def enrolled(self) -> int:
        return sum(len(s.enrolled) for s in self.subjects.values())

    @property
    def already_enrolled(self) -> int:
        return sum(len(s.already_enrolled) for s in self.subjects.values())

    @property
    def skipped(self) -> Counter[str]:
        return Counter(p.code for s in self.subjects.values() for p in s.skipped)

    @property
    def accounted(self) -> int:
        """Photos with an outcome; equals `photos` once the job has finished."""
        return self.enrolled + self.already_enrolled + sum(self.skipped.values())

    @property
    def enrolled_subjects(self) -> int:
        """Subjects of the folder that hold photos of it now (enrolled by this run or before)."""
        return sum(1 for s in self.subjects.values() if s.enrolled or s.already_enrolled)

    @property
    def photos_per_s(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        skipped = self.skipped
        why = ", ".join(f"{code} {n}" for code, n in sorted(skipped.items()))
        return (f"enrolled {self.enrolled_subjects} subjects from {self.folder}: {self.enrolled} photo(s) added, "
                f"{self.already_enrolled} already enrolled, {sum(skipped.values())} skipped"
                + (f" ({why})" if why else "")
                + f"; {self.photos} photos in {self.seconds:.1f} s ({self.photos_per_s:.1f} photos/s, {self.runner})")

    def as_dict(self, subjects: bool = True) -> dict[str, Any]:
        """The totals, and with subjects=True every photo's outcome by subject (the --report file)."""
        out = {"folder": self.folder, "runner": self.runner, "photos": self.photos,
               "seconds": round(self.seconds, 3), "photos_per_s": round(self.photos_per_s, 2),
               "enrolled": self.enrolled, "already_enrolled": self.already_enrolled,
               "skipped_by_reason": dict(sorted(self.skipped.items())), "enrolled_subjects": self.enrolled_subjects}
        if subjects:
            out["subjects"] = {name: {"enrolled": s.enrolled, "already_enrolled": s.already_enrolled,
                                      "skipped": [{"photo": p.path, "code": p.code, "reason": p.reason}
                                                  for p in s.skipped]}
                               for name, s in sorted(self.subjects.items())}
        return out
