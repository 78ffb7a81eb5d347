"""The benchmark is not collected by pytest, so a refactoring can break it unseen: mypy checks
its calls (tests/test_code_quality.py) and this test that every module still imports."""

import importlib
import pkgutil

import pytest

import tests.benchmarks

MODULES = sorted(
    info.name for info in pkgutil.iter_modules(tests.benchmarks.__path__, "tests.benchmarks.")
)


def test_the_benchmark_has_modules() -> None:
    assert "tests.benchmarks.bench_kafka_leg" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_every_benchmark_module_imports(module: str) -> None:
    importlib.import_module(module)
