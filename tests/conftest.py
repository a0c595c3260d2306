"""Shared fixtures. Tests read ../shared/data in place and skip, saying so, when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data")).resolve()
SMALL = DATA / "small"
FR = SMALL / "face_recognition_examples"
LFW = DATA / "lfw"


def need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail(f"test data {path} is absent and FACEPRINT_REQUIRE_DATA is set (CI must have it)")
        pytest.skip(f"test data {path} is absent (set FACEPRINT_DATA or place shared/data beside the repo)")
    return path


@pytest.fixture(scope="session")
def fr() -> Path:
    return need(FR)


@pytest.fixture(scope="session")
def att() -> Path:
    return need(SMALL / "att_faces")


@pytest.fixture(scope="session")
def lfw() -> Path:
    return need(LFW / "pairs.txt").parent


@pytest.fixture(scope="session")
def engine():
    from faceprint import Engine
    return Engine()
