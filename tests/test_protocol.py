"""Host protocol: COBS, frames, messages, RLE; the parser never raises or hangs on any input."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardtool.device import protocol as P


@given(st.binary(max_size=1200))
def test_cobs_roundtrip_and_no_zeros(data: bytes) -> None:
    enc = P.cobs_encode(data)
    assert 0 not in enc
    assert P.cobs_decode(enc) == data


def test_cobs_known_vectors() -> None:
    assert P.cobs_encode(b"") == b"\x01"
    assert P.cobs_encode(b"\x00") == b"\x01\x01"
    assert P.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert P.cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255)) + b"\x01"


def test_crc_is_zlib() -> None:
    assert P.crc32(b"123456789") == 0xCBF43926 == zlib.crc32(b"123456789")


@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=2000))
def test_frame_roundtrip(type_: int, seq: int, payload: bytes) -> None:
    wire = P.encode_frame(type_, seq, payload)
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    frames = P.FrameParser().feed(wire)
    assert frames == [P.Frame(type_, seq, payload)]


@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=300)), max_size=6),
    st.integers(1, 64),
)
def test_parser_byte_by_byte_equals_bulk(frames, chunk: int) -> None:
    wire = b"".join(P.encode_frame(*f) for f in frames)
    p = P.FrameParser()
    got = []
    for i in range(0, len(wire), chunk):
        got += p.feed(wire[i : i + chunk])
    assert [(f.type, f.seq, f.payload) for f in got] == frames


@settings(max_examples=300)
@given(st.binary(max_size=3000))
def test_parser_random_bytes_never_raise(data: bytes) -> None:
    p = P.FrameParser(max_frame=512)
    for f in p.feed(data):
        try:
            P.decode_message(f)
        except P.ProtocolError:
            pass


@settings(max_examples=300)
@given(st.data())
def test_mutated_frames_are_rejected_or_exact(data) -> None:
    """Any corruption of a valid stream: each frame is either rejected or delivered intact."""
    sent = [(0x83, i, bytes(data.draw(st.binary(min_size=0, max_size=200)))) for i in range(3)]
    wire = bytearray(b"".join(P.encode_frame(*f) for f in sent))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "drop", "insert", "zero"]))
        i = data.draw(st.integers(0, len(wire) - 1))
        if op == "flip":
            wire[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "drop":
            del wire[i]
        elif op == "insert":
            wire.insert(i, data.draw(st.integers(0, 255)))
        else:
            wire[i] = 0
    got = P.FrameParser().feed(bytes(wire))
    assert len(got) <= len(sent) + 4
    for f in got:
        # a CRC-32 collision is possible in theory, never at this scale
        assert (f.type, f.seq, f.payload) in sent


@given(st.binary(max_size=600))
def test_decode_message_only_raises_protocol_error(payload: bytes) -> None:
    for t in list(P.TYPE_NAMES) + [0x00, 0x7F, 0xFF]:
        try:
            P.decode_message(P.Frame(t, 0, payload))
        except P.ProtocolError:
            pass


@given(st.binary(max_size=2000))
def test_rle_roundtrip(data: bytes) -> None:
    enc = P.rle_encode(data)
    assert len(enc) <= 2 * len(data)
    assert P.rle_decode(enc) == data


def test_rle_rejects_bad_input() -> None:
    for bad in (b"\x01", b"\x00\x05", b"\xff\x01"):
        with pytest.raises(P.ProtocolError):
            P.rle_decode(bad, limit=10)


def test_message_roundtrips() -> None:
    hello = P.Hello(
        P.VERSION,
        0,
        1,
        P.OUTPUT_TENSORS,
        0x200,
        968,
        32,
        192,
        0,
        0,
        0,
        3,
        2,
        3,
        10242,
        25_000_000,
        0,
        16384,
        640,
        "ab" * 32,
        "qemu-mps2-an500",
        "build-1",
    )
    assert P.decode_message(P.Frame(P.HELLO, 0, P.hello_payload(hello))) == hello
    ack = P.Ack(7, P.TILE, 0, 9, 10, 5)
    assert P.decode_message(P.Frame(P.ACK, 1, P.ack_payload(ack))) == ack
    res = P.Result(9, 2, 0, 512, 123456789012, 3, 32, 1, 1, 0xDEADBEEF, 0x12345678, 777)
    assert P.decode_message(P.Frame(P.RESULT, 2, P.result_payload(res))) == res
    err = P.DeviceError(P.E_BAD_TILE, 3, P.TILE, 9, 4, "tile bytes out of the input")
    assert P.decode_message(P.Frame(P.ERROR, 3, P.error_payload(err))) == err
    rows = np.arange(2 * 64, dtype=np.uint8).reshape(2, 64) % 3
    lab = P.decode_message(P.Frame(P.LABELS, 4, P.labels_payload(9, 2, 333, P.rle_encode(rows))))
    assert (lab.image, lab.run_id, lab.offset) == (9, 2, 333)
    assert P.rle_decode(lab.rle) == rows.tobytes()
    prof = P.decode_message(P.Frame(P.PROFILE, 5, P.profile_payload(9, 2, 0, [1, 2**40, 3])))
    assert prof.counts == (1, 2**40, 3)
    piece = P.decode_message(P.Frame(P.TENSOR, 7, P.tensor_payload(9, 2, 1, 512, b"\x01\x02")))
    assert piece == P.TensorPiece(9, 2, 1, 512, b"\x01\x02")
    tile = P.decode_message(P.Frame(P.TILE, 6, P.tile_payload(9, 100_001, bytes(77))))
    assert (tile.image, tile.offset, len(tile.data)) == (9, 100_001, 77)
    run = P.decode_message(P.Frame(P.RUN, 8, P.run_payload(9, 0xFEEDF00D, 96)))
    assert run == P.Run(9, 0xFEEDF00D, 96)
    req = P.decode_message(P.Frame(P.RESULT_REQ, 9, P.result_req_payload(9, 64)))
    assert req == P.Run(9, 0, 64)


def test_version_mismatch_is_reported() -> None:
    raw = P.raw_frame(P.HELLO, 0, b"", version=9)
    with pytest.raises(P.ProtocolError, match="protocol v9"):
        P.decode_raw(raw)
    assert P.decode_raw(raw, accept_any_version=True).version == 9
