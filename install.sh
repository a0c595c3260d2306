#!/usr/bin/env bash
# Makes ./.venv (Python 3.11) and installs faceprint with every extra and the test tools (idempotent).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all,test]"
# trackers (ByteTrack for `faceprint watch`) requires opencv-python, the GUI build, which would
# overwrite opencv-python-headless's cv2: install it without dependencies ([video] lists the others).
.venv/bin/python -m pip install -q --no-deps trackers==2.6.1
.venv/bin/faceprint models
