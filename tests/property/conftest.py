"""One proxy over the corpus dataset (D, with the victim's extreme values), cache off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dpproxy.proxy import Proxy
from tests.attacks import dataset
from tests.synthetic import policies


@pytest.fixture(scope="session")
def generated_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    root = tmp_path_factory.mktemp("property")
    data = dataset.write(root / "data", victim=True)
    proxy = Proxy(policies(root / "policies", data, config={"cache": False}))
    yield proxy
    proxy.close()
