"""The corpus's neighbouring datasets D (with the victim) and D' (without), each behind
its own proxy with the result cache off, so every answer draws fresh noise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dpproxy.api import Proxy
from tests.attacks import dataset
from tests.synthetic import policies


@pytest.fixture(scope="session")
def corpus_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("corpus")
    return (
        dataset.write(root / "d", victim=True),
        dataset.write(root / "d_prime", victim=False),
    )


@pytest.fixture(scope="session")
def d_proxy(
    corpus_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("corpus_d")
    proxy = Proxy(policies(directory, corpus_data[0], config={"cache": False}))
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def d_prime_proxy(
    corpus_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("corpus_d_prime")
    proxy = Proxy(policies(directory, corpus_data[1], config={"cache": False}))
    yield proxy
    proxy.close()
