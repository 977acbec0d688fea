"""Each attempt checkpoints into its own folder, seeded from the newest earlier attempt's."""

from __future__ import annotations

from app.core.config import Settings
from tests.worker.conftest import checkpoint
from worker.files import JobFiles


def files(tmp_path) -> JobFiles:
    return JobFiles(Settings(data_dir=tmp_path / "data"), "job-1")


def test_a_new_attempt_starts_from_the_newest_earlier_checkpoint(tmp_path):
    job = files(tmp_path)
    work = job.work
    checkpoint(work / "checkpoints" / "attempt-1", epoch=2)
    checkpoint(work / "checkpoints" / "attempt-2", epoch=5)
    (work / "checkpoints" / "attempt-4").mkdir()  # a later attempt that never saved: ignored
    folder = job.checkpoints_for(3)
    assert folder == work / "checkpoints" / "attempt-3" and not job.remote
    assert "ckpt-5" in (folder / "checkpoint").read_text()
    assert (folder / "ckpt-5.index").exists()
    # the earlier attempt's own folder is left as it was (a stale attempt may still be writing)
    assert "ckpt-5" in (work / "checkpoints" / "attempt-2" / "checkpoint").read_text()


def test_an_attempt_folder_that_exists_is_never_overwritten(tmp_path):
    job = files(tmp_path)
    checkpoint(job.work / "checkpoints" / "attempt-1", epoch=2)
    checkpoint(job.work / "checkpoints" / "attempt-2", epoch=7)  # this attempt already checkpointed
    folder = job.checkpoints_for(2)
    assert "ckpt-7" in (folder / "checkpoint").read_text()


def test_a_first_attempt_starts_empty(tmp_path):
    job = files(tmp_path)
    checkpoint(job.work / "checkpoints" / "attempt-9", epoch=1)  # only later attempts: nothing to seed from
    folder = job.checkpoints_for(1)
    assert not folder.exists()
