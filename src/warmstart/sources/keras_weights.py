"""Keras 3 ``.weights.h5`` (``model.save_weights``; also the weights inside a ``.keras``).

The layout (Keras' ``saving_lib``): ``layers/<key>/vars/<i>`` datasets, where ``<key>`` is the
layer's class in snake case plus a counter within its list (``dense``, ``dense_1``), given in
traversal order: positional, **not** the layer's name. The name is the ``name`` attribute of
each ``vars`` group. Nested models and layers recurse (``layers/sequential/layers/dense``;
attribute children such as ``layers/multi_head_attention/query_dense``); ``vars`` at the root
holds the model's own variables; ``optimizer/vars/<i>`` the optimizer's.

Naming, so that a name means the same as in a TF checkpoint of the same model:

* A layer is found in the live model by its path of names and its class, never by its key:
  its variables then take the live variables' names (``tower/t0/kernel``).
* A layer the model does not have under that path (renamed, removed) keeps the file's layer
  path, and its variables take their own names from a live layer of the same class with as
  many variables (``head/kernel``), so a ``rename`` rule can still reach it.
* Without a model (``warmstart inspect``), or where no layer of the class says, a variable is
  named by its layer path and position (``d1/0``); a note says so.

Optimizer variables become slots of the variables they belong to when the live optimizer's
layout is known and the order can be solved (:mod:`.keras_slots`); otherwise they are
``other`` entries, and a note says why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..entries import EntryKind, NameSource, Shape, SourceEntry
from ..layout import KerasLayout, LayerInfo, class_key_base
from .keras_slots import SolveNode, attribute_slots, interchangeable

__all__ = ["ConfigLayer", "FileLayer", "v3_entries"]

_COUNTER = re.compile(r"_(\d+)$")
_NOT_LAYERS = frozenset({"optimizer", "metrics", "vars"})


@dataclass(frozen=True, slots=True)
class ConfigLayer:
    """What a ``.keras`` archive's ``config.json`` says of one layer."""

    class_name: str
    trainable: bool
    children: tuple[str, ...] = ()  # sub-layer names in the model's order


@dataclass(eq=False)
class FileLayer:
    """A layer group of the file."""

    group: str  # "" for the root
    key: str
    name: str
    named: bool  # the file stores the name (tf_keras' .weights.h5 does not)
    listed: bool  # a list item: ``key`` is a class key
    path: tuple[str, ...]
    datasets: list[tuple[str, Shape, str]] = field(default_factory=list)  # (h5 path, shape, dtype)
    children: list[FileLayer] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "/".join(self.path) or "the model"


def v3_entries(h5: Any, *, layout: KerasLayout | None, config: Mapping[tuple[str, ...], ConfigLayer] | None = None,
               what: str = "the file") -> tuple[list[SourceEntry], list[str]]:
    """Entries and notes for an open Keras 3 weights file."""
    if "layers" not in h5 and "vars" not in h5:
        from ..errors import CheckpointReadError

        raise CheckpointReadError(
            f"{what} is an HDF5 file but not Keras weights: it has no 'layers' or 'vars' group "
            f"(top level: {', '.join(list(h5.keys())[:6]) or 'empty'})."
        )
    root = _parse(h5, "", "", _attr_name(h5, "vars") or "", named=True, listed=False, path=())
    entries: list[SourceEntry] = []
    notes: list[str] = []
    names: dict[int, list[str]] = {}
    for layer in _walk(root):
        layer_names, note = _name_layer(layer, layout, config)
        names[id(layer)] = layer_names
        if note:
            notes.append(note)
        for (key, shape, dtype), name in zip(layer.datasets, layer_names, strict=True):
            source = NameSource.STRUCTURE if _positional(name, layer) else NameSource.FULL_NAME
            entries.append(SourceEntry(name, key, shape, dtype, EntryKind.VARIABLE, (), "", source))
    if layout is None:
        notes.insert(0, f"{what} stores no variable names: variables are named by layer and position "
                        f"(d1/0); warm-start a model (or warmstart plan --model) to name them as it does")
    for group in (g for g in h5 if g not in ("layers", "vars", "optimizer") and not _is_layer_group(h5[g])):
        for key, shape, dtype in _datasets_under(h5[group], group):
            entries.append(SourceEntry(key, key, shape, dtype, EntryKind.OTHER, (), "", NameSource.STRUCTURE))
    if "optimizer" in h5:
        opt, note = _optimizer_entries(h5["optimizer"], root, names, layout, config)
        entries += opt
        if note:
            notes.append(note)
    return entries, notes


def _attr_name(group: Any, sub: str) -> str | None:
    try:
        value = group[sub].attrs.get("name") if sub in group else None
    except (KeyError, OSError):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _is_layer_group(g: Any) -> bool:
    return hasattr(g, "keys") and "vars" in g


def _parse(h5: Any, group: str, key: str, name: str, *, named: bool, listed: bool, path: tuple[str, ...]) -> FileLayer:
    g = h5[group] if group else h5
    layer = FileLayer(group, key, name, named, listed, path)
    if "vars" in g:
        layer.datasets = _vars(g["vars"], f"{group}/vars" if group else "vars")
    for sub in g:
        if sub == "vars" or (not group and sub in _NOT_LAYERS):
            continue
        child = g[sub]
        if not hasattr(child, "keys"):
            continue
        sub_path = f"{group}/{sub}" if group else sub
        if "vars" in child:  # an attribute child (a sub-layer held as an attribute)
            layer.children.append(_child(h5, sub_path, sub, child, listed=False, path=path))
        else:  # a list of layers: each item keyed by class
            for item in child:
                if hasattr(child[item], "keys") and "vars" in child[item]:
                    layer.children.append(_child(h5, f"{sub_path}/{item}", item, child[item], listed=True, path=path))
    return layer


def _child(h5: Any, group: str, key: str, g: Any, *, listed: bool, path: tuple[str, ...]) -> FileLayer:
    stored = _attr_name(g, "vars")
    name = stored if stored is not None else key
    return _parse(h5, group, key, name, named=stored is not None, listed=listed, path=(*path, name))


def _vars(g: Any, prefix: str) -> list[tuple[str, Shape, str]]:
    out = []
    for k in sorted((k for k in g if k.isdigit()), key=int):  # h5py lists '10' before '2'
        ds = g[k]
        out.append((f"{prefix}/{k}", tuple(int(d) for d in ds.shape), _dtype_name(ds)))
    return out


def _datasets_under(g: Any, prefix: str) -> list[tuple[str, Shape, str]]:
    out: list[tuple[str, Shape, str]] = []

    def visit(name: str, obj: Any) -> None:
        if hasattr(obj, "shape") and hasattr(obj, "dtype"):
            out.append((f"{prefix}/{name}", tuple(int(d) for d in obj.shape), _dtype_name(obj)))

    g.visititems(visit)
    return out


def _dtype_name(ds: Any) -> str:
    """The dtype Keras stored (bfloat16 is an opaque 2-byte type tagged by an attribute)."""
    tag = ds.attrs.get("dtype") if hasattr(ds, "attrs") else None
    if isinstance(tag, bytes):
        tag = tag.decode()
    if tag == "bfloat16":
        return "bfloat16"
    kind = ds.dtype
    if kind.kind == "b":
        return "bool"
    if kind.kind == "O" or kind.kind in "SU":
        return "string"
    return str(kind.name)


def _walk(layer: FileLayer) -> list[FileLayer]:
    out, stack = [], [layer]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def _positional(name: str, layer: FileLayer) -> bool:
    return name.rsplit("/", 1)[-1].isdigit()


def _class_ok(layer: FileLayer, info: LayerInfo, config: Mapping[tuple[str, ...], ConfigLayer] | None) -> bool:
    """Can ``layer`` of the file be ``info``'s class? Unknown (an attribute key, no config) is yes."""
    known = config.get(layer.path) if config is not None else None
    if known is not None:
        return known.class_name == info.class_name
    if layer.listed:
        return class_key_base(layer.key, info.class_name)
    return True


def _name_layer(layer: FileLayer, layout: KerasLayout | None,
                config: Mapping[tuple[str, ...], ConfigLayer] | None) -> tuple[list[str], str]:
    """Names of ``layer``'s variables, and a note when they are not the live layer's own."""
    n = len(layer.datasets)
    prefix = "/".join(layer.path)
    positional = [f"{prefix}/{i}" if prefix else f"vars/{i}" for i in range(n)]
    if layout is None or n == 0:
        return positional, ""
    live = layout.layer(layer.path) if layer.named or not layer.path else None
    if live is not None and _class_ok(layer, live, config) and len(live.variables) == n and all(live.variables):
        return list(live.variables), ""
    same_class = [i for i in layout.layers if _class_ok(layer, i, config) and len(i.local_names) == n
                  and all(i.local_names)]
    if live is not None and live in same_class:
        same_class = [live]
    locals_ = {i.local_names for i in same_class}
    where = f"layer {layer.label!r} ({layer.group} in the file)"
    if len(locals_) == 1 and (config is not None and layer.path in config or layer.listed or live is not None):
        local = next(iter(locals_))
        names = [f"{prefix}/{v}" if prefix else v for v in local]
        if live is None:
            return names, (f"{where} is not in the model: its variables keep the file's layer name "
                           f"({', '.join(names[:3])}); a rename rule can load them")
        return names, f"{where} differs from the model's layer of that name: named by its class"
    if live is None and not layer.named:
        return positional, f"{where} has no name in the file (tf_keras): its variables are named by position"
    return positional, (f"{where}: no layer of its class in the model says what its {n} variables "
                        f"are called; they are named by position")


# -- optimizer ---------------------------------------------------------------------------


def _optimizer_entries(g: Any, root: FileLayer, names: Mapping[int, list[str]], layout: KerasLayout | None,
                       config: Mapping[tuple[str, ...], ConfigLayer] | None) -> tuple[list[SourceEntry], str]:
    # 'optimizer/vars' is the optimizer's whole variables list (a LossScaleOptimizer's includes
    # its inner optimizer's, which is saved again under 'inner_optimizer': other entries)
    datasets = _vars(g["vars"], "optimizer/vars") if "vars" in g else []
    copies = [d for d in _datasets_under(g, "optimizer") if not d[0].startswith("optimizer/vars/")]
    slots = None
    note = ""
    if layout is not None and layout.optimizer is not None and datasets:
        tree = _solve_tree(root, names, layout, config)
        solved = attribute_slots([s for _, s, _ in datasets], layout.optimizer, tree)
        if isinstance(solved, str):
            note = f"the file's optimizer variables are not attributed to variables: {solved}"
        else:
            slots = solved
            groups = interchangeable(solved, [s for _, s, _ in datasets])
            if groups:
                listed = "; ".join(", ".join(g[:4]) + (f" (+{len(g) - 4})" if len(g) > 4 else "") for g in groups[:3])
                more = f"; {len(groups) - 3} more groups" if len(groups) > 3 else ""
                note = ("the file does not record which variable each optimizer slot belongs to: slots were "
                        "attributed in the order Keras builds an optimizer over model.trainable_variables "
                        "(fit, compile; Keras' own loader assumes it too). An optimizer built over another "
                        f"order would have its slots exchanged among variables of equal shapes: {listed}{more}")
    entries = []
    for i, (key, shape, dtype) in enumerate(datasets):
        if slots is not None and slots[i].owner is not None:
            entries.append(SourceEntry(key, key, shape, dtype, EntryKind.SLOT, (), "", NameSource.STRUCTURE,
                                       slots[i].owner, slots[i].name))
            continue
        hyper = slots[i].name if slots is not None else _guess_hyper(i, shape, dtype)
        # named as TF checkpoints name them, so that the step and what goes with it are found
        name = "optimizer/" + {"iterations": "_iterations", "learning_rate": "_learning_rate"}.get(hyper, hyper) \
            if hyper else key
        entries.append(SourceEntry(name, key, shape, dtype, EntryKind.OTHER, (), "", NameSource.STRUCTURE))
    entries += [SourceEntry(key, key, shape, dtype, EntryKind.OTHER, (), "", NameSource.STRUCTURE)
                for key, shape, dtype in copies]
    return entries, note


def _guess_hyper(i: int, shape: Shape, dtype: str) -> str:
    """Without the optimizer's layout: Keras optimizers save the step first, then the rate."""
    if i == 0 and shape == () and dtype.startswith("int"):
        return "iterations"
    if i == 1 and shape == () and dtype.startswith("float"):
        return "learning_rate"
    return ""


def _solve_tree(root: FileLayer, names: Mapping[int, list[str]], layout: KerasLayout,
                config: Mapping[tuple[str, ...], ConfigLayer] | None, frozen: bool = False) -> SolveNode:
    """The file's layers as the slot solver sees them: trained-variable counts and orders."""
    known = config.get(root.path) if config is not None else None
    frozen = frozen or (known is not None and not known.trainable)
    own = tuple((name, shape) for name, (_, shape, _) in zip(names[id(root)], root.datasets, strict=True))
    node = SolveNode(own, _options(root, layout, config, known, frozen))
    node.chains = [[_solve_tree(c, names, layout, config, frozen) for c in chain]
                   for chain in _chains(root, layout, config, known)]
    return node


def _options(layer: FileLayer, layout: KerasLayout, config: Mapping[tuple[str, ...], ConfigLayer] | None,
             known: ConfigLayer | None, frozen: bool) -> tuple[int, ...]:
    n = len(layer.datasets)
    if n == 0 or frozen:
        return (0,)
    live = layout.layer(layer.path)
    if live is not None and _class_ok(layer, live, config) and len(live.variables) == n:
        counts = {live.trainable}
    else:
        counts = {i.trainable for i in layout.layers if _class_ok(layer, i, config) and len(i.variables) == n
                  and (layer.listed or known is not None)} or {n}
    return tuple(sorted(counts)) if known is not None else tuple(sorted(counts | {0}))


def _chains(layer: FileLayer, layout: KerasLayout, config: Mapping[tuple[str, ...], ConfigLayer] | None,
            known: ConfigLayer | None) -> list[list[FileLayer]]:
    """The orders the sub-layers may have been trained in: one known order (config, or the
    live layer of the same path with the same sub-layers), else one chain per class."""
    children = [c for c in layer.children if _holds(c)]  # the others take no part in the order
    by_name = {c.name: c for c in children}
    if len(by_name) == len(children):
        # the config's order is the saved model's own; a live layer's (not a model's: a
        # model's order is the user's and may have changed) where it has exactly these
        # sub-layers with variables, since its class fixes their order (attention's query,
        # key, value, output)
        config_order = known.children if known is not None else ()
        if config_order and set(config_order) >= set(by_name):
            return [[by_name[n] for n in config_order if n in by_name]]
        live = layout.layer(layer.path)
        if live is not None and not live.model and _class_ok(layer, live, config):
            live_order = [n for n in live.children if _live_holds(layout, (*layer.path, n))]
            if set(live_order) == set(by_name) and len(live_order) == len(by_name):
                return [[by_name[n] for n in live_order]]
    chains: dict[str, list[tuple[int, FileLayer]]] = {}
    for c in children:
        m = _COUNTER.search(c.key) if c.listed else None
        base = (c.key[: m.start()] if m else c.key) if c.listed else f"attr:{c.key}"
        chains.setdefault(base, []).append((int(m.group(1)) if m else 0, c))
    return [[c for _, c in sorted(chain, key=lambda x: x[0])] for chain in chains.values()]


def _holds(layer: FileLayer) -> bool:
    return bool(layer.datasets) or any(_holds(c) for c in layer.children)


def _live_holds(layout: KerasLayout, path: tuple[str, ...]) -> bool:
    return any(i.variables and i.path[: len(path)] == path for i in layout.layers)


