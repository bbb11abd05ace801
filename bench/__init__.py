"""Benchmarks (`make bench`): measured speed and memory of every stage, written as JSON here."""
