"""Turn a TF2 ``TrackableObjectGraph`` into named entries.

Pure Python over the parsed proto (duck-typed: ``nodes[i].children``, ``.attributes``,
``.slot_variables``); the caller reads the proto. Key strings are never parsed: each
variable node is found once, with every structural path that leads to it.

Naming, so that checkpoint names read like the target's (``tower/t0/kernel``):

* Keras checkpoints name a variable by its ``full_name`` without the model's own name,
  when that name can be trusted: it is unique, and it is not shallower than the node's
  place in the graph. Lazily built subclassed models break both (every kernel is
  ``rec/kernel``); sharded variables are all ``ShardedVariable``. Those get a structural
  name instead (``tower/1/kernel``: containers dropped, underscores stripped).
* Other checkpoints (``tf.Module``, dicts of variables) name a variable by its attribute
  path (``sub/v``, ``lst/0``), which is what the target side uses too.
* Optimizer state is classified, never offered as a model variable: Keras 3 slot lists
  paired by index with ``_trainable_variables``, tf_keras ``Adam/m/<name>`` slots, legacy
  ``slot_variables``; everything else under an optimizer is ``other``.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

from ..entries import EntryKind, NameSource, SourceEntry
from ..errors import RuleError
from ..names import MAX_PATHS, NOT_SLOT_LISTS, OPTIMIZER_EDGES, slot_name, strip_prefix, structural_name

__all__ = ["GraphEntries", "entries_from_graph"]

VALUE = "VARIABLE_VALUE"
_OPTIMIZER_MARKERS = frozenset({"_iterations", "iter", "_index_dict"})
_TF_KERAS_LAYER = re.compile(r"layer(_with_weights)?-\d+")


@dataclass(frozen=True, slots=True)
class GraphEntries:
    entries: tuple[SourceEntry, ...]
    model_path: str  # where the model sits under the root ("" = the root itself)
    keras: bool  # named by full_name (True) or by attribute path
    models: tuple[str, ...] = ()  # the root's public children that hold variables, when several do


def entries_from_graph(
    graph,
    shapes: Mapping[str, tuple[int, ...]],
    dtypes: Mapping[str, str],
    *,
    root_is_model: bool = False,
    source_root: str | None = None,
) -> GraphEntries:
    """Named entries of ``graph``. ``source_root``: the '/'-separated path of the sub-object
    that is the model (``"generator"`` in ``Checkpoint(generator=g, discriminator=d)``); the
    variables outside it are ``other``. Raises ``RuleError`` when the path is not there."""
    nodes = graph.nodes
    value_key: dict[int, tuple[str, str]] = {}
    other_keys: list[tuple[int, str, str]] = []
    for i, node in enumerate(nodes):
        for a in node.attributes:
            if a.name == VALUE:
                value_key[i] = (a.checkpoint_key, a.full_name)
            else:
                other_keys.append((i, a.checkpoint_key, a.full_name))

    optimizers = _optimizer_nodes(nodes)
    holders = _holders(nodes, value_key, optimizers)
    if source_root is not None:
        model, model_path = _node_at(nodes, source_root, holders), source_root.strip("/")
    else:
        model, model_path = _model_node(nodes, holders, root_is_model)
    model_paths = _paths(nodes, model, blocked=optimizers)
    root_paths = _paths(nodes, 0, blocked=frozenset())
    free_paths = _paths(nodes, 0, blocked=optimizers)

    model_vars = sorted(i for i in value_key if i in model_paths and i not in optimizers)
    keras = any(
        seg.startswith("_") or _TF_KERAS_LAYER.fullmatch(seg)
        for i in model_vars
        for p in model_paths[i]
        for seg in p.split("/")
    )
    names = _names(nodes, model, model_vars, value_key, model_paths, keras)

    slots = _slots(nodes, optimizers, value_key, set(model_vars), shapes)
    entries: list[SourceEntry] = []
    for i in sorted(value_key):
        key, full_name = value_key[i]
        shape, dtype = tuple(shapes.get(key, ())), dtypes.get(key, "")
        if i in names:
            name, how = names[i]
            entries.append(
                SourceEntry(name, key, shape, dtype, EntryKind.VARIABLE, tuple(model_paths[i]), full_name, how)
            )
            continue
        shortest = root_paths[i][0] if i in root_paths else key
        if i in slots:
            owner, slot = slots[i]
            if i not in root_paths:  # legacy slots hang off their variable, not the graph
                shortest = f"optimizer/slots/{names[owner][0]}/{slot}"
            entries.append(
                SourceEntry(shortest, key, shape, dtype, EntryKind.SLOT, (), full_name,
                            NameSource.STRUCTURE, names[owner][0], slot)
            )
            continue
        # Outside the model (a Checkpoint kwarg such as step=tf.Variable(0)): a variable
        # named by its path from the root; optimizer state and save_counter are 'other'.
        free = i in free_paths and shortest != "save_counter" and source_root is None
        kind = EntryKind.VARIABLE if free else EntryKind.OTHER
        entries.append(
            SourceEntry(shortest, key, shape, dtype, kind, tuple(root_paths.get(i, ())), full_name,
                        NameSource.STRUCTURE)
        )
    for i, key, full_name in other_keys:
        shortest = root_paths[i][0] if i in root_paths else key
        entries.append(SourceEntry(f"{shortest}:{key.rsplit('/', 1)[-1]}", key,
                                   tuple(shapes.get(key, ())), dtypes.get(key, ""), EntryKind.OTHER, (), full_name,
                                   NameSource.STRUCTURE))
    # several models side by side (Checkpoint(generator=g, discriminator=d)); a SavedModel's
    # root is the model, whose children (an export's variable lists) are not models
    models = tuple(c.local_name for c in holders) if len(holders) > 1 and not root_is_model else ()
    return GraphEntries(tuple(entries), model_path, keras, models)


def _optimizer_nodes(nodes) -> frozenset[int]:
    found = set()
    for i, node in enumerate(nodes):
        names = {c.local_name for c in node.children}
        if node.slot_variables or names & _OPTIMIZER_MARKERS:
            found.add(i)
        for c in node.children:
            if c.local_name in OPTIMIZER_EDGES:
                found.add(c.node_id)
    return frozenset(found)


def _reaches_variable(nodes, start: int, value_key, blocked) -> bool:
    seen, queue = {start}, deque([start])
    while queue:
        i = queue.popleft()
        if i in value_key:
            return True
        for c in nodes[i].children:
            if c.node_id not in seen and c.node_id not in blocked:
                seen.add(c.node_id)
                queue.append(c.node_id)
    return False


def _holders(nodes, value_key, optimizers) -> list:
    """The root's public children that hold variables (``model=``, ``generator=``), optimizers
    and bare variables left out."""
    return [
        c for c in nodes[0].children
        if not c.local_name.startswith("_")
        and c.node_id not in optimizers
        and c.node_id not in value_key
        and _reaches_variable(nodes, c.node_id, value_key, optimizers)
    ]


def _model_node(nodes, holders, root_is_model: bool) -> tuple[int, str]:
    """The node whose subtree is the model: the root of a SavedModel, else the one public
    child of a ``tf.train.Checkpoint`` that holds variables (``model=``), if there is one."""
    if root_is_model:
        return 0, ""
    if len(holders) == 1:
        return holders[0].node_id, holders[0].local_name
    return 0, ""


def _node_at(nodes, path: str, holders) -> int:
    node = 0
    walked: list[str] = []
    for part in [p for p in path.split("/") if p]:
        children = {c.local_name: c.node_id for c in nodes[node].children}
        if part not in children:
            here = "/".join(walked) or "the checkpoint's root"
            options = sorted(n for n in children if not n.startswith("_")) or sorted(children)
            if not walked and holders:
                options = [c.local_name for c in holders]
            raise RuleError(
                f"source_root {path!r}: {here} has no {part!r}; it holds {', '.join(options[:8]) or 'nothing'}.\n"
                f"  Fix: source_root= one of those (`warmstart inspect` lists the names under each)."
            )
        walked.append(part)
        node = children[part]
    return node


def _paths(nodes, start: int, *, blocked: frozenset[int]) -> dict[int, list[str]]:
    """Every path (up to a few per node, shortest first) from ``start``, not entering
    ``blocked`` nodes."""
    paths: dict[int, list[str]] = {}
    queue: deque[tuple[int, str, frozenset[int]]] = deque([(start, "", frozenset({start}))])
    while queue:
        i, path, on_path = queue.popleft()
        for c in nodes[i].children:
            j = c.node_id
            if j in blocked or j in on_path:
                continue
            got = paths.setdefault(j, [])
            if len(got) >= MAX_PATHS:
                continue
            child_path = f"{path}/{c.local_name}" if path else c.local_name
            got.append(child_path)
            queue.append((j, child_path, on_path | {j}))
    return paths


def _names(nodes, model, model_vars, value_key, paths, keras) -> dict[int, tuple[str, NameSource]]:
    if not keras:
        return {i: (paths[i][0], NameSource.STRUCTURE) for i in model_vars}
    counts = Counter(value_key[i][1] for i in model_vars)
    child_names = [c.local_name for c in nodes[model].children]
    functional = "_operations" in child_names or any(_TF_KERAS_LAYER.fullmatch(n) for n in child_names)
    prefix = ""
    if not functional:
        firsts = {value_key[i][1].split("/")[0] for i in model_vars if "/" in value_key[i][1]}
        if len(firsts) == 1 and all("/" in value_key[i][1] for i in model_vars):
            prefix = firsts.pop()
    structural = {i: structural_name(paths[i][0]).split("/") for i in model_vars}
    deeper = "" if prefix else _partial_prefix(model_vars, value_key, structural)
    out = {}
    for i in model_vars:
        full_name = value_key[i][1]
        name = strip_prefix(full_name, prefix or deeper)
        levels = sum(1 for seg in structural[i] if not seg.isdigit())
        trusted = (
            counts[full_name] == 1
            and full_name not in ("", "ShardedVariable")
            and len(name.split("/")) >= levels
        )
        out[i] = (name, NameSource.FULL_NAME) if trusted else (structural_name(paths[i][0]), NameSource.STRUCTURE)
    return out


def _partial_prefix(model_vars, value_key, structural: dict[int, list[str]]) -> str:
    """The model's name where only some variables carry it: Keras 3 names a variable by the
    layer's path when the layer was built, so a layer built before its Sequential (an adapted
    ``Normalization``) is ``pp/mean`` beside ``sequential/head/kernel``, both direct layers of
    the model. Names one segment deeper than their place in the object graph warrants than
    the others (a layer a segment, by name or by position), all under one first segment,
    carry it."""
    extra = {i: len(value_key[i][1].split("/")) - len(structural[i]) for i in model_vars if value_key[i][1]}
    if not extra or min(extra.values()) < 0:
        return ""
    base = min(extra.values())
    firsts = {value_key[i][1].split("/")[0] for i, e in extra.items() if e == base + 1}
    if len(firsts) != 1 or set(extra.values()) != {base, base + 1}:
        return ""
    return firsts.pop()


def _slots(nodes, optimizers, value_key, model_vars: set[int],
           shapes: Mapping[str, tuple[int, ...]]) -> dict[int, tuple[int, str]]:
    """slot node -> (owner variable node, slot name)."""
    slots: dict[int, tuple[int, str]] = {}
    named = Counter(value_key[i][1] for i in model_vars)
    by_full_name = {value_key[i][1]: i for i in model_vars if named[value_key[i][1]] == 1}
    unnamed = [i for i in model_vars if named[value_key[i][1]] > 1]  # tf_keras sharded: all 'ShardedVariable'

    for o in optimizers:
        node = nodes[o]
        for ref in node.slot_variables:  # legacy optimizers
            if ref.original_variable_node_id in model_vars:
                slots[ref.slot_variable_node_id] = (ref.original_variable_node_id, slot_name(ref.slot_name))
        children = {c.local_name: c.node_id for c in node.children}
        owners = _list_items(nodes, children.get("_trainable_variables"))
        found_lists = False
        for list_name, list_id in children.items():
            if list_name in NOT_SLOT_LISTS:
                continue
            items = _list_items(nodes, list_id)
            if not items or not all(j in value_key for j in items.values()):
                continue
            found_lists = True
            slot = slot_name(list_name)
            for idx, j in items.items():
                owner = owners.get(idx)
                if owner is None:  # tf_keras: no owner list; the slot's name ends with its variable's
                    owner = _owner_by_name(value_key[j][1], by_full_name)
                if owner is None and not owners:
                    owner = _owner_by_shape(value_key[j], unnamed, value_key, shapes)
                if owner in model_vars:
                    slots[j] = (owner, slot)
        if not found_lists and owners:
            slots.update(_positional_slots(nodes, children, owners, model_vars))
    return slots


def _owner_by_name(full_name: str, by_full_name: Mapping[str, int]) -> int | None:
    """tf_keras names a slot ``[<optimizer scope>/]<m|v|...>/<its variable's name>``
    (``m/head/bias`` when built by ``build``, ``Adam/m/head/bias`` in ``fit``): the model
    variable whose name is the slot's less one or two leading parts. None when none is, or
    when both are (a variable ``m/head/bias`` beside ``head/bias``): not guessed."""
    parts = full_name.split("/")
    found = {by_full_name.get("/".join(parts[k:])) for k in (1, 2) if k < len(parts)} - {None}
    return found.pop() if len(found) == 1 else None


def _owner_by_shape(slot: tuple[str, str], unnamed: list[int], value_key,
                    shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """A tf_keras slot of a sharded variable, which TF names ``ShardedVariable`` like its
    variable: the one variable of the slot's shape among those whose shared name the slot's
    ends with; None when several fit (left unpaired rather than guessed)."""
    key, name = slot
    if key not in shapes:
        return None
    fits = [i for i in unnamed
            if (name == value_key[i][1] or name.endswith("/" + value_key[i][1]))
            and tuple(shapes.get(value_key[i][0], ())) == tuple(shapes[key])]
    return fits[0] if len(fits) == 1 else None


# Adafactor keeps its factored slots in plain Python lists that are not checkpointed;
# they exist only in ``_variables``, in the order [iteration, learning_rate, (r, c, v)
# for each trainable variable] (verified on Keras 3.15).
_POSITIONAL = {3: ("r", "c", "v")}


def _positional_slots(nodes, children, owners, model_vars) -> dict[int, tuple[int, str]]:
    hyper = {children.get("_iterations"), children.get("_learning_rate")}
    items = _list_items(nodes, children.get("_variables"))
    rest = [j for _, j in sorted(items.items(), key=lambda kv: int(kv[0])) if j not in hyper]
    per = len(rest) // len(owners) if len(rest) % len(owners) == 0 else 0
    names = _POSITIONAL.get(per)
    if names is None:
        return {}
    out = {}
    for idx in range(len(owners)):
        owner = owners.get(str(idx))
        if owner in model_vars:
            for k, name in enumerate(names):
                out[rest[idx * per + k]] = (owner, slot_name(name))
    return out


def _list_items(nodes, list_id: int | None) -> dict[str, int]:
    if list_id is None:
        return {}
    children = nodes[list_id].children
    if not children or not all(c.local_name.isdigit() for c in children):
        return {}
    return {c.local_name: c.node_id for c in children}
