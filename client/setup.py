"""Build step: generate the gRPC stubs into ``lethe_client/_gen`` from Lethe's protos at every build.

The protos are read from ``../protos`` (this folder inside the Lethe repository) or ``./protos`` (a
copy, e.g. in an sdist). Imports between generated modules (``from lethe.v1 import x_pb2``) are
rewritten to relative ones so the code lives in ``lethe_client._gen.lethe.v1``. Needs
``grpcio-tools`` at build time only, pinned to the runtime's protobuf generation.
"""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
GEN = HERE / "lethe_client" / "_gen"


def generate() -> None:
    """Run protoc over every ``lethe/v1/*.proto``; raises RuntimeError when none or protoc fails."""
    from grpc_tools import protoc

    root = next((p for p in (HERE / "protos", HERE.parent / "protos") if (p / "lethe" / "v1").is_dir()), None)
    if root is None:
        raise RuntimeError("no protos/lethe/v1 next to or above the client package")
    out = GEN / "lethe" / "v1"
    out.mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    protos = sorted(str(p) for p in (root / "lethe" / "v1").glob("*.proto"))
    if protoc.main(["protoc", f"-I{root}", f"-I{include}", f"--python_out={GEN}",
                    f"--pyi_out={GEN}", f"--grpc_python_out={GEN}", *protos]) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    for path in out.glob("*_pb2*.py*"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"^from lethe\.v1 import", "from . import", text, flags=re.M), encoding="utf-8")
    for package in (GEN, GEN / "lethe", out):
        (package / "__init__.py").touch()


class BuildWithStubs(build_py):
    """``build_py`` that generates the stubs first."""

    def run(self) -> None:  # noqa: D102
        generate()
        super().run()


# The package list names the generated folders: make them before setuptools looks for them.
generate()
setup(cmdclass={"build_py": BuildWithStubs})
