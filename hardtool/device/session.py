"""Host driver for the bench firmware: send inputs (int8 images, or any model's input bytes), get
label maps or output tensors and timer counts back.

Robust by construction: every wait has a deadline and every retry loop a bound; corrupted or
lost frames are resent (CRC on every frame, CRC of the whole input and of the whole output
end to end), and a board that reboots mid-run (an unexpected boot HELLO) is detected and the
current image is sent again. The outcome is a correct result or a one-line HardtoolError,
never a hang and never a wrong number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.device import protocol as P
from hardtool.device.link import Link, SerialLike

log = logging.getLogger(__name__)


@dataclass
class DeviceResult:
    """One image's outcome on the device."""

    index: int
    labels: np.ndarray | None  # (H, W) uint8 for a model ending in ARG_MAX, else None
    outputs: list[bytes]  # every output tensor's raw bytes (the label map's for a label model)
    layer_counts: list[int]  # per kernel, in ``unit``
    total: int  # whole hard_model_run, in ``unit``
    unit: str  # "cycles" (board), "instructions" (emulator) or "ns" (host build)
    stack_high_water: int  # bytes
    stats: dict[str, int] = field(default_factory=dict)  # resends, resets, bad frames


GROW_AFTER = 4  # frames (or results) through at once before their size doubles again
MIN_TILE = 64  # bytes: the smallest input tile (about 7 % of them meet an error at 1e-3 per byte)
MIN_TILE_TRIES = 4  # x retries: tries of a smallest tile before the line is given up


@dataclass
class SessionStats:
    resends: int = 0
    resets: int = 0
    device_errors: int = 0
    result_requests: int = 0
    smallest_tile: int = 0  # fewest bytes per input tile the line forced (0: never shrunk)
    tile_growths: int = 0  # times the tile size doubled back on a quieter line
    smallest_output: int = 0  # smallest output frame payload asked for (0: never shrunk)


class BoardReset(Exception):
    """The board sent a boot HELLO in the middle of an exchange (internal: triggers a resume)."""

    def __init__(self, hello: P.Hello):
        super().__init__("board reset")
        self.hello = hello


class _Retry(Exception):
    """Start the current image over (input lost on the device)."""


class BenchSession:
    """Talks to one bench firmware over a :class:`Link`.

    ``timeout``: seconds to wait for a reply to one frame; ``run_timeout``: seconds for one
    inference; ``retries``: resends per frame and restarts per image; ``max_resets``: board
    reboots tolerated per image.
    """

    def __init__(
        self,
        link: Link,
        *,
        timeout: float = 2.0,
        run_timeout: float = 120.0,
        retries: int = 8,
        max_resets: int = 3,
    ):
        self.link = link
        self.timeout = timeout
        self.run_timeout = run_timeout
        self.retries = retries
        self.max_resets = max_resets
        self.hello_info: P.Hello | None = None
        self.stats = SessionStats()
        self.tile_bytes = 0  # input bytes per tile now (0: the firmware's maximum), see _send_tiles
        self.clean_tiles = 0  # tiles acknowledged at the first try since the size last changed
        self.out_max = 0  # output frames' payload asked for (0: the firmware's), see _collect
        self.out_largest = 0  # the largest output payload the firmware sent
        self.clean_results = 0  # results complete at the first try since out_max last changed

    # ------------------------------------------------------------ receiving

    def _next(self, deadline: float) -> tuple[P.Frame, P.Message] | None:
        """Next decodable frame; raises BoardReset on an unexpected boot HELLO."""
        while True:
            f = self.link.recv(deadline)
            if f is None:
                return None
            if f.version != P.VERSION:
                raise HardtoolError(
                    f"the device speaks protocol v{f.version}, this hardtool speaks "
                    f"v{P.VERSION}: rebuild and flash the firmware with this hardtool"
                )
            try:
                msg = P.decode_message(f)
            except P.ProtocolError as e:
                log.debug("undecodable %s frame: %s", f.name, e)
                continue
            if isinstance(msg, P.Hello) and msg.is_boot and self.hello_info is not None:
                raise BoardReset(msg)
            return f, msg

    # ------------------------------------------------------------ HELLO

    def hello(self) -> P.Hello:
        """Ask the firmware who it is (model hash, input shape, timer unit, ...)."""
        for _ in range(self.retries):
            seq_deadline = time.monotonic() + self.timeout
            self.link.send(P.HELLO_REQ)
            while True:
                try:
                    got = self._next(seq_deadline)
                except BoardReset as r:
                    got = (None, r.hello)
                if got is None:
                    break
                msg = got[1]
                if isinstance(msg, P.Hello):
                    if msg.proto_version != P.VERSION:
                        raise HardtoolError(
                            f"the device speaks protocol v{msg.proto_version}, this hardtool "
                            f"v{P.VERSION}: rebuild and flash the firmware"
                        )
                    self._check_same_firmware(msg)
                    self.hello_info = msg
                    return msg
            self.stats.resends += 1
        raise HardtoolError(
            f"no answer from the bench firmware on {self.link.name} after {self.retries} tries of "
            f"{self.timeout:g} s: is it flashed and running, is the baud rate right, is --timeout long enough?"
        )

    def _check_same_firmware(self, msg: P.Hello) -> None:
        old = self.hello_info
        if old and (old.model_hash, old.in_rows, old.in_row_bytes) != (
            msg.model_hash,
            msg.in_rows,
            msg.in_row_bytes,
        ):
            raise HardtoolError(
                "a different firmware answered after a reset (model hash or input shape changed)"
            )

    # ------------------------------------------------------------ one image

    def infer(self, index: int, sample: np.ndarray | bytes | list[np.ndarray]) -> DeviceResult:
        """Run one input on the device: the model's input bytes (an int8 HxWxC image, or every
        input tensor in order); retries and resumes after a reset."""
        h = self.hello_info or self.hello()
        data = _input_bytes(sample)
        if len(data) != h.input_bytes:
            raise HardtoolError(
                f"input {index}: {_describe(sample)} is {len(data):,} bytes; the model's input is "
                f"{h.input_bytes:,} bytes ({h.in_rows} rows of {h.in_row_bytes})"
            )
        in_crc = P.crc32(data)
        resets = 0
        tag = index & 0xFFFFFFFF
        for _attempt in range(self.retries):
            try:
                self._send_tiles(tag, data)
                res = self._run(tag, in_crc)
                if res is not None:
                    res.index = index
                    res.stats["resets"] = resets
                    return res
            except BoardReset as r:
                resets += 1
                self.stats.resets += 1
                log.info("board reset during image %d; sending it again", index)
                if resets > self.max_resets:
                    raise HardtoolError(
                        f"the board reset {resets} times during image {index}: it probably "
                        "crashes on this input (stack overflow or hard fault?)"
                    ) from None
                self._check_same_firmware(r.hello)
                self.hello_info = r.hello
            except _Retry:
                pass
        raise HardtoolError(
            f"image {index}: no valid result after {self.retries} attempts "
            f"({self.link.bad_frames} corrupt frames seen): the serial line is too noisy"
        )

    def _await(self, seq: int | set[int], req_type: int, deadline: float) -> P.Ack | P.DeviceError | None:
        """ACK or ERROR answering one of our frames ``seq`` (or a parse ERROR), else None at deadline."""
        seqs = seq if isinstance(seq, set) else {seq}
        while True:
            got = self._next(deadline)
            if got is None:
                return None
            msg = got[1]
            if isinstance(msg, P.Ack) and msg.req_seq in seqs and msg.req_type == req_type:
                return msg
            if isinstance(msg, P.DeviceError) and (msg.req_seq in seqs or msg.req_seq == 0xFFFF):
                self.stats.device_errors += 1
                return msg

    def _send_tiles(self, tag: int, data: bytes) -> None:
        """The input in tiles whose size adapts to the line: a tile that needs a resend is sent
        again with half its bytes (a frame is damaged less often the shorter it is), down to
        MIN_TILE, and after GROW_AFTER tiles acknowledged at once the size doubles back, up to the
        firmware's maximum payload. A tile is any span of the input at a byte offset; the device
        takes the bytes it lacks (overlaps are ACKed) and names its count if a tile starts past it."""
        h = self.hello_info
        most = max(MIN_TILE, h.max_payload - P.TILE_HEADER)
        pos = 0
        while pos < len(data):
            self.tile_bytes = min(self.tile_bytes or most, most)
            pos = self._send_tile(tag, data, pos, most)

    def _send_tile(self, tag: int, data: bytes, pos: int, most: int) -> int:
        """Send the tile at byte ``pos`` until it is acknowledged; returns where the next starts.
        Tries are bounded: MIN_TILE_TRIES x ``retries`` once the tile is MIN_TILE bytes (it
        shrinks no more), on top of the halvings that got it there."""
        seqs: set[int] = set()
        tries = 0
        while True:
            n = min(self.tile_bytes, len(data) - pos)
            seqs.add(self.link.send(P.TILE, P.tile_payload(tag, pos, data[pos : pos + n])))
            reply = self._await_tile(seqs, time.monotonic() + self.timeout)
            if isinstance(reply, P.Ack):
                self._adapt(tries == 0, most)
                return pos + n
            if isinstance(reply, P.DeviceError) and reply.req_seq in seqs:
                if reply.code == P.E_TILE_GAP and reply.detail < pos:
                    return reply.detail  # the device lost bytes (a reset unseen): go back to them
                if reply.code in (P.E_BAD_TILE, P.E_MODEL_FAILED):
                    raise HardtoolError(
                        f"the device rejected input bytes {pos}..{pos + n - 1}: {reply.text} (detail {reply.detail})"
                    )
            self.stats.resends += 1
            tries += n <= MIN_TILE
            if tries >= MIN_TILE_TRIES * self.retries:
                raise HardtoolError(
                    f"image {tag}: input bytes {pos}..{pos + n - 1} not acknowledged after "
                    f"{tries} tries (no answer or a noisy line on {self.link.name})"
                )
            self._adapt(False, most)

    def _await_tile(self, seqs: set[int], deadline: float) -> P.Ack | P.DeviceError | None:
        """A tile's reply. The device's report of a damaged frame (sequence unknown) may be about
        an earlier try: the ACK of this one still gets a moment (a quarter of the timeout) before
        the tile is resent, so a noisy line is not flooded with resends the device must parse."""
        reply = self._await(seqs, P.TILE, deadline)
        grace = min(deadline, time.monotonic() + self.timeout / 4)
        while isinstance(reply, P.DeviceError) and reply.req_seq not in seqs and time.monotonic() < grace:
            reply = self._await(seqs, P.TILE, grace) or reply
        return reply

    def _adapt(self, clean: bool, most: int) -> None:
        """Halve the tile after a resend; double it after GROW_AFTER clean tiles in a row."""
        if not clean:
            self.tile_bytes, self.clean_tiles = max(MIN_TILE, self.tile_bytes // 2), 0
            self.stats.smallest_tile = min(self.stats.smallest_tile or self.tile_bytes, self.tile_bytes)
            return
        self.clean_tiles += 1
        if self.clean_tiles >= GROW_AFTER and self.tile_bytes < most:
            self.tile_bytes, self.clean_tiles = min(most, self.tile_bytes * 2), 0
            self.stats.tile_growths += 1

    def _run(self, tag: int, in_crc: int) -> DeviceResult | None:
        seqs: set[int] = set()
        for _ in range(self.retries):
            seqs.add(self.link.send(P.RUN, P.run_payload(tag, in_crc, self.out_max)))
            reply = self._await(seqs, P.RUN, time.monotonic() + self.timeout)
            if isinstance(reply, P.Ack):
                return self._collect(tag)
            if isinstance(reply, P.DeviceError) and reply.req_seq in seqs:
                if reply.code in (P.E_INCOMPLETE_INPUT, P.E_INPUT_CRC):
                    raise _Retry()
                if reply.code == P.E_MODEL_FAILED:
                    raise HardtoolError(
                        f"image {tag}: hard_model_run failed on the device (code {reply.detail})"
                    )
            self.stats.resends += 1
        raise HardtoolError(
            f"image {tag}: RUN not acknowledged after {self.retries} tries on {self.link.name}"
        )

    def _collect(self, tag: int) -> DeviceResult | None:
        """Gather the output pieces, PROFILE and RESULT; ask again (RESULT_REQ) for anything lost,
        with output frames half as long each time (a short frame is damaged less often). Every
        sending of one run (same run_id) cuts the same streams (the label map's code, each output
        tensor, the layer counts) at byte or layer offsets, so the pieces of all attempts, of
        whatever size, are kept and put together."""
        first_deadline = time.monotonic() + self.run_timeout
        pieces: dict[int, dict] = {}  # run_id -> {stream: {start: data}}
        for attempt in range(self.retries):
            deadline = first_deadline if attempt == 0 else time.monotonic() + self.timeout
            result = self._gather(tag, deadline, pieces)
            if result is not None:
                out = self._assemble(self.hello_info, result, pieces.get(result.run_id, {}))
                if out is not None:
                    self._adapt_out(attempt == 0)
                    return out
            self._adapt_out(False)
            self.stats.result_requests += 1
            self.link.send(P.RESULT_REQ, P.result_req_payload(tag, self.out_max))
        return None

    def _gather(self, tag: int, deadline: float, pieces: dict[int, dict]) -> P.Result | None:
        """The frames of one sending of a result, up to its RESULT (None: it did not come)."""
        while True:
            got = self._next(deadline)
            if got is None:
                return None
            frame, msg = got
            if getattr(msg, "image", None) != tag:
                continue
            if isinstance(msg, P.Result):
                return msg
            if isinstance(msg, P.DeviceError) and msg.code == P.E_NO_RESULT:
                raise _Retry()
            if isinstance(msg, P.DeviceError) and msg.code == P.E_MODEL_FAILED:
                raise HardtoolError(f"image {tag}: hard_model_run failed on the device (code {msg.detail})")
            piece = _piece(msg)
            if piece is not None:
                stream, start, data = piece
                got = pieces.setdefault(msg.run_id, {}).setdefault(stream, {})
                if len(data) > len(got.get(start, ())):
                    got[start] = data
                self.out_largest = max(self.out_largest, len(frame.payload))
                # the run is over once its output flows: a lost RESULT costs one timeout
                deadline = time.monotonic() + self.timeout

    def _adapt_out(self, clean: bool) -> None:
        """Halve the output frames after an incomplete result; double them back after GROW_AFTER
        results complete at the first try (0: the firmware's own size again)."""
        if not clean:
            base = self.out_max or self.out_largest or self.hello_info.max_payload
            self.out_max, self.clean_results = max(P.MIN_OUT_PAYLOAD, base // 2), 0
            self.stats.smallest_output = min(self.stats.smallest_output or self.out_max, self.out_max)
            return
        if self.out_max:
            self.clean_results += 1
            if self.clean_results >= GROW_AFTER:
                self.out_max, self.clean_results = self.out_max * 2, 0
                self.out_max = 0 if self.out_max >= self.out_largest else self.out_max

    def _assemble(self, h: P.Hello, r: P.Result, pieces: dict) -> DeviceResult | None:
        """The full result if every piece arrived and the output CRC matches, else None."""
        if r.num_layers != h.num_layers or (h.labels and r.rows != h.labels_h):
            return None
        if h.labels:  # the label map's run-length code, checked whole, then decoded
            code = _cover(pieces.get(0, {}), b"")
            if len(code) != r.output_size or P.crc32(code) != r.output_crc32:
                return None
            try:
                outs = [P.rle_decode(code, limit=h.labels_h * h.labels_w)]
            except P.ProtocolError:
                return None
            size = h.labels_h * h.labels_w
        else:
            outs = [_cover(pieces.get(t, {}), b"") for t in range(h.num_outputs)]
            size = h.output_bytes
            if P.crc32(b"".join(outs)) != r.output_crc32:
                return None
        if sum(map(len, outs)) != size:
            return None
        counts = list(_cover(pieces.get(PROFILE_STREAM, {}), ()))
        if len(counts) != r.num_layers:
            return None
        lab = np.frombuffer(outs[0], np.uint8).reshape(h.labels_h, h.labels_w).copy() if h.labels else None
        return DeviceResult(
            index=r.image,
            labels=lab,
            outputs=outs,
            layer_counts=counts,
            total=r.total,
            unit=h.unit,
            stack_high_water=r.stack_high_water,
            stats={"resends": self.stats.resends, "bad_frames": self.link.bad_frames},
        )

    def reset_board(self, wait: float = 5.0) -> P.Hello:
        """Ask the firmware to reboot (RESET) and wait for its boot HELLO."""
        self.link.send(P.RESET)
        deadline = time.monotonic() + wait
        while True:
            try:
                if self._next(deadline) is None:
                    raise HardtoolError(f"the board did not come back within {wait:.0f} s after RESET")
            except BoardReset as r:
                self.hello_info = r.hello
                return r.hello


def _input_bytes(sample: np.ndarray | bytes | list[np.ndarray]) -> bytes:
    if isinstance(sample, bytes | bytearray):
        return bytes(sample)
    if isinstance(sample, list | tuple):
        return b"".join(np.ascontiguousarray(x).tobytes() for x in sample)
    return np.ascontiguousarray(sample).tobytes()


def _describe(sample) -> str:
    if isinstance(sample, np.ndarray):
        return f"{sample.dtype} {'x'.join(map(str, sample.shape))}"
    return type(sample).__name__


PROFILE_STREAM = -1  # the per-layer counts, beside output tensors 0..n-1 (or the label map, 0)


def _piece(msg: P.Message) -> tuple[int, int, bytes | tuple[int, ...]] | None:
    """(stream, start, data) of an output or PROFILE frame (None for others): the label map's
    run-length code (stream 0, bytes), output tensor t's bytes (stream t) or the layer counts."""
    if isinstance(msg, P.Labels) and msg.rle:
        return 0, msg.offset, msg.rle
    if isinstance(msg, P.TensorPiece) and msg.data:
        return msg.tensor, msg.offset, msg.data
    if isinstance(msg, P.Profile) and msg.counts:
        return PROFILE_STREAM, msg.first_layer, msg.counts
    return None


def _cover(pieces: dict[int, bytes | tuple], empty: bytes | tuple) -> bytes | tuple:
    """A stream from its pieces {start: data}, up to the first gap: pieces of any sizes and
    overlaps (they are cut from the same stream)."""
    out = empty
    for start in sorted(pieces):
        if start > len(out):
            break
        data = pieces[start]
        if start + len(data) > len(out):
            out += data[len(out) - start :]
    return out


def run_images(
    link: Link | SerialLike | str,
    images_int8: Iterable[np.ndarray],
    progress: Callable[[int, DeviceResult], None] | None = None,
    *,
    baud: int = 115200,
    timeout: float = 2.0,
    run_timeout: float = 120.0,
    retries: int = 8,
    max_resets: int = 3,
) -> Iterator[DeviceResult]:
    """Run each input (an int8 HxWxC image, or the model's input bytes) on the device, yielding
    results in order.

    ``link`` is a :class:`Link`, an open serial-like object, or a port name / pyserial URL.
    """
    own = not isinstance(link, Link)
    lk = Link(link, baud=baud) if own else link
    try:
        session = BenchSession(
            lk, timeout=timeout, run_timeout=run_timeout, retries=retries, max_resets=max_resets
        )
        session.hello()
        for i, img in enumerate(images_int8):
            res = session.infer(i, img)
            if progress:
                progress(i, res)
            yield res
    finally:
        if own:
            lk.close()
