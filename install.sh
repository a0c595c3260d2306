#!/usr/bin/env bash
# Makes ./.venv (Python 3.11) and installs faceprint with every extra and the test tools (idempotent).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all,test]"
.venv/bin/faceprint models
