"""A byte-identical copy (``alias``) gets an output under its own name: a link to the first.

The real daemon for the promises (the link, ``--status``, a restart that changes nothing,
a deleted first output), and ``links.link_output`` alone for the fall-backs a test
machine cannot make happen (no hard links: a symbolic link instead).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from support.watch_daemon import run_cli, wait_for

import emdconvert
from emdconvert import EMDFile
from emdconvert.watch import orphans
from emdconvert.watch.ledger import Ledger
from emdconvert.watch.links import HARD, SYMBOLIC, NoLink, link_output
from emdconvert.watch.stability import Signature


def _stored(output: Path) -> np.ndarray:
    """The array of *output*'s one signal (EMD stores axes reversed: numpy's ``.T``)."""
    with h5py.File(output, "r") as h5:
        (name,) = list(h5["data"])
        return np.asarray(h5[f"data/{name}/data"][()])


def _independent_npy(folder: Path, name: str) -> np.ndarray:
    data = np.arange(8 * 16, dtype=np.int16).reshape(8, 16) * 3
    np.save(folder / name, data)
    return data


def _link_facts(out_dir: Path) -> dict[str, tuple[int, bool]]:
    return {
        str(p.relative_to(out_dir)): (p.stat().st_ino, p.is_symlink())
        for p in sorted(out_dir.rglob("*.emd"))
    }


@pytest.mark.parametrize("backend", ["inotify"])  # detection is tested elsewhere
def test_copy_gets_a_hard_link_status_names_it_and_a_restart_changes_nothing(
    daemon_factory,
) -> None:
    daemon = daemon_factory()
    data = _independent_npy(daemon.in_dir, "a.npy")
    daemon.wait_states({"a.npy": "done"})
    first = daemon.out_dir / "a.emd"
    shutil.copyfile(daemon.in_dir / "a.npy", daemon.in_dir / "b.npy")  # byte-identical
    daemon.wait_states({"b.npy": "alias"})

    copy = daemon.out_dir / "b.emd"
    assert os.path.samefile(copy, first) and not copy.is_symlink()
    np.testing.assert_array_equal(_stored(copy), np.load(daemon.in_dir / "b.npy").T)
    np.testing.assert_array_equal(_stored(copy), data.T)
    (row,) = daemon.rows("b.npy")
    (original,) = daemon.rows("a.npy")
    assert (row.output, row.kind, row.alias_of) == ("b.emd", HARD, original.id)
    assert row.sha256 == original.sha256
    wait_for(
        lambda: (
            "alias path=b.npy output=b.emd links_to=a.emd link=hardlink same_as=a.npy"
            in daemon.log()
        ),
        what="the alias log line",
    )

    status = run_cli("watch", "--status", "--state-dir", daemon.state_dir)
    assert status.returncode == 0, status.stderr
    table = status.stdout[status.stdout.index("aliases") :]
    line = next(text for text in table.splitlines() if "b.npy" in text)
    for text in ("b.emd", "a.npy", "a.emd", "hardlink"):
        assert text in line, status.stdout

    assert daemon.stop() == 0
    rows, links = daemon.rows(), _link_facts(daemon.out_dir)
    assert set(links) == {"a.emd", "b.emd"} and links["a.emd"][0] == links["b.emd"][0]
    restarted = daemon_factory(log_format="json")
    time.sleep(1.3)  # a reconcile scan (1 s) has run over both sources
    assert restarted.stop() == 0
    assert restarted.rows() == rows  # nothing converted, aliased or re-recorded again
    assert _link_facts(restarted.out_dir) == links  # neither output removed nor replaced
    events = [json.loads(line)["event"] for line in restarted.log().splitlines()]
    assert events == ["start", "watching", "stopping", "stopped"]


@pytest.mark.parametrize("backend", ["inotify"])
def test_a_lost_ledger_recognises_the_link_without_converting(daemon_factory) -> None:
    """A ledger moved aside: the start-up scan finds both outputs and keeps them."""
    daemon = daemon_factory()
    _independent_npy(daemon.in_dir, "a.npy")
    daemon.wait_states({"a.npy": "done"})
    shutil.copyfile(daemon.in_dir / "a.npy", daemon.in_dir / "b.npy")
    daemon.wait_states({"b.npy": "alias"})
    assert daemon.stop() == 0
    links = _link_facts(daemon.out_dir)
    for path in daemon.state_dir.glob("ledger.sqlite3*"):
        path.rename(path.with_name("old-" + path.name))
    restarted = daemon_factory(log_format="json")
    wait_for(
        lambda: (
            set(restarted.states()) == {"a.npy", "b.npy"}
            and set(restarted.states().values()) <= {"done", "alias"}
        ),
        what=f"both recorded again (log:\n{restarted.log()[-3000:]})",
    )
    assert restarted.stop() == 0
    assert _link_facts(restarted.out_dir) == links  # the same two names, one inode
    events = [json.loads(line)["event"] for line in restarted.log().splitlines()]
    assert "converted" not in events and "alias-converted" not in events, events


@pytest.mark.parametrize("backend", ["inotify"])
def test_copy_of_a_file_whose_output_was_deleted_is_converted(daemon_factory) -> None:
    daemon = daemon_factory()
    data = _independent_npy(daemon.in_dir, "a.npy")
    daemon.wait_states({"a.npy": "done"})
    (daemon.out_dir / "a.emd").unlink()  # a user cleaned up
    shutil.copyfile(daemon.in_dir / "a.npy", daemon.in_dir / "b.npy")
    daemon.wait_states({"b.npy": "done"})
    copy = daemon.out_dir / "b.emd"
    assert copy.is_file() and not copy.is_symlink() and copy.stat().st_nlink == 1
    np.testing.assert_array_equal(_stored(copy), data.T)
    assert "alias-converted path=b.npy same_as=a.npy" in daemon.log()
    assert "a.emd is gone" in daemon.log()
    assert daemon.stop() == 0


# -- link_output alone ---------------------------------------------------------------
def _first(out_dir: Path) -> Path:
    out_dir.mkdir(exist_ok=True)
    first = out_dir / "a.emd"
    emdconvert.write(EMDFile.from_array(np.arange(6, dtype=np.int16)), first)
    return first


def test_hard_link_by_default(tmp_path: Path) -> None:
    first = _first(tmp_path)
    link = link_output(tmp_path, "a.emd", "sub/b.dm4", 1, lambda name: False)
    assert (link.output, link.kind, link.target, link.version) == ("sub/b.emd", HARD, "a.emd", 1)
    assert os.path.samefile(tmp_path / "sub/b.emd", first)


def test_relative_symlink_where_no_hard_link_can_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _first(tmp_path)

    def no_hard_links(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", no_hard_links)
    link = link_output(tmp_path, "a.emd", "sub/b.dm4", 1, lambda name: False)
    made = tmp_path / "sub/b.emd"
    assert link.kind == SYMBOLIC and made.is_symlink()
    assert os.readlink(made) == "../a.emd"  # relative: the output folder can be moved
    assert made.resolve() == first.resolve() and made.read_bytes() == first.read_bytes()


def test_no_link_at_all_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _first(tmp_path)

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", refused)
    monkeypatch.setattr(os, "symlink", refused)
    with pytest.raises(NoLink, match="neither a hard link"):
        link_output(tmp_path, "a.emd", "b.dm4", 1, lambda name: False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.emd"]


def test_existing_names_are_never_overwritten_and_taken_names_skipped(tmp_path: Path) -> None:
    first = _first(tmp_path)
    emdconvert.write(EMDFile.from_array(np.zeros(3)), tmp_path / "b.emd")  # someone else's
    theirs = (tmp_path / "b.emd").read_bytes()
    link = link_output(tmp_path, "a.emd", "b.dm4", 1, lambda name: name == "b.v2.emd")
    assert link.output == "b.v3.emd" and link.version == 3
    assert (tmp_path / "b.emd").read_bytes() == theirs
    assert not (tmp_path / "b.v2.emd").exists()
    assert os.path.samefile(tmp_path / "b.v3.emd", first)


def test_a_link_made_before_a_crash_is_adopted(tmp_path: Path) -> None:
    first = _first(tmp_path)
    os.link(first, tmp_path / "b.emd")  # made, then the daemon died before its commit
    inode = (tmp_path / "b.emd").stat().st_ino
    link = link_output(tmp_path, "a.emd", "b.dm4", 1, lambda name: False)
    assert (link.output, link.kind) == ("b.emd", HARD)
    assert (tmp_path / "b.emd").stat().st_ino == inode
    os.symlink("a.emd", tmp_path / "c.emd")
    assert link_output(tmp_path, "a.emd", "c.dm4", 1, lambda name: False).kind == SYMBOLIC


def test_a_missing_first_output_is_never_linked_to(tmp_path: Path) -> None:
    with pytest.raises(NoLink, match=r"a\.emd is gone"):
        link_output(tmp_path, "a.emd", "b.dm4", 1, lambda name: False)
    with pytest.raises(NoLink, match="no output"):
        link_output(tmp_path, None, "b.dm4", 1, lambda name: False)
    assert list(tmp_path.iterdir()) == []


def test_the_orphan_sweep_leaves_alias_links_alone(tmp_path: Path) -> None:
    first = _first(tmp_path)
    link_output(tmp_path, "a.emd", "b.dm4", 1, lambda name: False)
    os.symlink("a.emd", tmp_path / "c.emd")
    assert orphans.sweep(tmp_path, recursive=True) == []
    assert first.is_file() and (tmp_path / "b.emd").is_file() and (tmp_path / "c.emd").is_file()


def test_ledger_aliases_pairs_each_copy_with_its_original(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    with ledger.batch():
        first = ledger.add("a.dm4", Signature(5, 1, 1, 1), "test")
        ledger.update(first, state="done", output="a.emd", sha256="f" * 64)
        for i, name in enumerate(("b.dm4", "c.dm4", "d.dm4")):
            row = ledger.add(name, Signature(5, 2 + i, 2 + i, 1), "test")
            ledger.update(row, state="alias", alias_of=first, output=f"{name[0]}.emd", kind=HARD)
            time.sleep(0.01)  # distinct ``updated``: newest first
        ledger.add("e.dm4", Signature(5, 9, 9, 1), "test")  # not an alias
    try:
        pairs = ledger.aliases(2)
        assert [(p.row.path, p.row.output, p.row.kind) for p in pairs] == [
            ("d.dm4", "d.emd", HARD),
            ("c.dm4", "c.emd", HARD),
        ]
        assert {(p.original.path, p.original.output) for p in pairs} == {("a.dm4", "a.emd")}
        assert [p.row.path for p in ledger.aliases(None)] == ["d.dm4", "c.dm4", "b.dm4"]
    finally:
        ledger.close()
