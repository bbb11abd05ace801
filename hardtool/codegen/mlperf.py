"""The MLPerf Tiny benchmarks the DUT firmware can answer as: the name the official runner looks up
(`m-model-[NAME]` against its tests files), how `db` bytes become the input and what
`m-results-[...]` carries, as the reference firmware of each benchmark does (mlcommons/tiny,
benchmark/reference_submissions). A model is recognised by its input and output shapes; the
name can always be set."""

from __future__ import annotations

from dataclasses import dataclass

from hardtool.codegen.model_io import ModelIO
from hardtool.core.errors import HardtoolError

MLPERF_INPUTS = {"raw": 0, "uint8": 1, "float32": 2}
# the DUT's baud in the runner's devices files (devices_ad.yaml: 921600; the others 115200)
RUNNER_BAUD = {"ad01": 921600, "*": 115200}
RESULTS_SCORES = 0  # every output value, dequantised, %0.3f (the classifiers)
RESULTS_MSE = 1  # one anomaly score: mean squared error of the output against the float input (AD)


@dataclass(frozen=True)
class Benchmark:
    name: str
    task: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    db_input: str  # what `db` loads, as the reference firmware reads it
    results: int


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark("kws01", "keyword spotting", (1, 49, 10, 1), (1, 12), "raw", RESULTS_SCORES),
        Benchmark("vww01", "visual wake words", (1, 96, 96, 3), (1, 2), "uint8", RESULTS_SCORES),
        Benchmark("ic01", "image classification", (1, 32, 32, 3), (1, 10), "uint8", RESULTS_SCORES),
        Benchmark("ad01", "anomaly detection", (1, 640), (1, 640), "float32", RESULTS_MSE),
        Benchmark("sww01", "streaming wake word", (1, 30, 1, 40), (1, 3), "raw", RESULTS_SCORES),
    )
}


def known() -> str:
    return ", ".join(BENCHMARKS)


def recognise(io: ModelIO) -> Benchmark | None:
    """The benchmark whose reference model has exactly these int8 input and output shapes."""
    if len(io.inputs) != 1 or len(io.outputs) != 1 or io.inputs[0].dtype != "int8":
        return None
    shapes = (tuple(io.inputs[0].shape), tuple(io.outputs[0].shape))
    return next((b for b in BENCHMARKS.values() if (b.input_shape, b.output_shape) == shapes), None)


def benchmark(io: ModelIO, name: str | None) -> Benchmark:
    """The benchmark named ``name`` (checked against the model), or the one the model is."""
    if name is None:
        found = recognise(io)
        if found is None:
            shapes = f"{[list(t.shape) for t in io.inputs]} -> {[list(t.shape) for t in io.outputs]}"
            raise HardtoolError(
                f"the model ({shapes}) is none of the MLPerf Tiny reference models; name the "
                f"benchmark it stands for with --mlperf-model ({known()})"
            )
        return found
    if name not in BENCHMARKS:
        raise HardtoolError(f"unknown --mlperf-model '{name}'; choose one of {known()}")
    b = BENCHMARKS[name]
    if b.results == RESULTS_MSE and (
        len(io.inputs) != 1 or len(io.outputs) != 1 or io.inputs[0].shape != io.outputs[0].shape
    ):
        raise HardtoolError(
            f"--mlperf-model {name} scores an autoencoder (output shaped like its input); "
            f"this model's output is not; choose another of {known()}"
        )
    return b


def protocol_defines(io: ModelIO, name: str | None, mlperf_input: str | None) -> dict:
    """Build switches of the MLPerf Tiny firmware: the model name the runner looks up, how `db`
    bytes become the input (default: as the benchmark's reference firmware) and what results
    carries."""
    b = benchmark(io, name)
    mode = mlperf_input or b.db_input
    if mode not in MLPERF_INPUTS:
        raise HardtoolError(f"--mlperf-input {mode}: choose one of {', '.join(MLPERF_INPUTS)}")
    if mode != "raw" and (len(io.inputs) != 1 or io.inputs[0].dtype != "int8"):
        raise HardtoolError(f"--mlperf-input {mode} needs one int8 model input; use --mlperf-input raw")
    if b.results == RESULTS_MSE and mode != "float32":
        raise HardtoolError(
            f"--mlperf-model {b.name} scores against the float input: use --mlperf-input float32"
        )
    return {
        "MLPERF_INPUT": MLPERF_INPUTS[mode],
        "MLPERF_MODEL_NAME": f'"{b.name}"',
        "MLPERF_RESULTS": b.results,
    }
