"""The browser tier's lanes: every module in one lane, the lanes balanced by the modules' recorded seconds."""
from __future__ import annotations

from tests.support import tiers


def test_modules_go_heaviest_first_onto_the_lightest_lane(monkeypatch):
    monkeypatch.setattr(tiers, "BROWSER_MODULE_SECONDS", {"test_a.py": 90.0, "test_b.py": 60.0, "test_c.py": 40.0,
                                                          "test_d.py": 30.0})
    monkeypatch.setattr(tiers, "BROWSER_LANES", 2)
    modules = {f"tests/browser/test_{name}.py" for name in "abcd"}
    lanes = tiers.browser_lanes(modules)
    assert set(lanes) == modules and set(lanes.values()) == {0, 1}
    # 90 alone against 60 + 40 would be 100 to 90; heaviest first onto the lightest lane gives 90 + 30 and 60 + 40.
    by_lane = {lane: sorted(module for module, each in lanes.items() if each == lane) for lane in (0, 1)}
    assert sorted(by_lane.values()) == [["tests/browser/test_a.py", "tests/browser/test_d.py"],
                                        ["tests/browser/test_b.py", "tests/browser/test_c.py"]]


def test_an_unrecorded_module_counts_as_the_median_and_the_lanes_are_the_same_on_every_worker(monkeypatch):
    monkeypatch.setattr(tiers, "BROWSER_MODULE_SECONDS", {"test_a.py": 10.0, "test_b.py": 20.0, "test_c.py": 30.0})
    modules = {"tests/browser/test_a.py", "tests/browser/test_new.py", "tests/browser/test_c.py"}
    first = tiers.browser_lanes(modules)
    assert first == tiers.browser_lanes(set(sorted(modules, reverse=True)))  # every xdist worker agrees
    assert set(first) == modules
