"""The benchmark is not collected by pytest and not type-checked with the services, so a
refactoring can break it unseen: importing every module at least catches a name that is gone."""

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
