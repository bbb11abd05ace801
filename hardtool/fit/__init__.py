"""`hardtool fit`: the largest model of a family that meets a board's memory and frame-rate budget."""
