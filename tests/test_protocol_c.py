"""C protocol (firmware/protocol) against the Python mirror: same CRC, same frames, same messages,
same verdict on garbage. The C side is built for the host with gcc -Werror and loaded via ctypes;
the libFuzzer target runs briefly when clang supports -fsanitize=fuzzer."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardtool.device import protocol as P

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "firmware" / "protocol"
SOURCES = [PROTO / "hproto.c", PROTO / "hproto_msg.c"]
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> ctypes.CDLL:
    out = tmp_path_factory.mktemp("hproto") / "libhproto.so"
    subprocess.run(
        ["gcc", *STRICT, "-O2", "-fPIC", "-shared", f"-I{PROTO}", *map(str, SOURCES), "-o", str(out)],
        check=True,
    )
    so = ctypes.CDLL(str(out))
    so.hp_crc32.restype = ctypes.c_uint32
    so.hp_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    so.hp_parser_feed.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.POINTER(Frame)]
    so.hp_crc32_shift_const.restype = ctypes.c_uint32
    so.hp_crc32_shift_const.argtypes = [ctypes.c_size_t]
    so.hp_crc32_combine.restype = ctypes.c_uint32
    so.hp_crc32_combine.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32]
    so.hp_frame_payload_crc.restype = ctypes.c_uint32
    so.hp_frame_payload_crc.argtypes = [
        ctypes.POINTER(Frame),
        ctypes.c_size_t,
        ctypes.c_uint32,
        ctypes.c_uint32,
    ]
    so.hp_rle_encode.restype = ctypes.c_size_t
    so.hp_rle_encode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    so.hp_rle_encode_part.restype = ctypes.c_size_t
    so.hp_rle_encode_part.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t),
    ]
    so.hp_rle_decode.restype = ctypes.c_long
    so.hp_rle_decode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    for fn in ("hp_hello_encode", "hp_ack_encode", "hp_result_encode", "hp_error_encode"):
        getattr(so, fn).restype = ctypes.c_size_t
    return so


class Frame(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint8),
        ("type", ctypes.c_uint8),
        ("seq", ctypes.c_uint16),
        ("len", ctypes.c_uint16),
        ("payload", ctypes.POINTER(ctypes.c_uint8)),
        ("ext", ctypes.POINTER(ctypes.c_uint8)),
        ("ext_len", ctypes.c_size_t),
    ]


class Parser(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("cap", ctypes.c_size_t),
        ("len", ctypes.c_size_t),
        ("code", ctypes.c_uint8),
        ("remaining", ctypes.c_uint8),
        ("overflow", ctypes.c_uint8),
        ("bad", ctypes.c_uint8),
        ("ext", ctypes.c_void_p),
        ("ext_at", ctypes.c_size_t),
        ("ext_len", ctypes.c_size_t),
    ]


PUT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)


class Writer(ctypes.Structure):
    _fields_ = [
        ("put", PUT),
        ("ctx", ctypes.c_void_p),
        ("crc", ctypes.c_uint32),
        ("left", ctypes.c_uint16),
        ("code", ctypes.c_uint16),
        ("len", ctypes.c_uint16),
        ("buf", ctypes.c_uint8 * 256),
        ("frame_crc", ctypes.c_uint32),
    ]


def c_parse(lib, data: bytes, cap: int = 4096) -> tuple[list[tuple[int, int, bytes]], list[int]]:
    """Feed bytes to the C parser: (frames, error codes)."""
    buf = (ctypes.c_uint8 * cap)()
    p = Parser()
    lib.hp_parser_init(ctypes.byref(p), buf, ctypes.c_size_t(cap))
    f = Frame()
    frames, errors = [], []
    for b in data:
        rc = lib.hp_parser_feed(ctypes.byref(p), b, ctypes.byref(f))
        if rc == 1:
            frames.append((f.type, f.seq, ctypes.string_at(f.payload, f.len)))
        elif rc < 0:
            errors.append(rc)
    return frames, errors


def c_write(lib, type_: int, seq: int, payload: bytes) -> bytes:
    out = bytearray()

    @PUT
    def put(_ctx, data, n):
        out.extend(ctypes.string_at(data, n))

    w = Writer()
    lib.hp_writer_init(ctypes.byref(w), put, None)
    rc = lib.hp_write_frame(
        ctypes.byref(w), ctypes.c_uint8(type_), ctypes.c_uint16(seq), payload, ctypes.c_uint16(len(payload))
    )
    assert rc == 0
    return bytes(out)


@given(st.binary(max_size=3000))
def test_crc_matches_zlib(lib, data: bytes) -> None:
    assert lib.hp_crc32(0, data, len(data)) == P.crc32(data)


@given(st.binary(max_size=600), st.binary(max_size=2000))
def test_crc_combine_is_zlib(lib, a: bytes, b: bytes) -> None:
    k = lib.hp_crc32_shift_const(len(b))
    assert lib.hp_crc32_combine(P.crc32(a), P.crc32(b), k) == P.crc32(a + b)
    assert lib.hp_crc32_combine(P.crc32(a), P.crc32(a + b), k) == P.crc32(b)  # linear: the inverse too


@given(
    st.binary(min_size=1, max_size=3000), st.integers(0, 0xFFFF), st.integers(0, 1), st.integers(0, 2**32 - 1)
)
def test_a_tile_decoded_straight_into_a_sink(lib, data: bytes, seq: int, damage: int, where: int) -> None:
    late = where % 3 % len(data)
    """With a sink set once the tile's header is in (what the firmware does for the input buffer),
    the data is decoded into the sink, not the small frame buffer; the frame's CRC, the tile's
    decode and the input CRC from the frame CRC are as without it; a damaged frame still fails."""
    wire = bytearray(P.encode_frame(P.TILE, seq, P.tile_payload(7, 123, data)))
    if damage:
        i = 1 + where % (len(wire) - 2)
        wire[i] = (wire[i] + 1) % 256 or 1  # never a delimiter
    buf, sink = (ctypes.c_uint8 * 64)(), (ctypes.c_uint8 * len(data))()
    p, f, rcs = Parser(), Frame(), []
    lib.hp_parser_init(ctypes.byref(p), buf, ctypes.c_size_t(64))
    for b in wire:
        rcs.append(lib.hp_parser_feed(ctypes.byref(p), b, ctypes.byref(f)))
        if p.len >= P.HEADER_SIZE + P.TILE_HEADER + late and not p.ext_at:  # decoded bytes move
            assert lib.hp_parser_set_sink(ctypes.byref(p), 14, sink, ctypes.c_size_t(len(data))) == 0
    if damage:
        assert 1 not in rcs
        return
    assert rcs.count(1) == 1 and bytes(sink) == data and f.ext_len == len(data)
    t = (ctypes.c_uint8 * 64)()
    assert lib.hp_tile_decode(ctypes.byref(f), t) == 0
    assert ctypes.c_void_p.from_buffer(t, 8).value == ctypes.addressof(sink)  # hp_tile_t.data
    k = lib.hp_crc32_shift_const(len(data))
    assert lib.hp_frame_payload_crc(ctypes.byref(f), P.TILE_HEADER, 0, k) == P.crc32(data)


@given(st.integers(0, 0xFFFF), st.binary(max_size=1200), st.integers(0, 1200), st.binary(max_size=300))
def test_frame_payload_crc_from_the_frame_crc(
    lib, seq: int, payload: bytes, skip: int, before: bytes
) -> None:
    """A tile's rows extend the input's CRC from the frame's CRC alone (what the firmware does)."""
    skip = min(skip, len(payload))
    raw = ctypes.create_string_buffer(P.raw_frame(P.TILE, seq, payload))
    f = Frame(2, P.TILE, seq, len(payload), ctypes.cast(ctypes.byref(raw, 6), ctypes.POINTER(ctypes.c_uint8)))
    k = lib.hp_crc32_shift_const(len(payload) - skip)
    assert lib.hp_frame_payload_crc(ctypes.byref(f), skip, 0, k) == P.crc32(payload[skip:])
    assert lib.hp_frame_payload_crc(ctypes.byref(f), skip, P.crc32(before), k) == P.crc32(
        before + payload[skip:]
    )


runs = st.lists(st.tuples(st.integers(0, 255), st.integers(1, 700)), max_size=12)


@given(runs)
def test_rle_c_equals_python_on_long_runs(lib, spans) -> None:
    data = b"".join(bytes([v]) * n for v, n in spans)
    out = ctypes.create_string_buffer(2 * len(data) + 2)
    n = lib.hp_rle_encode(data, len(data), out, len(out))
    assert out.raw[:n] == P.rle_encode(data)


@given(st.integers(0, 0xFFFF), runs)
def test_c_writer_on_long_runs(lib, seq: int, spans) -> None:
    payload = b"".join(bytes([v]) * n for v, n in spans)[:0xFFFF]
    assert c_write(lib, P.TILE, seq, payload) == P.encode_frame(P.TILE, seq, payload)


@settings(max_examples=200)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=1500))
def test_c_writer_is_python_encoder(lib, type_: int, seq: int, payload: bytes) -> None:
    assert c_write(lib, type_, seq, payload) == P.encode_frame(type_, seq, payload)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=600)), max_size=4))
def test_c_parser_reads_python_frames(lib, frames) -> None:
    wire = b"".join(P.encode_frame(*f) for f in frames)
    got, errors = c_parse(lib, wire)
    assert got == frames and errors == []


@settings(max_examples=300)
@given(st.data())
def test_c_and_python_parsers_agree_on_garbage(lib, data) -> None:
    """Differential: random noise mixed with valid frames gives identical frames on both sides."""
    parts = []
    for _ in range(data.draw(st.integers(0, 4))):
        if data.draw(st.booleans()):
            parts.append(
                P.encode_frame(
                    data.draw(st.integers(0, 255)),
                    data.draw(st.integers(0, 0xFFFF)),
                    data.draw(st.binary(max_size=200)),
                )
            )
        else:
            parts.append(data.draw(st.binary(max_size=200)))
    wire = bytearray(b"".join(parts))
    for _ in range(data.draw(st.integers(0, 3))):
        if wire:
            i = data.draw(st.integers(0, len(wire) - 1))
            wire[i] = data.draw(st.integers(0, 255))
    cap = 4096
    c_frames, _ = c_parse(lib, bytes(wire), cap=cap)
    py_frames = P.FrameParser(max_frame=cap).feed(bytes(wire))
    py = [(f.type, f.seq, f.payload) for f in py_frames if f.version == P.VERSION]
    assert c_frames == py


def test_c_parser_overflow_then_resync(lib) -> None:
    big = P.encode_frame(P.TILE, 1, bytes(500))
    small = P.encode_frame(P.RUN, 2, P.run_payload(1, 2))
    frames, errors = c_parse(lib, big + small, cap=100)
    assert frames == [(P.RUN, 2, P.run_payload(1, 2))]
    assert errors == [-6]


def test_c_parser_error_codes(lib) -> None:
    good = P.cobs_encode(P.raw_frame(P.RUN, 1, P.run_payload(1, 2)))
    bad_crc = bytearray(P.raw_frame(P.RUN, 1, P.run_payload(1, 2)))
    bad_crc[-1] ^= 1
    v2 = P.raw_frame(P.RUN, 1, P.run_payload(1, 2), version=P.VERSION + 1)
    cases = {
        -2: P.cobs_encode(b"\x01\x02"),
        -4: P.cobs_encode(bytes(bad_crc)),
        -5: P.cobs_encode(v2),
        -1: good[:-1],
    }
    for code, body in cases.items():
        _, errors = c_parse(lib, b"\x00" + body + b"\x00")
        assert errors == [code], code


@given(st.binary(max_size=1000))
def test_rle_c_equals_python(lib, data: bytes) -> None:
    out = ctypes.create_string_buffer(2 * len(data) + 2)
    n = lib.hp_rle_encode(data, len(data), out, len(out))
    assert out.raw[:n] == P.rle_encode(data)
    dec = ctypes.create_string_buffer(len(data) + 1)
    assert lib.hp_rle_decode(out.raw[:n], n, dec, len(dec)) == len(data)
    assert dec.raw[: len(data)] == data


@given(st.binary(max_size=1000), st.integers(2, 80))
def test_rle_pieces_that_fit_a_payload_code_the_whole_map(lib, data: bytes, cap: int) -> None:
    """Label map pieces (LABELS frames of a given payload) each code as many values as fit in
    whole pairs; decoded one after the other they give the map back."""
    out, used, pos, pieces = ctypes.create_string_buffer(cap), ctypes.c_size_t(), 0, []
    while pos < len(data):
        n = lib.hp_rle_encode_part(data[pos:], len(data) - pos, out, cap, ctypes.byref(used))
        assert n == 2 * (cap // 2) or pos + used.value == len(data)
        assert used.value > 0 and out.raw[:n] == P.rle_encode(data[pos : pos + used.value])
        pieces.append(P.rle_decode(out.raw[:n]))
        pos += used.value
    assert b"".join(pieces) == data


class Hello(ctypes.Structure):
    _fields_ = [
        ("reason", ctypes.c_uint8),
        ("timer_unit", ctypes.c_uint8),
        ("output_kind", ctypes.c_uint8),
        ("fw_version", ctypes.c_uint16),
        ("max_payload", ctypes.c_uint16),
        ("in_rows", ctypes.c_uint16),
        ("in_row_bytes", ctypes.c_uint16),
        ("labels_h", ctypes.c_uint16),
        ("labels_w", ctypes.c_uint16),
        ("num_classes", ctypes.c_uint16),
        ("num_layers", ctypes.c_uint16),
        ("num_inputs", ctypes.c_uint16),
        ("num_outputs", ctypes.c_uint16),
        ("arena_size", ctypes.c_uint32),
        ("core_clock_hz", ctypes.c_uint32),
        ("timer_hz", ctypes.c_uint32),
        ("stack_size", ctypes.c_uint32),
        ("output_bytes", ctypes.c_uint32),
        ("model_hash", ctypes.c_char_p),
        ("board", ctypes.c_char_p),
        ("build_id", ctypes.c_char_p),
    ]


class Result(ctypes.Structure):
    _fields_ = [
        ("image", ctypes.c_uint32),
        ("run_id", ctypes.c_uint32),
        ("status", ctypes.c_int32),
        ("stack_high_water", ctypes.c_uint32),
        ("total", ctypes.c_uint64),
        ("num_layers", ctypes.c_uint16),
        ("rows", ctypes.c_uint16),
        ("output_frames", ctypes.c_uint16),
        ("profile_frames", ctypes.c_uint16),
        ("output_crc32", ctypes.c_uint32),
        ("input_crc32", ctypes.c_uint32),
        ("output_size", ctypes.c_uint32),
    ]


class Error(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("req_seq", ctypes.c_uint16),
        ("req_type", ctypes.c_uint8),
        ("image", ctypes.c_uint32),
        ("detail", ctypes.c_uint32),
        ("text", ctypes.c_char_p),
    ]


class Ack(ctypes.Structure):
    _fields_ = [
        ("req_seq", ctypes.c_uint16),
        ("req_type", ctypes.c_uint8),
        ("status", ctypes.c_uint8),
        ("image", ctypes.c_uint32),
        ("offset", ctypes.c_uint32),
        ("length", ctypes.c_uint32),
    ]


def _encode(lib, fn: str, msg: ctypes.Structure) -> bytes:
    out = ctypes.create_string_buffer(512)
    n = getattr(lib, fn)(ctypes.byref(msg), out, ctypes.c_size_t(len(out)))
    assert n > 0
    return out.raw[:n]


def test_device_messages_decode_on_host(lib) -> None:
    h = Hello(
        1,
        1,
        P.OUTPUT_LABELS,
        0x0102,
        968,
        128,
        768,
        128,
        256,
        19,
        42,
        1,
        1,
        123456,
        216_000_000,
        216_000_000,
        16384,
        32768,
        b"ab" * 32,
        b"stm32f746g-disco",
        b"x" * 40,
    )
    got = P.decode_message(P.Frame(P.HELLO, 0, _encode(lib, "hp_hello_encode", h)))
    assert (got.in_rows, got.in_row_bytes, got.num_layers, got.arena_size, got.core_clock_hz) == (
        128,
        768,
        42,
        123456,
        216_000_000,
    )
    assert (got.labels_h, got.labels_w, got.num_classes, got.num_inputs, got.num_outputs) == (
        128,
        256,
        19,
        1,
        1,
    )
    assert (got.output_bytes, got.model_hash, got.labels) == (32768, "ab" * 32, True)
    assert got.board == "stm32f746g-disco" and got.build_id == "x" * 32 and got.unit == "instructions"
    r = Result(7, 3, 0, 2048, 2**40 + 5, 42, 128, 9, 1, 0xCAFEBABE, 0x01020304, 4321)
    assert P.decode_message(P.Frame(P.RESULT, 0, _encode(lib, "hp_result_encode", r))) == P.Result(
        7, 3, 0, 2048, 2**40 + 5, 42, 128, 9, 1, 0xCAFEBABE, 0x01020304, 4321
    )
    e = Error(P.E_INPUT_CRC, 77, P.RUN, 7, 0xABCDEF01, b"input CRC mismatch")
    assert P.decode_message(P.Frame(P.ERROR, 0, _encode(lib, "hp_error_encode", e))) == P.DeviceError(
        P.E_INPUT_CRC, 77, P.RUN, 7, 0xABCDEF01, "input CRC mismatch"
    )
    a = Ack(5, P.TILE, 0, 7, 100_000, 65)
    assert P.decode_message(P.Frame(P.ACK, 0, _encode(lib, "hp_ack_encode", a))) == P.Ack(
        5, P.TILE, 0, 7, 100_000, 65
    )


def test_host_messages_decode_on_device(lib) -> None:
    class Tile(ctypes.Structure):
        _fields_ = [
            ("image", ctypes.c_uint32),
            ("offset", ctypes.c_uint32),
            ("data", ctypes.POINTER(ctypes.c_uint8)),
            ("data_len", ctypes.c_size_t),
        ]

    class Run(ctypes.Structure):
        _fields_ = [
            ("image", ctypes.c_uint32),
            ("input_crc32", ctypes.c_uint32),
            ("max_out", ctypes.c_uint16),
        ]

    data = np.arange(2 * 192 + 5, dtype=np.uint8).tobytes()
    frames, _ = c_parse(
        lib,
        P.encode_frame(P.TILE, 3, P.tile_payload(11, 6 * 192 + 7, data))
        + P.encode_frame(P.RUN, 4, P.run_payload(11, 0xFEEDF00D, 96)),
    )
    buf = ctypes.create_string_buffer(frames[0][2])
    f = Frame(1, P.TILE, 3, len(frames[0][2]), ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8)))
    t = Tile()
    assert lib.hp_tile_decode(ctypes.byref(f), ctypes.byref(t)) == 0
    assert (t.image, t.offset, t.data_len) == (11, 6 * 192 + 7, len(data))
    assert ctypes.string_at(t.data, t.data_len) == data
    buf = ctypes.create_string_buffer(frames[1][2])
    f = Frame(1, P.RUN, 4, P.RUN_SIZE, ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8)))
    r = Run()
    assert lib.hp_run_decode(ctypes.byref(f), ctypes.byref(r)) == 0
    assert (r.image, r.input_crc32, r.max_out) == (11, 0xFEEDF00D, 96)
    f.len = P.RUN_SIZE - 1
    assert lib.hp_run_decode(ctypes.byref(f), ctypes.byref(r)) == -1


def test_protocol_builds_for_the_mcu_without_warnings() -> None:
    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        pytest.skip("arm-none-eabi-gcc not installed")
    for src in SOURCES:
        r = subprocess.run(
            [
                gcc,
                *STRICT,
                "-O2",
                "-mcpu=cortex-m7",
                "-mthumb",
                "-mfpu=fpv5-sp-d16",
                "-mfloat-abi=hard",
                f"-I{PROTO}",
                "-c",
                str(src),
                "-o",
                "/dev/null",
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0 and r.stderr == "", r.stderr


def _clang_fuzzer(tmp: Path) -> Path | None:
    clang = shutil.which("clang")
    if not clang:
        return None
    exe = tmp / "fuzz_parser"
    r = subprocess.run(
        [
            clang,
            "-g",
            "-O1",
            *STRICT[:-1],
            "-fsanitize=fuzzer,address,undefined",
            f"-I{PROTO}",
            str(PROTO / "fuzz_parser.c"),
            *map(str, SOURCES),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    return exe if r.returncode == 0 else None


def test_libfuzzer_parser_short_run(tmp_path: Path) -> None:
    exe = _clang_fuzzer(tmp_path)
    if exe is None:
        pytest.skip("clang with -fsanitize=fuzzer not available (apt-get install -y clang)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = [
        P.encode_frame(P.TILE, 1, P.tile_payload(1, 0, bytes(192))),
        P.encode_frame(P.RUN, 2, P.run_payload(1, 5)),
        P.encode_frame(P.HELLO_REQ, 3),
        P.encode_frame(P.LABELS, 4, P.labels_payload(1, 1, 0, P.rle_encode(bytes(64)))),
    ]
    for i, s in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(s)
    # ASan's quarantine, not the parser, is what grows the RSS over ~100k runs: keep it small.
    env = {**os.environ, "ASAN_OPTIONS": "quarantine_size_mb=16:malloc_context_size=4"}
    r = subprocess.run(
        [str(exe), "-max_total_time=8", "-timeout=5", "-rss_limit_mb=2048", str(corpus)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Done" in r.stderr
