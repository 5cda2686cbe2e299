"""The package keeps its layers: no import cycle, no upward import, no module over 300 lines,
no test of a prior's kind outside ncpvae.prior, no runtime code under the config sections
(``python -m ncpvae._layers`` prints the graph)."""

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


def test_the_checker_finds_runtime_imports_under_the_config(monkeypatch):
    # a config section that imported torch (or a runtime module) would load the runtime with it
    real = layers._external_imports
    monkeypatch.setattr(
        layers,
        "_external_imports",
        lambda path: real(path) | ({"torch"} if path.name == "train.py" else set()),
    )
    found = layers.violations()
    assert "runtime import under the config: ncpvae.config.train -> torch" in found
    graph = layers.import_graph()
    graph["ncpvae.config.train"] = graph["ncpvae.config.train"] | {"ncpvae.training.loop"}
    assert "upward import: ncpvae.config.train -> ncpvae.training.loop" in layers.violations(graph)


def test_config_sections_import_only_the_standard_library_and_pydantic():
    sections = [m for m in layers.import_graph() if m.startswith("ncpvae.config")]
    assert len(sections) >= 8
    assert all(layers._rank(m) < layers.CONFIG_LAYERS for m in sections)
