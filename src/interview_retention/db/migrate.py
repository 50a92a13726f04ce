"""Running the Alembic migrations from code (CLI, release step, tests)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_config(url: str) -> Config:
    root = _project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def _project_root() -> Path:
    # The migrations live beside the package in the repository (an editable
    # install, as `make` sets up); a wheel install is not supported yet.
    here = Path(str(resources.files("interview_retention"))).resolve()
    root = here.parents[1]
    if not (root / "migrations" / "env.py").exists():
        raise RuntimeError(f"migrations not found next to {here}")
    return root
