"""Every template and static file travels with the package the image installs (found by the
compose test: the statement drafts' templates were left out of the wheel, and drafting a
statement answered 500 in the compose stack while it worked from the sources)."""

import fnmatch
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_template_and_static_file_is_package_data() -> None:
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = settings["tool"]["setuptools"]["package-data"]
    left_out = []
    for folder in ("shared", "services"):
        for path in (REPO / folder).rglob("*"):
            if not path.is_file() or path.parent.name not in ("templates", "static"):
                continue
            package = ".".join(path.parent.parent.relative_to(REPO).parts)
            inside = path.relative_to(path.parent.parent).as_posix()
            globs = [*patterns.get("*", []), *patterns.get(package, [])]
            if not any(fnmatch.fnmatch(inside, glob) for glob in globs):
                left_out.append(str(path.relative_to(REPO)))
    assert left_out == []
