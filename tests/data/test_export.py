"""Writing a synthetic set to disk: names that would leave the folder are refused before any write."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaplens.core.errors import InputError
from gaplens.data.export import write_synthetic
from gaplens.data.synthetic import generate


def test_split_is_written_into_file_names_and_manifest(tmp_path: Path) -> None:
    manifest = write_synthetic(generate(2, size=16), tmp_path, split="test-1", progress=False)
    assert sorted(p.name for p in (tmp_path / "images").rglob("*.png")) == ["test-1_000000.png", "test-1_000001.png"]
    assert manifest.read_text().count("test-1") == 6  # image, mask and split of each row


@pytest.mark.parametrize("split", ["../../x", "a/b", "..", ".hidden", "", "a\\b", "x" * 65])
def test_split_names_that_leave_their_folder_are_refused(tmp_path: Path, split: str) -> None:
    with pytest.raises(InputError, match=r"^split=.*expected a plain name"):
        write_synthetic(generate(2, size=16), tmp_path / "out", split=split, progress=False)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(InputError, match=r"^out=.*exists and is not a folder"):
        write_synthetic(generate(2, size=16), file, progress=False)
