"""Ships the top-level firmware/ and templates/ folders inside the wheel as hardtool/_data/."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

IGNORE = shutil.ignore_patterns("__pycache__", "*.o", "*.so", "build")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        for name in ("firmware", "templates"):
            dst = Path(self.build_lib) / "hardtool" / "_data" / name
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(here / name, dst, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithData})
