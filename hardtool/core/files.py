"""Atomic output and strict JSON: a stage writes into a temp file or folder beside its target and
renames it at the end (never after Ctrl-C, see `hardtool.core.interrupt`), so a failure or an
interrupt never leaves a half-written output, nothing is overwritten without --force, and every
JSON document we write or print is strict JSON (no NaN / Infinity, which JSON.parse rejects)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hardtool.core import interrupt
from hardtool.core.errors import HardtoolError


def strict(obj: Any) -> Any:
    """``obj`` with NaN / ±inf as None, numpy scalars and arrays as Python values, tuples as lists."""
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_text(obj: Any, indent: int | None = 2) -> str:
    """The one JSON writer: strict JSON (a value that is not a number is written as null)."""
    return json.dumps(strict(obj), indent=indent, allow_nan=False)


def _cannot_write(path: Path, e: OSError) -> HardtoolError:
    return HardtoolError(f"cannot write {path}: {e.strerror or e}; choose another output location")


def check_clobber(path: Path, force: bool) -> None:
    """Refuse to replace an existing non-empty output unless ``force``."""
    if path.exists() and not force and (path.is_file() or any(path.iterdir())):
        raise HardtoolError(f"{path} already exists; pass --force to overwrite it or choose another --out")


def check_input_file(path: Path, what: str, expected: str) -> None:
    """An input the user named is a readable regular file; else one line saying what it is instead."""
    path = Path(path)
    if not path.exists():
        raise HardtoolError(f"{what} {path} not found; give {expected}")
    if path.is_dir():
        raise HardtoolError(f"{what} {path} is a folder, not a file; give {expected}")
    if not path.is_file():
        raise HardtoolError(f"{what} {path} is not a regular file; give {expected}")


def check_parent(path: Path, option: str) -> None:
    """An output file named by the user goes into a folder that exists (we do not invent folders)."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise HardtoolError(f"{option} {path}: folder {parent} does not exist; create it first")


def make_dir(path: Path) -> Path:
    """``path`` as a folder (created with its parents), or a one-line error saying why not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HardtoolError(f"{path} is a file, not a folder; choose another output folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cannot_write(path, e) from None
    return path


def check_writable(folder: Path) -> None:
    """A file can be created in the existing ``folder`` (tried, not guessed from its mode bits:
    root ignores them and a read-only mount does not show in them), else one line, before any
    long work whose result would then be lost."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
    except OSError as e:
        raise _cannot_write(Path(folder), e) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


@contextlib.contextmanager
def output_dir(path: Path) -> Iterator[Path]:
    """``path`` created up front (so a folder that cannot be made fails before any slow step) and
    removed again if the block fails while it is still empty."""
    path = Path(path)
    created = not path.exists()
    make_dir(path)
    try:
        check_writable(path)
        yield path
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty
        raise


def free_path(path: Path) -> Path:
    """``path`` if nothing is there, else the first free ``stem.N.suffix`` beside it (N = 2, 3, ...)."""
    path = Path(path)
    found, n = path, 2
    while found.exists():
        found = path.with_name(f"{path.stem}.{n}{path.suffix}")
        n += 1
    return found


WRITTEN = ".hardtool-files.json"  # in a folder hardtool fills: the files it wrote there


def written_files(folder: Path) -> list[str]:
    """The relative paths hardtool wrote into ``folder`` last time (its WRITTEN list); a list that
    is missing, unreadable or names a path outside ``folder`` counts as empty (nothing removed)."""
    try:
        names = json.loads((Path(folder) / WRITTEN).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(names, list):
        return []
    ok = [n for n in names if isinstance(n, str) and n and not Path(n).is_absolute()]
    return [n for n in ok if ".." not in Path(n).parts and n != WRITTEN]


@contextlib.contextmanager
def atomic_dir(target: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temp dir; on success its files become ``target``'s, on failure it is removed.

    A new or empty ``target`` is replaced in one rename. A non-empty one needs ``force``; then only
    the files hardtool wrote there before (its WRITTEN list) are replaced or removed, and every
    other file (the user's, a build folder, bench results) is kept."""
    target = Path(target)
    check_clobber(target, force)
    make_dir(target.parent)
    if target.is_dir():
        check_writable(target)  # before the work, not after it
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as e:
        raise _cannot_write(target, e) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the output is an ordinary folder
    try:
        yield tmp
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file() or p.is_symlink())
        (tmp / WRITTEN).write_text(json_text({"files": files}) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.is_dir() and any(target.iterdir()):
        _merge_in(tmp, target, files)
    else:
        _swap_in(tmp, target)


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by ``tmp`` (two renames, not split by Ctrl-C); the old one is removed after."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}") if target.exists() else None
    try:
        with interrupt.commit():
            if old is not None:
                os.replace(target, old)
            os.replace(tmp, target)
    except OSError as e:
        if old is not None and old.exists() and not target.exists():
            os.replace(old, target)
        raise _cannot_write(target, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and target.exists():
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


def _merge_in(tmp: Path, target: Path, files: list[str]) -> None:
    """Move ``files`` from ``tmp`` into ``target`` and remove what hardtool wrote there before and
    no longer writes (all under one `interrupt.commit()`); other files stay."""
    stale = [n for n in written_files(target) if n not in set(files)]
    try:
        with interrupt.commit():
            for n in stale:
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    (target / n).unlink()
                _prune(target, (target / n).parent)
            for n in [*files, WRITTEN]:
                (target / n).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / n, target / n)
    except OSError as e:
        raise _cannot_write(target, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prune(top: Path, folder: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``top`` while they are empty."""
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


@contextlib.contextmanager
def atomic_files(folder: Path, names: tuple[str, ...] | None, force: bool = False) -> Iterator[Path]:
    """Yield a temp dir inside ``folder``; on success the files ``names`` written there (None: every
    file, at its relative path) replace those in ``folder`` (together, after the block); every other
    file in ``folder`` is left alone. Refuses, before anything runs, to replace one of ``names``
    without ``force``."""
    folder = Path(folder)
    if not force:
        for n in names or ():
            check_clobber(folder / n, False)
    created = not folder.exists()
    make_dir(folder)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    except OSError as e:
        raise _cannot_write(folder, e) from None
    try:
        yield tmp
        if names is None:
            names = tuple(str(p.relative_to(tmp)) for p in sorted(tmp.rglob("*")) if p.is_file())
        missing = [n for n in names if not (tmp / n).is_file()]
        if missing:
            raise RuntimeError(f"stage wrote no {', '.join(missing)}")
        with interrupt.commit():
            for n in names:
                (folder / n).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / n, folder / n)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: nothing of ours is left in it
        raise
    shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file via a temp file + rename, so readers never see a partial file; not after Ctrl-C."""
    path = Path(path)
    make_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as e:
        raise _cannot_write(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        interrupt.check()
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _cannot_write(path, e) from None
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json_text(obj) + "\n").encode())
