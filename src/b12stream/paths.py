"""Where the shipped configuration lives: the repository's top-level `config/` folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CONFIG_DIR"]

# A deployment may point at its own copy; the default is the checkout's config/ (installed editable).
CONFIG_DIR = Path(os.environ.get("B12STREAM_CONFIG_DIR", Path(__file__).resolve().parents[2] / "config"))
