"""Writes the runtime and dev dependencies of pyproject.toml as a pip requirements file.

Our own native wheel (thecloud-native) is left out: the Makefile builds and installs it.
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
sys.stdout.write("".join(f"{r}\n" for r in requirements if not r.startswith("thecloud-native")))
