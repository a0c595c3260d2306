"""CompreFace's Python SDK from PyPI, unmodified, in a venv of its own (its pinned
requests-toolbelt 0.9.1 only imports with urllib3<2): the python to run the driver scripts with."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def make(venv: Path) -> Path:
    """Create the venv at `venv` and install the SDK; raises RuntimeError when pip cannot."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "compreface-sdk==0.6.0", "urllib3<2"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"cannot install compreface-sdk==0.6.0 from PyPI: {r.stderr[-2000:]}")
    return py


def drive(py: Path, script: str, *args: str, timeout: float = 300) -> str:
    """Run tests/service_clients/<script> with the SDK's python; its stdout (JSON)."""
    r = subprocess.run([str(py), str(HERE / script), *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{r.stderr[-3000:]}")
    return r.stdout
