"""Each attempt checkpoints into its own folder, seeded from the newest earlier attempt's."""

from __future__ import annotations

from tests.worker.conftest import checkpoint
from worker.training import _checkpoints_for


def test_a_new_attempt_starts_from_the_newest_earlier_checkpoint(tmp_path):
    checkpoint(tmp_path / "checkpoints" / "attempt-1", epoch=2)
    checkpoint(tmp_path / "checkpoints" / "attempt-2", epoch=5)
    (tmp_path / "checkpoints" / "attempt-4").mkdir()  # a later attempt that never saved: ignored
    folder = _checkpoints_for(tmp_path, 3)
    assert folder == tmp_path / "checkpoints" / "attempt-3"
    assert "ckpt-5" in (folder / "checkpoint").read_text()
    assert (folder / "ckpt-5.index").exists()
    # the earlier attempt's own folder is left as it was (a stale attempt may still be writing)
    assert "ckpt-5" in (tmp_path / "checkpoints" / "attempt-2" / "checkpoint").read_text()


def test_an_attempt_folder_that_exists_is_never_overwritten(tmp_path):
    checkpoint(tmp_path / "checkpoints" / "attempt-1", epoch=2)
    checkpoint(tmp_path / "checkpoints" / "attempt-2", epoch=7)  # this attempt already checkpointed
    folder = _checkpoints_for(tmp_path, 2)
    assert "ckpt-7" in (folder / "checkpoint").read_text()


def test_a_first_attempt_starts_empty(tmp_path):
    checkpoint(tmp_path / "checkpoints" / "attempt-9", epoch=1)  # only later attempts: nothing to seed from
    folder = _checkpoints_for(tmp_path, 1)
    assert not folder.exists()
