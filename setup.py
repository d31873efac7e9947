"""Build step: generate the gRPC code (``shared/gen``) from ``protos/`` whenever the project is built.

``shared/gen`` is not in git, so a wheel built from a clean clone would lack it. Every build
(``pip wheel .``, ``pip install .``, ``pip install -e .``) runs the ``build_grpc`` command first; ``make
proto`` runs the same command (``python setup.py -q build_grpc``), so there is one generator.
It needs ``grpcio-tools`` at build time only (``[build-system] requires`` in pyproject.toml, pinned
with the same version as in constraints.txt, so the generated code matches the runtime protobuf).
Everything else about the project is declared in pyproject.toml.
"""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import Command, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "protos"
GEN_ROOT = ROOT / "shared" / "gen"
GEN_PACKAGES = ["shared.gen", "shared.gen.lethe", "shared.gen.lethe.v1"]


def generate_grpc_code() -> list[Path]:
    """Run protoc over ``protos/lethe/v1/*.proto`` into ``shared/gen``; return the generated files.

    The generated modules import each other as ``from lethe.v1 import x_pb2``; that line is rewritten
    to a relative import so the code lives in the package ``shared.gen.lethe.v1``.
    Raises RuntimeError when protoc fails or there is no proto file.
    """
    from grpc_tools import protoc  # build-time dependency only

    protos = sorted(str(p) for p in (PROTO_ROOT / "lethe" / "v1").glob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto file under {PROTO_ROOT}")
    out = GEN_ROOT / "lethe" / "v1"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*_pb2*"):
        stale.unlink()
    include = str(Path(protoc.__file__).parent / "_proto")
    args = ["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={GEN_ROOT}",
            f"--pyi_out={GEN_ROOT}", f"--grpc_python_out={GEN_ROOT}", *protos]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    generated = sorted(out.glob("*_pb2*.py*"))
    for path in generated:
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"^from lethe\.v1 import", "from . import", text, flags=re.M), encoding="utf-8")
    for package in (GEN_ROOT, GEN_ROOT / "lethe", out):
        (package / "__init__.py").touch()
    return generated


class BuildGrpc(Command):
    """``setup.py build_grpc``: generate ``shared/gen`` from ``protos/``."""

    description = "generate the gRPC code (shared/gen) from protos/"
    user_options: list = []

    def initialize_options(self) -> None:
        """No options."""

    def finalize_options(self) -> None:
        """No options."""

    def run(self) -> None:
        """Generate the code."""
        generate_grpc_code()


class BuildPyWithGrpc(build_py):
    """``build_py`` that generates ``shared/gen`` first and always packages it."""

    def run(self) -> None:
        """Generate, add the generated packages (absent when the package list was made), build."""
        self.run_command("build_grpc")
        for name in GEN_PACKAGES:
            if name not in self.packages:
                self.packages.append(name)
        super().run()


setup(cmdclass={"build_grpc": BuildGrpc, "build_py": BuildPyWithGrpc})
