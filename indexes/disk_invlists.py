"""On-disk inverted lists: fixed-size records in one 4 KiB-aligned file, read with ``preadv``.

The disk twin of :mod:`indexes.invlists` (as faiss's ``OnDiskInvertedLists`` is of its RAM
lists), holding SPANN's posting lists (:mod:`indexes.spann`). List ``h`` is a contiguous run
of ``lengths[h]`` records from byte ``offsets[h]``, which is a page boundary, with room for
``capacity[h]``; RAM holds only these three tables (24 bytes a list). The records are the
codec's business (:mod:`indexes.spann_codecs`) but for one rule: each begins with its slot
as a little-endian int64, which compaction and the locator read.

* **Allocation.** A list of ``n`` records gets ``ceil(n * (1 + slack) * record_bytes / 4096)``
  pages. A list that outgrows its room moves to the end of the file with twice the room it
  needs; the region it leaves is *garbage* (never reused) until :meth:`compact`.
* **Reads.** One ``preadv`` per list straight into one buffer, optionally a per-thread
  scratch buffer reused across searches (spares a large allocation and its page faults).
* **Files.** A new store writes an anonymous temporary file in ``work_dir`` (deleted when
  closed or on a crash). :meth:`save_copy` writes a copy (compacted when there are dead
  records or garbage) and fsyncs it; :meth:`open_saved` reads a saved file in place, and the
  first write copies it to a private temporary file (:meth:`make_writable`), so a saved file
  never changes.
* **Locator.** ``slot -> file offset of one of its records``, for reading stored vectors by
  slot (``get_vectors``, ``search_exact``). Built by one pass over the file on first use
  (8 bytes a slot, :meth:`locator_bytes`); kept up to date by every later record
  write, dropped by compaction. Searches never use it. Records of a list that moved stay
  readable in its old region, which is only ever reclaimed by compaction.

:class:`DiskRows` is the flat companion: one float32 row per slot at ``row_bytes * slot``
(the float vectors that ``codec="binary"`` rescores with).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from indexes._kernels.spann import live_records
from indexes.errors import IndexFormatError

PAGE = 4096


def copy_fd(src: int, dst: int, nbytes: int) -> None:
    """Copy ``nbytes`` from the start of ``src`` to the start of ``dst``."""
    done = 0
    while done < nbytes:
        try:
            n = os.copy_file_range(src, dst, nbytes - done, done, done)
        except OSError:
            n = 0
        if n <= 0:  # fall back to read/write
            chunk = os.pread(src, min(1 << 24, nbytes - done), done)
            if not chunk:
                raise IndexFormatError("postings file is shorter than its offsets table")
            n = os.pwrite(dst, chunk, done)
        done += n


def temp_file(work_dir: str | None, prefix: str) -> Any:
    """An anonymous temporary file in ``work_dir`` (deleted when closed or on a crash)."""
    return tempfile.TemporaryFile(dir=work_dir, prefix=prefix)


def slots_of(words: np.ndarray) -> np.ndarray:
    """Slots of records viewed as ``uint32`` words (the first two words, low and high)."""
    return words[:, 0].astype(np.int64) | (words[:, 1].astype(np.int64) << 32)


def _write_synced(path: Path, src: int, nbytes: int) -> None:
    """Write the first ``nbytes`` of ``src`` to a new file ``path`` and fsync it."""
    with open(path, "wb") as fh:
        copy_fd(src, fh.fileno(), nbytes)
        os.ftruncate(fh.fileno(), nbytes)
        fh.flush()
        os.fsync(fh.fileno())


def _open_saved_fd(path: Path, min_size: int, what: str, where: Path) -> int:
    """A read-only descriptor of a saved file at least ``min_size`` bytes long."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise IndexFormatError(f"{where}: {what} file missing") from exc
    if os.fstat(fd).st_size < min_size:
        os.close(fd)
        raise IndexFormatError(f"{where}: {what} file is truncated")
    return fd


class _Scratch(threading.local):
    """A thread's reusable read buffer (``None`` until its first scratch read)."""

    buf: np.ndarray | None = None


class DiskInvertedLists:
    """Growable lists of ``4 * record_words``-byte records in one page-aligned file."""

    def __init__(self, record_words: int, slack: float, work_dir: str | None) -> None:
        self.record_words = int(record_words)
        self.record_bytes = 4 * self.record_words
        self.slack = float(slack)
        self.work_dir = work_dir
        self.n_lists = 0
        self.offsets = np.zeros(0, dtype=np.int64)
        self.lengths = np.zeros(0, dtype=np.int64)
        self.capacity = np.zeros(0, dtype=np.int64)
        self.end = 0  # file size: every list's pages plus garbage
        self.garbage = 0  # bytes of regions left behind by moved lists
        self._fd = -1
        self._file: Any = None  # keeps an anonymous temporary file open
        self._writable = True
        self._tls = _Scratch()  # per-thread scratch buffer for list reads
        self._locator: np.ndarray | None = None  # slot -> offset of one record (on demand)

    # -- files ---------------------------------------------------------------------------------
    def reset(self, n_lists: int) -> None:
        """Start ``n_lists`` empty lists in a new, empty anonymous file."""
        self.n_lists = n_lists
        self.offsets = np.zeros(n_lists, dtype=np.int64)
        self.lengths = np.zeros(n_lists, dtype=np.int64)
        self.capacity = np.zeros(n_lists, dtype=np.int64)
        self._close_file()
        self._file = temp_file(self.work_dir, ".spann-postings-")
        self._fd = self._file.fileno()
        self._writable = True
        self.end = 0
        self.garbage = 0
        self._locator = None

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        elif self._fd >= 0:
            os.close(self._fd)
        self._file = None
        self._fd = -1

    def close(self) -> None:
        """Release the file (the lists are unreadable afterwards)."""
        self._close_file()

    def make_writable(self) -> None:
        """Copy a saved (read-only) file to a private temporary file before the first write."""
        if self._writable:
            return
        f = temp_file(self.work_dir, ".spann-postings-")
        try:
            copy_fd(self._fd, f.fileno(), self.end)
        except BaseException:
            f.close()
            raise
        os.close(self._fd)
        self._file = f
        self._fd = f.fileno()
        self._writable = True
        self.offsets, self.lengths, self.capacity = (
            np.array(a) for a in (self.offsets, self.lengths, self.capacity)
        )

    def save_copy(
        self, target: Path, dead: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Write the lists to a new file ``target`` (fsynced) and return its layout
        ``(offsets, capacity, lengths, end)``: a byte copy when nothing is dead and there is
        no garbage, else a compacted copy without the records of ``dead`` slots."""
        h = self.n_lists
        with open(target, "wb") as fh:
            if dead is None and self.garbage == 0:
                copy_fd(self._fd, fh.fileno(), self.end)
                os.ftruncate(fh.fileno(), self.end)
                layout = (
                    self.offsets[:h].copy(),
                    self.capacity[:h].copy(),
                    self.lengths[:h].copy(),
                    self.end,
                )
            else:
                layout = self._write_compacted(fh.fileno(), dead)
            fh.flush()
            os.fsync(fh.fileno())
        return layout

    @classmethod
    def open_saved(
        cls,
        file: Path,
        where: Path,
        *,
        record_words: int,
        slack: float,
        work_dir: str | None,
        offsets: np.ndarray,
        capacity: np.ndarray,
        lengths: np.ndarray,
        end: int,
    ) -> DiskInvertedLists:
        """Lists read in place from a saved file (tables possibly memory-mapped)."""
        out = cls(record_words, slack, work_dir)
        out.offsets = np.asarray(offsets)
        out.n_lists = out.offsets.shape[0]
        out.capacity = np.asarray(capacity)
        out.lengths = np.asarray(lengths)
        out.end = int(end)
        out._fd = _open_saved_fd(file, out.end, "postings", where)
        out._writable = False
        return out

    def drop_page_cache(self) -> None:
        """Ask the kernel to drop the file's cached pages (for cold-cache runs)."""
        if self._writable:
            os.fsync(self._fd)  # dirty pages cannot be dropped
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)

    @property
    def writable(self) -> bool:
        """Whether the file is private (not a saved file read in place)."""
        return self._writable

    def table_bytes(self) -> int:
        """Bytes of the list tables: offset, length and capacity, 24 a list."""
        return 3 * 8 * self.n_lists

    def locator_bytes(self) -> int:
        """Bytes of the locator (0 until first used)."""
        return 0 if self._locator is None else int(self._locator.nbytes)

    # -- allocation ----------------------------------------------------------------------------
    def pages_for(self, count: int) -> int:
        """Pages given to a list of ``count`` records (with the slack)."""
        if count <= 0:
            return 0
        return -(-int(np.ceil(count * (1.0 + self.slack) * self.record_bytes)) // PAGE)

    def allocate(self, counts: np.ndarray) -> None:
        """Lay out empty lists of room for ``counts`` records each, one after the other, in
        an empty file (a bulk build's single allocation)."""
        counts = np.asarray(counts, dtype=np.int64)
        need = np.ceil(counts * (1.0 + self.slack) * self.record_bytes).astype(np.int64)
        pages = np.where(counts > 0, -(-need // PAGE), 0)
        self.offsets = PAGE * np.concatenate(([0], np.cumsum(pages)[:-1])).astype(np.int64)
        self.capacity = (pages * PAGE // self.record_bytes).astype(np.int64)
        self.lengths = np.zeros(counts.shape[0], dtype=np.int64)
        self.end = int(PAGE * int(pages.sum()))
        os.ftruncate(self._fd, self.end)

    def new_list(self) -> int:
        """Append an empty list (no pages yet); returns its number."""
        h = self.n_lists
        if h >= self.offsets.shape[0]:
            cap = max(2 * h, 16)
            self.offsets, self.lengths, self.capacity = (
                np.concatenate((a[:h], np.zeros(cap - h, dtype=np.int64)))
                for a in (self.offsets, self.lengths, self.capacity)
            )
        self.offsets[h] = self.lengths[h] = self.capacity[h] = 0
        self.n_lists = h + 1
        return h

    # -- reads ---------------------------------------------------------------------------------
    def read(self, lists: Any, *, scratch: bool = False) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Records of ``lists`` read into one buffer: ``(words, floats, pages, bytes)``, the
        buffer viewed as ``(n, record_words)`` uint32 and float32.

        ``scratch``: read into this thread's reusable buffer (valid until its next scratch
        read), which spares searches a large allocation and its page faults per query."""
        lists = np.asarray(lists, dtype=np.int64)
        rb = self.record_bytes
        nbytes = self.lengths[lists] * rb
        total = int(nbytes.sum())
        if scratch:
            buf = self._tls.buf
            if buf is None or buf.shape[0] < total:
                buf = np.empty(max(total, 2 * (0 if buf is None else buf.shape[0])), np.uint8)
                self._tls.buf = buf
            buf = buf[:total]
        else:
            buf = np.empty(total, dtype=np.uint8)
        mv = memoryview(buf)
        pos = 0
        fd = self._fd
        for h, b in zip(lists.tolist(), nbytes.tolist(), strict=True):
            if b:
                got = os.preadv(fd, [mv[pos : pos + b]], int(self.offsets[h]))
                if got != b:
                    raise IndexFormatError(
                        f"short read from the postings file ({got} of {b} bytes at posting {h})"
                    )
                pos += b
        pages = int((-(-nbytes // PAGE)).sum())
        words = buf.view(np.uint32).reshape(-1, self.record_words)
        return words, buf.view(np.float32).reshape(-1, self.record_words), pages, total

    def read_slots(self, slots: np.ndarray) -> np.ndarray:
        """One record of each of ``slots`` (``(n, record_words)`` uint32), by the locator:
        one positioned read per record, in file order."""
        loc = self._locate()
        slots = np.asarray(slots, dtype=np.int64)
        inside = slots < loc.shape[0]
        off = np.full(slots.shape[0], -1, dtype=np.int64)
        off[inside] = loc[slots[inside]]
        if (off < 0).any():
            raise IndexFormatError("a live slot has no record in the postings file")
        rb = self.record_bytes
        out = np.empty((slots.shape[0], self.record_words), dtype=np.uint32)
        mv = memoryview(out.reshape(-1).view(np.uint8))
        order = np.argsort(off, kind="stable")
        fd = self._fd
        for i, o in zip(order.tolist(), off[order].tolist(), strict=True):
            if os.preadv(fd, [mv[i * rb : (i + 1) * rb]], o) != rb:
                raise IndexFormatError(f"short read from the postings file at byte {o}")
        return out

    def _locate(self) -> np.ndarray:
        """The locator, built by one pass over the lists if needed."""
        if self._locator is None:
            loc = np.full(0, -1, dtype=np.int64)
            for h in range(self.n_lists):
                words = self.read([h])[0]
                if words.shape[0] == 0:
                    continue
                loc = self._note(loc, slots_of(words), int(self.offsets[h]))
            top = int(np.flatnonzero(loc >= 0)[-1]) + 1 if (loc >= 0).any() else 0
            self._locator = loc[:top].copy()  # growth's spare room dropped
        return self._locator

    def _note(self, loc: np.ndarray, slots: np.ndarray, start: int) -> np.ndarray:
        """Record in ``loc`` that ``slots[i]`` has a record at ``start + i * record_bytes``
        (grown as needed); returns ``loc``."""
        top = int(slots.max()) + 1
        if top > loc.shape[0]:
            grown = np.full(max(top, 2 * loc.shape[0]), -1, dtype=np.int64)
            grown[: loc.shape[0]] = loc
            loc = grown
        loc[slots] = start + self.record_bytes * np.arange(slots.shape[0], dtype=np.int64)
        return loc

    # -- writes --------------------------------------------------------------------------------
    def write(self, h: int, rec: np.ndarray, *, append: bool) -> None:
        """Write records ``rec`` (``(n, record_words)`` uint32) to list ``h``, appended or
        replacing its content; a list without room moves to the end of the file."""
        n = rec.shape[0]
        start = int(self.lengths[h]) if append else 0
        if start + n > self.capacity[h]:
            self._relocate(h, start + n, keep=start)
        if n:
            data = np.ascontiguousarray(rec)
            pos = int(self.offsets[h]) + start * self.record_bytes
            os.pwrite(self._fd, data, pos)
            if self._locator is not None:
                self._locator = self._note(self._locator, slots_of(data), pos)
        self.lengths[h] = start + n

    def clear(self, h: int) -> None:
        """Empty list ``h`` (its room is kept; the next write starts at its beginning)."""
        self.lengths[h] = 0

    def _relocate(self, h: int, need: int, *, keep: int) -> None:
        """Move list ``h`` to the end of the file with room for ``2 * need`` records."""
        rb = self.record_bytes
        old_pages = -(-int(self.capacity[h]) * rb // PAGE) if self.capacity[h] else 0
        kept = b""
        if keep:
            kept = os.pread(self._fd, keep * rb, int(self.offsets[h]))
        pages = max(1, -(-2 * need * rb // PAGE))
        off = self.end
        if kept:
            os.pwrite(self._fd, kept, off)
        self.garbage += old_pages * PAGE
        self.offsets[h] = off
        self.capacity[h] = pages * PAGE // rb
        self.end = off + pages * PAGE
        os.ftruncate(self._fd, self.end)

    def compact(self, dead: np.ndarray | None) -> None:
        """Rewrite the lists into a new file without garbage or the records of ``dead``
        slots (``None``: none are dead)."""
        self.make_writable()
        f = temp_file(self.work_dir, ".spann-postings-")
        try:
            off, cap, lens, end = self._write_compacted(f.fileno(), dead)
        except BaseException:
            f.close()
            raise
        self._close_file()
        self._file, self._fd = f, f.fileno()
        h = self.n_lists
        self.offsets[:h], self.capacity[:h], self.lengths[:h] = off, cap, lens
        self.end, self.garbage = end, 0
        self._locator = None

    def _write_compacted(
        self, fd: int, dead: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Write every list's records (without those of ``dead`` slots) to ``fd`` with a
        fresh layout; returns ``(offsets, capacity, lengths, end)``."""
        h = self.n_lists
        off = np.zeros(h, dtype=np.int64)
        cap = np.zeros(h, dtype=np.int64)
        lens = np.zeros(h, dtype=np.int64)
        pos = 0
        for i in range(h):
            words, _, _, _ = self.read([i])
            rec = words if dead is None else words[live_records(words, dead)]
            m = rec.shape[0]
            pages = self.pages_for(m)
            off[i], cap[i], lens[i] = pos, pages * PAGE // self.record_bytes, m
            if m:
                os.pwrite(fd, np.ascontiguousarray(rec), pos)
            pos += pages * PAGE
        os.ftruncate(fd, pos)
        return off, cap, lens, pos


class DiskRows:
    """One float32 row of ``dim`` values per slot, at byte ``4 * dim * slot`` of one file."""

    def __init__(self, dim: int, work_dir: str | None, *, saved_fd: int | None = None) -> None:
        self.dim = int(dim)
        self.row_bytes = 4 * self.dim
        self.work_dir = work_dir
        self._file: Any = None
        if saved_fd is None:  # a new, empty anonymous file
            self._file = temp_file(work_dir, ".spann-vectors-")
            self._fd = self._file.fileno()
        else:
            self._fd = saved_fd
        self._writable = saved_fd is None

    @classmethod
    def open_saved(
        cls, dim: int, file: Path, where: Path, n_rows: int, work_dir: str | None
    ) -> DiskRows:
        """Rows read in place from a saved file, which must hold ``n_rows`` rows."""
        return cls(dim, work_dir, saved_fd=_open_saved_fd(file, 4 * dim * n_rows, "vectors", where))

    def close(self) -> None:
        """Release the file."""
        if self._file is not None:
            self._file.close()
        elif self._fd >= 0:
            os.close(self._fd)
        self._file = None
        self._fd = -1

    def make_writable(self, n_rows: int) -> None:
        """Copy a saved (read-only) file to a private temporary file before the first write."""
        if self._writable:
            return
        f = temp_file(self.work_dir, ".spann-vectors-")
        try:
            copy_fd(self._fd, f.fileno(), self.row_bytes * n_rows)
        except BaseException:
            f.close()
            raise
        os.close(self._fd)
        self._file, self._fd = f, f.fileno()
        self._writable = True

    def save_copy(self, target: Path, n_rows: int) -> None:
        """Write the first ``n_rows`` rows to a new file ``target`` (fsynced)."""
        _write_synced(target, self._fd, self.row_bytes * n_rows)

    def drop_page_cache(self) -> None:
        """Ask the kernel to drop the file's cached pages."""
        if self._writable:
            os.fsync(self._fd)
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def write(self, slots: np.ndarray, vecs: np.ndarray) -> None:
        """Store ``vecs[i]`` as the row of ``slots[i]`` (one write for a run of slots)."""
        if slots.shape[0] == 0:
            return
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        row = self.row_bytes
        slots = np.asarray(slots, dtype=np.int64)
        if slots.shape[0] == int(slots[-1] - slots[0]) + 1 and (np.diff(slots) == 1).all():
            os.pwrite(self._fd, vecs, int(slots[0]) * row)  # one contiguous run
            return
        for s, v in zip(slots.tolist(), vecs, strict=True):
            os.pwrite(self._fd, v, s * row)

    def read(self, slots: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Rows of ``slots`` by one positioned read each: ``(rows (n, dim), pages touched,
        bytes read)``."""
        slots = np.asarray(slots, dtype=np.int64)
        row = self.row_bytes
        out = np.empty((slots.shape[0], self.dim), dtype=np.float32)
        mv = memoryview(out.reshape(-1).view(np.uint8))
        fd = self._fd
        for i, s in enumerate(slots.tolist()):
            got = os.preadv(fd, [mv[i * row : (i + 1) * row]], s * row)
            if got != row:
                raise IndexFormatError(f"short read from the vectors file (slot {s})")
        if slots.shape[0] == 0:
            return out, 0, 0
        first = slots * row // PAGE
        last = (slots * row + row - 1) // PAGE
        # pages holding a row's ends may be shared with other rows; inner pages are not
        inner = int(np.maximum(last - first - 1, 0).sum())
        pages = np.unique(np.concatenate((first, last))).shape[0] + inner
        return out, int(pages), int(slots.shape[0] * row)

    def read_runs(self, slots: np.ndarray) -> np.ndarray:
        """Rows of ``slots`` in the given order, one positioned read per run of consecutive
        slots (for scans over many rows; searches use :meth:`read`)."""
        slots = np.asarray(slots, dtype=np.int64)
        row = self.row_bytes
        out = np.empty((slots.shape[0], self.dim), dtype=np.float32)
        mv = memoryview(out.reshape(-1).view(np.uint8))
        cut = np.flatnonzero(np.r_[True, np.diff(slots) != 1, True])
        for a, b in zip(cut[:-1].tolist(), cut[1:].tolist(), strict=True):
            want = (b - a) * row
            if os.preadv(self._fd, [mv[a * row : b * row]], int(slots[a]) * row) != want:
                raise IndexFormatError(f"short read from the vectors file (slot {slots[a]})")
        return out
