"""Device side, host half: toolchain discovery, firmware build, flashers, the emulated board."""
