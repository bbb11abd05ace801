"""Code generation: IR + memory plan -> C sources for the int8 kernel library."""
