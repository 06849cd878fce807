"""pip install ./python: builds tokenwarehouse._native with the project's CMake, then packages it.

Offline (Debian packages only): pip install --no-build-isolation ./python
"""
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = pathlib.Path(self.build_temp).resolve() / "cmake"
        build.mkdir(parents=True, exist_ok=True)
        subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                               f"-DPython_EXECUTABLE={sys.executable}", "-DTW_BUILD_TESTS=OFF"])
        subprocess.check_call(["ninja", "-C", str(build), "-j2", "_native"])
        built = next((build / "python" / "tokenwarehouse").glob("_native*.so"))
        out = pathlib.Path(self.get_ext_fullpath(ext.name))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(built, out)


setup(
    name="tokenwarehouse",
    version="0.1.0",
    description="Token Warehouse: a persistent, shared, tiered KV-cache warehouse for LLM inference",
    packages=["tokenwarehouse"],
    ext_modules=[Extension("tokenwarehouse._native", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=["numpy"],
)
