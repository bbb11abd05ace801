"""ONNX → TensorFlow SavedModel (onnx2tf) → full-int8 TFLite (TFLiteConverter).

onnx2tf is the maintained ONNX→TF converter; it keeps dilated convs native and turns stride-2
convs into PAD + VALID conv. Two of its habits need care: it fetches sample images from the
network for its own checks unless a file of them sits in its working directory, and it runs
`onnxsim` as a subprocess. We run it in a temp dir seeded with our own images and with the
interpreter's bin folder on PATH, and we hand it our sample loader, so it never goes online."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hardtool.core import interrupt
from hardtool.core.errors import HardtoolError

SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def one_line(e: BaseException, limit: int = 240) -> str:
    """A converter's exception as one line: its lines that say 'error' (else all), joined."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    errs = [ln for ln in lines if "error" in ln.lower()] or lines
    return f"{type(e).__name__}: {' | '.join(errs)}"[:limit]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnx2tf and TensorFlow print a lot; keep our stdout for our own report."""
    from hardtool.core.quiet import silence_fds

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), silence_fds((1, 2)):
        yield


def _sample_nhwc(images_nchw: np.ndarray, n: int = 20) -> np.ndarray:
    x = np.transpose(images_nchw[:n], (0, 2, 3, 1)).astype(np.float32)
    reps = int(np.ceil(n / len(x)))
    return np.concatenate([x] * reps)[:n]


def _write_saved_model(model, saved: Path) -> None:
    """The SavedModel onnx2tf writes with ``output_signaturedefs`` (one 'serving_default' endpoint
    taking the model's named inputs), written here so that onnx2tf skips the float32 and float16
    TFLite files it would convert next, which we never use (two thirds of its run time)."""
    import tensorflow as tf
    import tf_keras

    archive = tf_keras.export.ExportArchive()
    archive.add_endpoint(
        name="serving_default",
        fn=lambda *inputs: model(inputs),
        input_signature=[tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs],
    )
    archive.write_out(str(saved))


def onnx_to_saved_model(
    onnx_path: Path, out_dir: Path, calib_nchw: np.ndarray, simplified: bool = False
) -> Path:
    """Convert with onnx2tf's Python API to a Keras model, saved as a SavedModel; returns its folder.
    ``simplified``: the ONNX was already simplified (and then edited), so onnx2tf must not run
    onnxsim again (it would fold an explicit finite Pad back into a MaxPool's -inf padding)."""
    import onnx2tf
    import onnx2tf.onnx2tf as o2t_main

    from hardtool.quantize.o2t_layout import layout_fixes

    onnx_path, out_dir = Path(onnx_path).resolve(), Path(out_dir).resolve()  # we chdir below
    sample = _sample_nhwc(calib_nchw)
    bin_dir = str(Path(sys.executable).parent)
    old_cwd, old_path = os.getcwd(), os.environ.get("PATH", "")
    old_loader = o2t_main.download_test_image_data
    saved = Path(out_dir) / "saved_model"
    with tempfile.TemporaryDirectory(prefix="hardtool-onnx2tf-") as tmp:
        # Present only so that no code path inside onnx2tf ever reaches for the network.
        np.save(Path(tmp) / SAMPLE_FILE, np.zeros((20, 128, 128, 3), np.float32))
        try:
            os.chdir(tmp)
            os.environ["PATH"] = bin_dir + os.pathsep + old_path
            o2t_main.download_test_image_data = lambda: sample
            logging.getLogger("onnx2tf").setLevel(logging.ERROR)
            with interrupt.foreign(), _quiet(), layout_fixes():
                model = onnx2tf.convert(
                    input_onnx_file_path=str(onnx_path),
                    output_folder_path=str(saved),
                    output_signaturedefs=True,
                    non_verbose=True,
                    verbosity="error",
                    disable_model_save=True,
                    not_use_onnxsim=simplified,
                )
                _write_saved_model(model, saved)
        except HardtoolError:
            raise
        except SystemExit as e:
            raise HardtoolError(
                f"onnx2tf could not convert {onnx_path.name} (exit {e.code}); "
                "check that the model uses only supported ops"
            ) from None
        except Exception as e:  # noqa: BLE001
            raise HardtoolError(
                f"onnx2tf could not convert {onnx_path.name} ({one_line(e)}); replace the op it names "
                "with standard ONNX ops (opset 17), or export with fixed shapes"
            ) from None
        finally:
            os.chdir(old_cwd)
            os.environ["PATH"] = old_path
            o2t_main.download_test_image_data = old_loader
    if not (saved / "saved_model.pb").is_file():
        raise HardtoolError(f"onnx2tf wrote no SavedModel for {onnx_path.name}")
    return saved


def _saved_model_fn(saved: Path):
    import tensorflow as tf

    fn = tf.saved_model.load(str(saved)).signatures["serving_default"]
    name = next(iter(fn.structured_input_signature[1]))
    return lambda x: next(iter(fn(**{name: tf.constant(x)}).values())).numpy()


def check_saved_model(saved: Path, onnx_path: Path, images_nchw: np.ndarray) -> dict:
    """onnx2tf's float graph against onnxruntime on the same images. Label maps may differ only
    where the two best classes are within float noise of each other; anything else means the
    converter put a tensor in the wrong layout, which onnx2tf can do silently when a channel
    count equals a spatial size. Returns the agreement; raises on a wrong conversion."""
    import onnx
    import onnxruntime as ort

    from hardtool.quantize.onnx_prep import argmax_logits

    m = onnx.load(str(onnx_path))
    logits = argmax_logits(m)
    if logits is None:  # not a label map: compare the outputs themselves
        return _check_outputs(saved, onnx_path, images_nchw)
    m.graph.output.append(onnx.helper.make_empty_tensor_value_info(logits))
    buf = io.BytesIO()
    onnx.save(m, buf)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    run_tf = _saved_model_fn(saved)
    same = total = 0
    worst = 0.0
    for x in images_nchw:
        labels, lg = sess.run([m.graph.output[0].name, logits], {m.graph.input[0].name: x[None]})
        up = _upsample(lg, labels.shape[-2:])
        top = np.sort(up, axis=1)
        margin = (top[:, -1] - top[:, -2]) / max(float(np.abs(up).max()), 1e-6)
        ours = run_tf(np.transpose(x, (1, 2, 0))[None])
        if ours.size != labels.size:
            raise HardtoolError(
                f"onnx2tf converted {Path(onnx_path).name} to a label map of shape {list(ours.shape)} "
                f"where onnxruntime gives {list(labels.shape)}; change the layer shapes (a channel "
                "count equal to a width or height) or the input size"
            )
        ours = ours.reshape(labels.shape)
        differ = ours != labels
        same += int((~differ).sum())
        total += labels.size
        worst = max(worst, float(margin[differ].max()) if differ.any() else 0.0)
    if worst > 1e-3:
        raise HardtoolError(
            f"onnx2tf converted {Path(onnx_path).name} wrongly: {100 * (1 - same / total):.2f}% of labels "
            f"differ from onnxruntime, where the best class leads by up to {100 * worst:.1f}% of the "
            "logit range; change the layer shapes (a channel count equal to a width) or the model"
        )
    return {"label_agreement": same / max(total, 1), "worst_margin": worst, "images": len(images_nchw)}


def _as_reference_layout(ours: np.ndarray, shape: tuple, onnx_path: Path) -> np.ndarray:
    """The converted output in the ONNX model's layout: onnx2tf ends most graphs in NHWC, but some
    (a final reshape or shuffle) with a TRANSPOSE back to NCHW, which then needs none."""
    if ours.ndim == 4 and tuple(ours.shape) != tuple(shape):
        ours = np.transpose(ours, (0, 3, 1, 2))
    if tuple(ours.shape) != tuple(shape):
        raise HardtoolError(
            f"onnx2tf converted {Path(onnx_path).name} to an output of shape {list(ours.shape)} where "
            f"onnxruntime gives {list(shape)}; change the model's last layers (a reshape or transpose "
            "before the output) or add the label-map tail (--tail argmax)"
        )
    return ours


def _check_outputs(saved: Path, onnx_path: Path, images_nchw: np.ndarray) -> dict:
    """For a graph without the label-map tail: its NHWC output against onnxruntime's NCHW one."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    run_tf = _saved_model_fn(saved)
    worst = 0.0
    for x in images_nchw:
        ref = sess.run(None, {sess.get_inputs()[0].name: x[None]})[0]
        ours = _as_reference_layout(run_tf(np.transpose(x, (1, 2, 0))[None]), ref.shape, onnx_path)
        worst = max(worst, float(np.abs(ours - ref).max()) / max(float(np.abs(ref).max()), 1e-6))
    if worst > 1e-3:
        raise HardtoolError(
            f"onnx2tf converted {Path(onnx_path).name} wrongly: its output differs from onnxruntime "
            f"by {100 * worst:.1f}% of the output range; change the layer shapes (a channel count equal "
            "to a width or height) or the model"
        )
    return {"max_relative_diff": worst, "images": len(images_nchw)}


def _upsample(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The export tail's bilinear resize (half-pixel centres), for the class margins."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(logits))
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False).numpy()


def saved_model_to_int8(saved: Path, calib_nchw: np.ndarray, progress=None, float_io: bool = False) -> bytes:
    """Full integer quantisation: int8 input and output (float32 ones with ``float_io``), per-channel
    int8 weights, int32 bias, int8 builtins only. Integer outputs (a label map) stay integer."""
    import tensorflow as tf

    calib = np.transpose(calib_nchw, (0, 2, 3, 1)).astype(np.float32)

    def representative() -> Iterator[list[np.ndarray]]:
        for x in calib:
            interrupt.check()  # the converter swallows what this generator raises; see foreign() below
            if progress is not None:
                progress()
            yield [x[None]]

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.float32 if float_io else tf.int8
    conv.inference_output_type = tf.float32 if float_io else tf.int8
    try:
        with interrupt.foreign(), _quiet():
            return conv.convert()
    except Exception as e:  # noqa: BLE001
        raise HardtoolError(
            f"TFLite int8 conversion failed ({one_line(e)}); replace the ops it names with TFLite int8 "
            "builtins (a custom or float-only op has no int8 kernel)"
        ) from None


def saved_model_to_float32(saved: Path) -> bytes:
    """The float reference of the same graph: float32 builtins, no quantisation."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        with _quiet():
            return conv.convert()
    except Exception as e:  # noqa: BLE001
        raise HardtoolError(f"TFLite float32 conversion failed ({one_line(e)})") from None


DTYPES = ("int8", "float32")


def onnx_to_tflites(
    onnx_path: Path,
    work: Path,
    calib_nchw: np.ndarray,
    metadata: dict,
    progress=None,
    dtypes: tuple[str, ...] = ("int8",),
    float_io: bool = False,
    simplified: bool = False,
) -> tuple[dict[str, bytes], int, dict[str, float]]:
    """The whole ONNX → deployable TFLite path, to each of ``dtypes`` ("int8": full int8, calibrated;
    "float32": the same graph unquantised) from one SavedModel (checked against onnxruntime), each
    canonicalised and given our metadata. Returns ({dtype: flatbuffer}, ops rewritten by
    canonicalisation of the first dtype, seconds per step)."""
    import shutil
    import time

    from hardtool.core.graph.metadata import add_metadata
    from hardtool.quantize.canonical import canonicalize

    bad = [d for d in dtypes if d not in DTYPES]
    if bad or not dtypes:
        raise HardtoolError(
            f"TFLite dtypes must be among {', '.join(DTYPES)}, not {', '.join(bad) or 'none'}"
        )
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    saved = onnx_to_saved_model(onnx_path, Path(work) / "tf", calib_nchw, simplified)
    with _quiet():
        check_saved_model(saved, onnx_path, calib_nchw[:2])
    steps["onnx2tf"] = round(time.perf_counter() - t0, 3)
    out: dict[str, bytes] = {}
    rewritten = []
    for dt in dtypes:
        t1 = time.perf_counter()
        flat = (
            saved_model_to_int8(saved, calib_nchw, progress, float_io)
            if dt == "int8"
            else saved_model_to_float32(saved)
        )
        steps[f"tflite_{dt}"] = round(time.perf_counter() - t1, 3)
        flat, n = canonicalize(flat)
        rewritten.append(n)
        out[dt] = add_metadata(flat, metadata)
    shutil.rmtree(Path(work) / "tf", ignore_errors=True)
    return out, rewritten[0], steps


def onnx_to_tflite(
    onnx_path: Path, work: Path, calib_nchw: np.ndarray, metadata: dict, progress=None, int8: bool = True
) -> tuple[bytes, int, dict[str, float]]:
    """`onnx_to_tflites` to one dtype: full int8 (or float32)."""
    dt = "int8" if int8 else "float32"
    flats, rewritten, steps = onnx_to_tflites(onnx_path, work, calib_nchw, metadata, progress, (dt,))
    return flats[dt], rewritten, steps


def onnx_to_int8(
    onnx_path: Path, work: Path, calib_nchw: np.ndarray, metadata: dict, progress=None
) -> tuple[bytes, int, dict[str, float]]:
    """`onnx_to_tflite` to full int8: the path every deployed model takes."""
    return onnx_to_tflite(onnx_path, work, calib_nchw, metadata, progress, int8=True)
