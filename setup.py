"""Builds the native extensions of the `thecloud` distribution (metadata is in pyproject.toml).

Cython modules sit next to the Python module they speed up; C headers they include sit beside
them. C libraries bound with cffi live under native/ and are compiled into their cffi module.
Every extension is required: a failed build fails the install (no silent slow fallback).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

METRICS = "dataplane/thecloud/dataplane/metrics"

extensions = [
    Extension(
        "thecloud.dataplane.metrics._hot",
        [f"{METRICS}/_hot.pyx"],
        include_dirs=[METRICS],
        extra_compile_args=["-O3", "-fno-strict-aliasing"],
    ),
    # The BPF rule compiler packs the structs of native/bpf/fw_maps.h, included from there.
    Extension(
        "thecloud.dataplane.bpf._compile",
        ["dataplane/thecloud/dataplane/bpf/_compile.pyx"],
        include_dirs=["native/bpf"],
        extra_compile_args=["-O2"],
    ),
]

setup(
    # thecloud_ec (native/ec) through cffi: thecloud.dataplane.ec._ec_cffi.
    # bpf_sys (native/bpf/sys), the raw bpf(2) helper: thecloud.dataplane.bpf._bpf_cffi.
    cffi_modules=["native/ec/cffi_build.py:ffibuilder", "native/bpf/sys/cffi_build.py:ffibuilder"],
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3", "freethreading_compatible": False},
        quiet=True,
    ),
)
