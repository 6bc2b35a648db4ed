"""What a Switchboard page polls, read from the server as the Dash renderer reads it.

The polled widgets are not listed by hand (a widget missing from such a list would silently stop being
polled): every server callback with a dcc.Interval's `n_intervals` among its inputs is polled,
at the period the layout gives that interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator


@dataclass(frozen=True)
class PolledWidget:
    """A server callback that a dcc.Interval triggers, as the page polls it."""

    name: str  # the interval's id without "-interval": the request name in Locust's statistics
    callback: dict  # its entry of /_dash-dependencies
    trigger: str  # "<interval id>.n_intervals"
    seconds: float  # the interval's period, from the layout
    kept: tuple[str, ...]  # what it reads back of what it wrote ("id.prop": its freshness store)


def prop_key(entry: dict) -> str:
    """Return "id.prop" of an input, state or output entry."""
    return f"{entry['id']}.{entry['property']}"


def output_keys(dependency: dict) -> list[str]:
    """Return the "id.prop" of each output of a callback ("..a.b...c.d.." or "a.b")."""
    return [key.split("@")[0] for key in dependency["output"].strip(".").split("...")]


def dependencies_by_output(dependencies: list[dict]) -> dict[str, dict]:
    """Index server-side callbacks by their first output ("id.prop")."""
    return {output_keys(dependency)[0]: dependency for dependency in dependencies
            if not dependency.get("clientside_function")}


def components(node: Any) -> Iterator[dict]:
    """Yield every component of a layout (as /_dash-layout serves it), children and component props too."""
    if isinstance(node, list):
        for item in node:
            yield from components(item)
    elif isinstance(node, dict):
        if "type" in node and "namespace" in node and isinstance(node.get("props"), dict):
            yield node
            for value in node["props"].values():
                yield from components(value)
        else:
            for value in node.values():
                yield from components(value)


def layout_props(layout: Any) -> dict[str, Any]:
    """Return {"id.prop": value} of every prop the layout sets on a component with a string id."""
    return {f"{component['props']['id']}.{prop}": value
            for component in components(layout) if isinstance(component["props"].get("id"), str)
            for prop, value in component["props"].items() if prop not in {"id", "children"}}


def polled_widgets(dependencies: list[dict], layout: Any) -> tuple[PolledWidget, ...]:
    """Return every server callback an enabled dcc.Interval of the layout triggers, in the server's order."""
    intervals = {component["props"]["id"]: component["props"] for component in components(layout)
                 if component["type"] == "Interval" and component["namespace"] == "dash_core_components"
                 and isinstance(component["props"].get("id"), str) and not component["props"].get("disabled")}
    widgets: list[PolledWidget] = []
    for dependency in dependencies_by_output(dependencies).values():
        triggers = [entry["id"] for entry in dependency["inputs"]
                    if entry["id"] in intervals and entry["property"] == "n_intervals"]
        if not triggers:
            continue
        interval = triggers[0]
        name = interval.removesuffix("-interval")
        if any(widget.name == name for widget in widgets):  # two callbacks on one interval: tell them apart
            name = f"{name} {output_keys(dependency)[0]}"
        written = set(output_keys(dependency))
        widgets.append(PolledWidget(
            name=name, callback=dependency, trigger=f"{interval}.n_intervals",
            seconds=intervals[interval].get("interval", 1000) / 1000.0,  # dcc.Interval's default: 1000 ms
            kept=tuple(prop_key(entry) for entry in dependency["state"] if prop_key(entry) in written)))
    return tuple(widgets)
