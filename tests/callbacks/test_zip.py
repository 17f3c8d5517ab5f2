"""strip_from_archive: exact matches, consistent metadata, zip and tar.gz."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from callbacks.zip import strip_from_archive

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


def make_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        for name, body in FILES.items():
            archive.writestr(name, body)


def make_tar(path):
    with tarfile.open(path, "w:gz") as archive:
        for name, body in FILES.items():
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("suffix", "make", "names"),
    [
        (".zip", make_zip, lambda p: zipfile.ZipFile(p).namelist()),
        (".tar.gz", make_tar, lambda p: tarfile.open(p).getnames()),
    ],
)
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


def test_other_archives_are_refused(tmp_path):
    path = tmp_path / "package.rar"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a .zip or .tar.gz"):
        strip_from_archive(path, ["pandas"])
