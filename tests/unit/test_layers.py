"""The package keeps its layers: no import cycle, no upward import, no module over 300 lines,
no test of a prior's kind outside ncpvae.prior (``python -m ncpvae._layers`` prints the graph)."""

from __future__ import annotations

import ncpvae._layers as layers


def test_the_package_keeps_its_layers():
    assert layers.violations() == []


def test_the_checker_finds_cycles_and_upward_imports():
    graph = layers.import_graph()
    graph["ncpvae.prior.base"] = graph["ncpvae.prior.base"] | {"ncpvae.samplers.sir"}
    found = layers.violations(graph)
    assert any(
        v.startswith("upward import: ncpvae.prior.base -> ncpvae.samplers.sir") for v in found
    )
    assert any(v.startswith("cycle:") and "ncpvae.samplers.sir" in v for v in found)
