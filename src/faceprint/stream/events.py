"""What the watcher reports: one Event per decision, track end or change in a live source."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

# attack: a recognised track judged a presentation attack (watch --liveness); never also "recognized".
EVENT_TYPES = ("recognized", "attack", "unknown", "track_end", "source_lost", "source_back")
LIVENESS_FIELDS = ("live", "live_score")       # only with liveness on (absent otherwise)
TRACK_FIELDS = ("track", "subject", "score", "first_seen", "frame", "box", "masked", "samples")


@dataclass(frozen=True)
class Event:
    """One thing that happened in a source. time: media seconds since the source started; wall: unix
    time the event was emitted; first_seen: media time the track began; box: [x, y, w, h] pixels."""
    event: str
    source: str
    time: float
    wall: float
    track: int | None = None
    subject: str | None = None
    score: float | None = None
    first_seen: float | None = None
    frame: int | None = None
    box: list[float] | None = None
    masked: bool | None = None       # the track's faces mostly wear a mask
    reason: str | None = None
    samples: int | None = None       # face templates the track's vote used
    live: bool | None = None         # the track judged live (stream.liveness); None: not judged
    live_score: float | None = None  # the track's combined liveness score

    def to_dict(self) -> dict[str, Any]:
        """Track events always carry the track fields (subject is null for `unknown`); source events
        carry `reason` instead."""
        d = asdict(self)
        for k in ("time", "first_seen"):
            if d[k] is not None:
                d[k] = round(d[k], 3)
        for k in ("score", "live_score"):
            if d[k] is not None:
                d[k] = round(d[k], 4)
        drop = TRACK_FIELDS if self.track is None else ("reason",)
        drop += tuple(k for k in LIVENESS_FIELDS if d[k] is None)
        return {k: v for k, v in d.items() if k not in drop and (v is not None or self.track is not None)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
