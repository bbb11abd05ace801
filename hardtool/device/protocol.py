"""The bench wire protocol, host side: the mirror of ``firmware/protocol/hproto.h``.

A raw frame is ``u8 version | u8 type | u16 seq | u16 len | payload | u32 crc32`` (little
endian, CRC-32 = ``zlib.crc32`` over everything before it). On the wire it is COBS-encoded
and wrapped in 0x00 delimiters, so a receiver resynchronises on the next 0x00 after noise.
Everything here is pure Python, so the host parser can be fuzzed without a device.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from hardtool.core.errors import HardtoolError

VERSION = 3
HEADER_SIZE = 6
CRC_SIZE = 4
OVERHEAD = HEADER_SIZE + CRC_SIZE
MAX_PAYLOAD = 0xFFFF

# message types (host -> device 0x01..0x7F, device -> host 0x81..0xFF)
HELLO_REQ, TILE, RUN, RESULT_REQ, RESET = 0x01, 0x02, 0x03, 0x04, 0x05
HELLO, ACK, LABELS, PROFILE, RESULT, ERROR, TENSOR = 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87
TYPE_NAMES = {
    HELLO_REQ: "HELLO_REQ",
    TILE: "TILE",
    RUN: "RUN",
    RESULT_REQ: "RESULT_REQ",
    RESET: "RESET",
    HELLO: "HELLO",
    ACK: "ACK",
    LABELS: "LABELS",
    PROFILE: "PROFILE",
    RESULT: "RESULT",
    ERROR: "ERROR",
    TENSOR: "TENSOR",
}
# what a run sends back (HELLO's output_kind)
OUTPUT_LABELS, OUTPUT_TENSORS = 0, 1

# device error codes (HP_E_*)
E_BAD_FRAME, E_BAD_CRC, E_BAD_VERSION, E_OVERFLOW, E_UNKNOWN_TYPE, E_BAD_PAYLOAD = 1, 2, 3, 4, 5, 6
E_BAD_TILE, E_INCOMPLETE_INPUT, E_INPUT_CRC, E_MODEL_FAILED, E_NO_RESULT, E_TILE_GAP = 7, 8, 9, 10, 11, 12
ERROR_NAMES = {
    1: "BAD_FRAME",
    2: "BAD_CRC",
    3: "BAD_VERSION",
    4: "OVERFLOW",
    5: "UNKNOWN_TYPE",
    6: "BAD_PAYLOAD",
    7: "BAD_TILE",
    8: "INCOMPLETE_INPUT",
    9: "INPUT_CRC",
    10: "MODEL_FAILED",
    11: "NO_RESULT",
    12: "TILE_GAP",
}

UNIT_NAMES = {0: "cycles", 1: "instructions", 2: "ns"}

TILE_HEADER, RUN_SIZE, RESULT_REQ_SIZE, ACK_SIZE = 8, 12, 8, 16
MIN_OUT_PAYLOAD = 32  # the smallest output payload a host may ask for (RUN, RESULT_REQ)
LABELS_HEADER, PROFILE_HEADER, RESULT_SIZE, ERROR_HEADER, TENSOR_HEADER = 12, 12, 44, 16, 16
HELLO_FIXED, HELLO_STR_MAX, ERROR_TEXT_MAX = 108, 32, 64


class ProtocolError(HardtoolError):
    """A frame or message that cannot be decoded: the one exception the host parser raises."""


def crc32(data: bytes, crc: int = 0) -> int:
    """IEEE CRC-32, identical to the firmware's ``hp_crc32``."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


# ---------------------------------------------------------------- COBS


def cobs_encode(data: bytes) -> bytes:
    """COBS without the delimiter; always ends with a final block code like the C writer."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode` (input without delimiters). Raises ProtocolError."""
    out = bytearray()
    i, n, code = 0, len(data), 0
    while i < n:
        c = data[i]
        if c == 0:
            raise ProtocolError("COBS: zero byte inside a frame")
        if code and code != 0xFF:
            out.append(0)
        code = c
        block = data[i + 1 : i + c]
        if len(block) != c - 1 or 0 in block:
            raise ProtocolError("COBS: truncated or corrupt block")
        out += block
        i += c
    return bytes(out)


# ---------------------------------------------------------------- frames


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes
    version: int = VERSION

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:02x}")


def raw_frame(type_: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """Header + payload + CRC, before COBS."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack("<BBHH", version, type_, seq & 0xFFFF, len(payload)) + bytes(payload)
    return body + struct.pack("<I", crc32(body))


def encode_frame(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """Wire bytes: 0x00, COBS(raw frame), 0x00 — the leading delimiter resyncs the receiver."""
    return b"\x00" + cobs_encode(raw_frame(type_, seq, payload)) + b"\x00"


def decode_raw(raw: bytes, accept_any_version: bool = False) -> Frame:
    """Check length and CRC of a COBS-decoded frame. Raises ProtocolError."""
    if len(raw) < OVERHEAD:
        raise ProtocolError(f"short frame ({len(raw)} bytes)")
    version, type_, seq, length = struct.unpack_from("<BBHH", raw)
    if length + OVERHEAD != len(raw):
        raise ProtocolError(f"length field {length} disagrees with frame size {len(raw)}")
    (crc,) = struct.unpack_from("<I", raw, len(raw) - CRC_SIZE)
    if crc != crc32(raw[:-CRC_SIZE]):
        raise ProtocolError("CRC mismatch")
    if version != VERSION and not accept_any_version:
        raise ProtocolError(
            f"device speaks protocol v{version}, this host speaks v{VERSION}; "
            "rebuild the firmware with this hardtool version"
        )
    return Frame(type_, seq, bytes(raw[HEADER_SIZE:-CRC_SIZE]), version)


class FrameParser:
    """Streaming parser: feed any bytes, get the valid frames; bad frames are counted, never raised.

    ``max_frame`` bounds memory: a longer frame is skipped up to the next delimiter.
    """

    def __init__(self, max_frame: int = OVERHEAD + MAX_PAYLOAD + 512):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._skipping = False
        self.errors = 0
        self.last_error = ""

    def reset(self) -> None:
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                self._buf += chunk
                if len(self._buf) > self.max_frame + self.max_frame // 254 + 2:
                    self._buf.clear()
                    self._skipping = True
                    self._error("frame too long")
            if end < 0:
                return frames
            if not self._skipping and self._buf:
                try:
                    frames.append(decode_raw(cobs_decode(bytes(self._buf)), accept_any_version=True))
                except ProtocolError as e:
                    self._error(str(e))
            self._buf.clear()
            self._skipping = False
            start = end + 1

    def _error(self, msg: str) -> None:
        self.errors += 1
        self.last_error = msg


# ---------------------------------------------------------------- RLE


def rle_encode(values: bytes | np.ndarray) -> bytes:
    """(count 1..255, value) pairs, like ``hp_rle_encode``."""
    data = bytes(np.asarray(values, dtype=np.uint8).ravel()) if not isinstance(values, bytes) else values
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        v = data[i]
        run = 1
        while i + run < n and run < 255 and data[i + run] == v:
            run += 1
        out += bytes((run, v))
        i += run
    return bytes(out)


def rle_decode(data: bytes, limit: int | None = None) -> bytes:
    """Inverse of :func:`rle_encode`; ``limit`` caps the output. Raises ProtocolError."""
    if len(data) % 2:
        raise ProtocolError("RLE data has odd length")
    counts = np.frombuffer(data, dtype=np.uint8)[0::2]
    values = np.frombuffer(data, dtype=np.uint8)[1::2]
    if (counts == 0).any():
        raise ProtocolError("RLE run of length 0")
    if limit is not None and int(counts.sum()) > limit:
        raise ProtocolError("RLE data longer than expected")
    return bytes(np.repeat(values, counts))


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Hello:
    proto_version: int
    reason: int  # 0 boot, 1 reply to HELLO_REQ
    timer_unit: int
    output_kind: int  # OUTPUT_LABELS or OUTPUT_TENSORS
    fw_version: int
    max_payload: int
    in_rows: int  # the input (every input tensor's bytes in order) is in_rows rows ...
    in_row_bytes: int  # ... of in_row_bytes; it travels in TILE frames at byte offsets
    labels_h: int
    labels_w: int
    num_classes: int
    num_layers: int
    num_inputs: int
    num_outputs: int
    arena_size: int
    core_clock_hz: int
    timer_hz: int
    stack_size: int
    output_bytes: int
    model_hash: str
    board: str
    build_id: str

    @property
    def input_bytes(self) -> int:
        return self.in_rows * self.in_row_bytes

    @property
    def labels(self) -> bool:
        return self.output_kind == OUTPUT_LABELS

    @property
    def unit(self) -> str:
        return UNIT_NAMES.get(self.timer_unit, f"unit{self.timer_unit}")

    @property
    def is_boot(self) -> bool:
        return self.reason == 0


@dataclass(frozen=True)
class Ack:
    req_seq: int
    req_type: int
    status: int
    image: int
    offset: int  # a TILE's byte offset and length (0, 0 for RUN)
    length: int


@dataclass(frozen=True)
class Labels:
    image: int
    run_id: int
    offset: int  # bytes into the run-length code of the whole label map
    rle: bytes  # a piece of that code (a pair may straddle two pieces)


@dataclass(frozen=True)
class TensorPiece:
    image: int
    run_id: int
    tensor: int
    offset: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Profile:
    image: int
    run_id: int
    first_layer: int
    counts: tuple[int, ...]


@dataclass(frozen=True)
class Result:
    image: int
    run_id: int
    status: int
    stack_high_water: int
    total: int
    num_layers: int
    rows: int  # label rows (0 for tensors)
    output_frames: int
    profile_frames: int
    output_crc32: int  # of the label map's run-length code, or of every output tensor's bytes in order
    input_crc32: int
    output_size: int = 0  # bytes of the label map's run-length code, or of the output tensors


@dataclass(frozen=True)
class DeviceError:
    code: int
    req_seq: int
    req_type: int
    image: int
    detail: int
    text: str

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, f"E{self.code}")


@dataclass(frozen=True)
class Tile:
    image: int
    offset: int  # byte offset of data in the input
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Run:
    image: int
    input_crc32: int  # 0 for RESULT_REQ
    max_out: int = 0  # largest output payload asked for (0: the device's)


Message = Union[Hello, Ack, Labels, TensorPiece, Profile, Result, DeviceError, Tile, Run, None]

_HELLO = struct.Struct("<BBBBHHHHHHHHHHIIIII64s")
_TENSOR = struct.Struct("<IIHxxI")
_ACK = struct.Struct("<HBBIII")
_LABELS = struct.Struct("<III")
_PROFILE = struct.Struct("<IIHH")
_RESULT = struct.Struct("<IIiIQHHHHIII")
_ERROR = struct.Struct("<HHBxxxII")
_TILE = struct.Struct("<II")
_RUN = struct.Struct("<IIHxx")
_RESULT_REQ = struct.Struct("<IHxx")
assert _HELLO.size == HELLO_FIXED and _RESULT.size == RESULT_SIZE and _ERROR.size == ERROR_HEADER
assert _TENSOR.size == TENSOR_HEADER and _ACK.size == ACK_SIZE and _LABELS.size == LABELS_HEADER
assert _TILE.size == TILE_HEADER and _RUN.size == RUN_SIZE and _RESULT_REQ.size == RESULT_REQ_SIZE
_HELLO_INTS = len(Hello.__dataclass_fields__) - 3  # the fields before model_hash, board, build_id


def _text(b: bytes) -> str:
    return b.decode("ascii", errors="replace")


def decode_message(frame: Frame) -> Message:
    """Typed view of a frame's payload. Raises ProtocolError on a size or field error."""
    p, t = frame.payload, frame.type
    try:
        if t == HELLO:
            if len(p) < HELLO_FIXED + 2:
                raise ProtocolError("HELLO too short")
            f = _HELLO.unpack_from(p)
            i = HELLO_FIXED
            n = p[i]
            board = p[i + 1 : i + 1 + n]
            i += 1 + n
            if len(board) != n or i >= len(p):
                raise ProtocolError("HELLO strings truncated")
            m = p[i]
            build = p[i + 1 : i + 1 + m]
            if len(build) != m or i + 1 + m != len(p):
                raise ProtocolError("HELLO strings truncated")
            return Hello(*f[:-1], _text(f[-1].rstrip(b"\x00")), _text(board), _text(build))
        if t == ACK:
            _need(p, ACK_SIZE, exact=True)
            return Ack(*_ACK.unpack(p))
        if t == LABELS:
            _need(p, LABELS_HEADER)
            return Labels(*_LABELS.unpack_from(p), p[LABELS_HEADER:])
        if t == TENSOR:
            _need(p, TENSOR_HEADER)
            return TensorPiece(*_TENSOR.unpack_from(p), p[TENSOR_HEADER:])
        if t == PROFILE:
            _need(p, PROFILE_HEADER)
            image, run_id, first, count = _PROFILE.unpack_from(p)
            if len(p) != PROFILE_HEADER + 8 * count:
                raise ProtocolError("PROFILE size disagrees with its count")
            return Profile(image, run_id, first, struct.unpack_from(f"<{count}Q", p, PROFILE_HEADER))
        if t == RESULT:
            _need(p, RESULT_SIZE, exact=True)
            return Result(*_RESULT.unpack(p))
        if t == ERROR:
            _need(p, ERROR_HEADER)
            code, req_seq, req_type, image, detail = _ERROR.unpack_from(p)
            return DeviceError(code, req_seq, req_type, image, detail, _text(p[ERROR_HEADER:]))
        if t == TILE:
            _need(p, TILE_HEADER)
            return Tile(*_TILE.unpack_from(p), p[TILE_HEADER:])
        if t == RUN:
            _need(p, RUN_SIZE, exact=True)
            return Run(*_RUN.unpack(p))
        if t == RESULT_REQ:
            _need(p, RESULT_REQ_SIZE, exact=True)
            image, max_out = _RESULT_REQ.unpack(p)
            return Run(image, 0, max_out)
        if t in (HELLO_REQ, RESET):
            _need(p, 0, exact=True)
            return None
    except struct.error as e:  # defensive: sizes are checked above
        raise ProtocolError(f"{frame.name}: {e}") from None
    raise ProtocolError(f"unknown message type 0x{t:02x}")


def _need(p: bytes, n: int, exact: bool = False) -> None:
    if len(p) < n or (exact and len(p) != n):
        raise ProtocolError(f"payload of {len(p)} bytes, expected {'' if exact else 'at least '}{n}")


# encoders (both directions, so tests can play either side)


def tile_payload(image: int, offset: int, data: bytes) -> bytes:
    return _TILE.pack(image, offset) + bytes(data)


def run_payload(image: int, input_crc32: int, max_out: int = 0) -> bytes:
    return _RUN.pack(image, input_crc32, max_out)


def result_req_payload(image: int, max_out: int = 0) -> bytes:
    return _RESULT_REQ.pack(image, max_out)


def hello_payload(h: Hello) -> bytes:
    fields = [getattr(h, k) for k in Hello.__dataclass_fields__][:_HELLO_INTS]
    board, build = h.board.encode()[:HELLO_STR_MAX], h.build_id.encode()[:HELLO_STR_MAX]
    return (
        _HELLO.pack(*fields, h.model_hash.encode()[:64])
        + bytes([len(board)])
        + board
        + bytes([len(build)])
        + build
    )


def ack_payload(a: Ack) -> bytes:
    return _ACK.pack(a.req_seq, a.req_type, a.status, a.image, a.offset, a.length)


def labels_payload(image: int, run_id: int, offset: int, code: bytes) -> bytes:
    """A LABELS piece: bytes ``offset``.. of the label map's run-length code (rle_encode)."""
    return _LABELS.pack(image, run_id, offset) + bytes(code)


def tensor_payload(image: int, run_id: int, tensor: int, offset: int, data: bytes) -> bytes:
    return _TENSOR.pack(image, run_id, tensor, offset) + bytes(data)


def profile_payload(image: int, run_id: int, first_layer: int, counts: list[int]) -> bytes:
    return _PROFILE.pack(image, run_id, first_layer, len(counts)) + struct.pack(f"<{len(counts)}Q", *counts)


def result_payload(r: Result) -> bytes:
    return _RESULT.pack(*(getattr(r, k) for k in Result.__dataclass_fields__))


def error_payload(e: DeviceError) -> bytes:
    return _ERROR.pack(e.code, e.req_seq, e.req_type, e.image, e.detail) + e.text.encode()[:ERROR_TEXT_MAX]
