"""The data dir is private and a killed process's half-written files are cleared at start
(before: the data dir was world-readable, and `.upload-*`/`.partial` debris stayed)."""

from __future__ import annotations

import os
import stat
import time

from app.core.config import Settings
from app.core.datadir import DEBRIS_AGE, prepare_data_dir
from app.main import create_app


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_api_makes_the_data_dir_private_and_clears_old_debris(tmp_path):
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    (data / "datasets").mkdir(parents=True)
    data.chmod(0o755)
    old = time.time() - DEBRIS_AGE - 60
    debris = [data / "datasets" / ".upload-abc", data / "datasets" / "x.csv.partial"]
    debris.append(data / "artifacts" / "job1" / "artifacts-1" / "model.keras.partial")
    debris[-1].parent.mkdir(parents=True)
    for path in debris:
        path.write_bytes(b"half")
        os.utime(path, (old, old))
    fresh = data / "datasets" / ".upload-being-written"  # another API process's upload in progress
    fresh.write_bytes(b"still coming")
    kept = data / "datasets" / "abc.csv"
    kept.write_bytes(b"a,b\n")
    os.utime(kept, (old, old))

    app = create_app(settings)
    try:
        assert mode(data) == 0o700
        assert mode(data / "tfjobs.db") == 0o600
        assert [p for p in debris if p.exists()] == []
        assert fresh.exists() and kept.exists()
    finally:
        app.state.store.dispose()


def test_an_open_sqlite_file_from_an_older_version_is_tightened(tmp_path):
    settings = Settings(data_dir=tmp_path / "d")
    db = tmp_path / "d" / "tfjobs.db"
    db.parent.mkdir()
    db.write_bytes(b"")
    db.chmod(0o644)
    prepare_data_dir(settings)
    assert mode(db) == 0o600
