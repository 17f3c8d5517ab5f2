"""rewrite_archive: exact strip matches, consistent metadata, bytecode that is used; zip and tar.gz."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import zipfile
from types import SimpleNamespace

import pytest

from callbacks.zip import Rewritten, bytecode_name, rewrite_archive, strip_from_archive
from callbacks.zip import main as zappa_main

FILES = {
    "handler.py": "x",
    "pandas/__init__.py": "x",
    "pandas/core/frame.py": "x",
    "pandas-3.1.1.dist-info/METADATA": "x",
    "pandas-3.1.1.dist-info/RECORD": (
        "pandas/__init__.py,,\npandas/core/frame.py,,\npandas-3.1.1.dist-info/RECORD,,\n"
    ),
    "geopandas/__init__.py": "x",
    "geopandas-1.0.dist-info/RECORD": "geopandas/__init__.py,,\n",
    "numpy/__init__.py": "x",
    "numpy.libs/libopenblas.so": "x",
    "numpy-2.2.6.dist-info/RECORD": "numpy/__init__.py,,\nnumpy.libs/libopenblas.so,,\n../../bin/f2py,,\n",
    "six.py": "x",
    "six-1.16.dist-info/RECORD": "six.py,,\n",
    "_cffi_backend.cpython-311-x86_64-linux-gnu.so": "x",
    "google/protobuf/__init__.py": "x",
    "google/api/__init__.py": "x",
    "protobuf-5.dist-info/RECORD": "google/protobuf/__init__.py,,\n",
    "flask/__init__.py": "x",
}
PATTERNS = ["pandas", "numpy", "six", "protobuf", "_cffi_backend"]


def make_zip(path, files=FILES):
    with zipfile.ZipFile(path, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)


def make_tar(path, files=FILES):
    with tarfile.open(path, "w:gz") as archive:
        for name, body in files.items():
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


KINDS = pytest.mark.parametrize(
    ("suffix", "make", "names"),
    [
        (".zip", make_zip, lambda p: zipfile.ZipFile(p).namelist()),
        (".tar.gz", make_tar, lambda p: tarfile.open(p).getnames()),
    ],
)


@KINDS
def test_strips_exactly_and_keeps_metadata_consistent(tmp_path, suffix, make, names):
    path = tmp_path / f"package{suffix}"
    make(path)
    removed = strip_from_archive(path, PATTERNS)
    left = set(names(path))
    assert "pandas/__init__.py" not in left and "pandas-3.1.1.dist-info/RECORD" not in left
    assert "geopandas/__init__.py" in left and "geopandas-1.0.dist-info/RECORD" in left  # not a prefix match
    assert "numpy.libs/libopenblas.so" not in left and "numpy-2.2.6.dist-info/RECORD" not in left
    assert "six.py" not in left and "six-1.16.dist-info/RECORD" not in left
    # "protobuf" is no top-level name: nothing of google/ goes, so its metadata stays too
    assert "google/protobuf/__init__.py" in left and "protobuf-5.dist-info/RECORD" in left
    assert {"handler.py", "flask/__init__.py"} <= left
    assert "_cffi_backend.cpython-311-x86_64-linux-gnu.so" not in left
    assert not any(n.endswith(".pyc") for n in left)
    assert removed == sorted(
        [
            "_cffi_backend.cpython-311-x86_64-linux-gnu.so",
            "numpy",
            "numpy-2.2.6.dist-info",
            "numpy.libs",
            "pandas",
            "pandas-3.1.1.dist-info",
            "six-1.16.dist-info",
            "six.py",
        ]
    )
    assert rewrite_archive(path, PATTERNS) == Rewritten([], 0)  # stripping again changes nothing
    assert set(names(path)) == left


def test_other_archives_are_refused(tmp_path):
    path = tmp_path / "package.rar"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a .zip or .tar.gz"):
        rewrite_archive(path, ["pandas"])


MODULES = {
    "handler.py": "from pkg import VALUE\nWHERE = 'handler compiled'\n",
    "pkg/__init__.py": "VALUE = 'compiled'\n",
    "pkg/broken.py": "def (:\n",
    "pkg/notes.txt": "not python",
}


def extract(path, target):
    if path.suffix == ".zip":
        zipfile.ZipFile(path).extractall(target)
    else:
        tarfile.open(path).extractall(target, filter="data")


@KINDS
def test_bytecode_is_added_and_used_without_the_source(tmp_path, suffix, make, names):
    """Each module gets an unchecked hash-based .pyc that Python loads as is (Lambda's /var/task is
    read-only: without one, every cold start compiles from source). Project code keeps its source
    beside it; third-party code ships the bytecode alone; what does not compile stays source."""
    path = tmp_path / f"package{suffix}"
    make(path, MODULES)
    done = rewrite_archive(path, add_bytecode=True, keep_sources=["handler.py"])
    left = set(names(path))
    assert done.compiled == 2 and done.removed == []
    assert {"handler.py", bytecode_name("handler.py"), "pkg/__init__.pyc", "pkg/broken.py"} <= left
    assert "pkg/__init__.py" not in left and not any("broken" in n and n.endswith(".pyc") for n in left)

    unpacked = tmp_path / "unpacked"
    extract(path, unpacked)
    for pyc in (unpacked / bytecode_name("handler.py"), unpacked / "pkg/__init__.pyc"):
        header = pyc.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[4:], "little") == 0b01
    # change the source behind the bytecode's back: an unchecked .pyc is still what gets imported
    (unpacked / "handler.py").write_text("WHERE = 'recompiled from source'\n")
    imported = subprocess.run(
        [
            sys.executable,
            "-I",
            "-B",
            "-c",
            "import sys; sys.path.insert(0, '.'); import handler; print(handler.WHERE, handler.VALUE)",
        ],
        cwd=unpacked,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.split() == ["handler", "compiled", "compiled"]


def test_existing_bytecode_is_kept(tmp_path):
    path = tmp_path / "package.zip"
    make_zip(path, {"a.py": "x = 1\n", bytecode_name("a.py"): "shipped"})
    assert rewrite_archive(path, add_bytecode=True).compiled == 0
    assert zipfile.ZipFile(path).read(bytecode_name("a.py")) == b"shipped"
    assert set(zipfile.ZipFile(path).namelist()) == {"a.py", bytecode_name("a.py")}


@pytest.mark.parametrize(
    ("runtime", "setting", "compiled"),
    [("python{v}", None, 2), ("python{v}", "0", 0), ("python3.9", None, 0)],
)
def test_the_callback_compiles_only_for_its_own_runtime_unless_turned_off(
    tmp_path, monkeypatch, capsys, runtime, setting, compiled
):
    """Zappa calls main(zappa_cli) after building the zip: bytecode from another Python version would be
    ignored by the runtime, and NOOK_PACKAGE_BYTECODE=0 builds the package as Zappa alone does."""
    path = tmp_path / "stage.zip"
    make_zip(path, {"handler.py": "x = 1\n", "flask/__init__.py": "y = 2\n", "pandas/__init__.py": "z"})
    if setting is None:
        monkeypatch.delenv("NOOK_PACKAGE_BYTECODE", raising=False)
    else:
        monkeypatch.setenv("NOOK_PACKAGE_BYTECODE", setting)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    stage = {"runtime": runtime.format(v=here), "strip_packages": ["pandas"]}
    zappa_main(SimpleNamespace(zip_path=str(path), stage_config=stage))
    left = set(zipfile.ZipFile(path).namelist())
    assert "pandas/__init__.py" not in left
    assert (bytecode_name("handler.py") in left) == bool(compiled)
    assert ("flask/__init__.pyc" in left) == bool(compiled)
    assert f"compiled {compiled} modules" in capsys.readouterr().out
