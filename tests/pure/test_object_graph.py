"""Object-graph parsing: a TrackableObjectGraph into named entries. Pure: the graph is built
by hand in the proto's shape (nodes with children, attributes, slot_variables), laid out as
TF 2.21 lays out the checkpoints of real Keras models (see notes §1-2)."""

from __future__ import annotations

from types import SimpleNamespace as NS

from warmstart.entries import EntryKind, NameSource
from warmstart.sources.object_graph import entries_from_graph

VALUE = "VARIABLE_VALUE"


class Graph:
    """A graph under construction: ``node(children={name: id}, var=(key, full_name))``."""

    def __init__(self) -> None:
        self.nodes: list[NS] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, str] = {}

    def node(self, children=None, var=None, shape=(2,), dtype="float32") -> int:
        attributes = []
        if var is not None:
            key, full_name = var
            attributes.append(NS(name=VALUE, checkpoint_key=key, full_name=full_name))
            self.shapes[key], self.dtypes[key] = shape, dtype
        self.nodes.append(NS(children=[NS(local_name=k, node_id=v) for k, v in (children or {}).items()],
                             attributes=attributes, slot_variables=[]))
        return len(self.nodes) - 1

    def link(self, parent: int, **children: int) -> None:
        self.nodes[parent].children += [NS(local_name=k, node_id=v) for k, v in children.items()]

    def parse(self, **kw):
        return entries_from_graph(NS(nodes=self.nodes), self.shapes, self.dtypes, **kw)


def key(path: str) -> str:
    return f"{path}/.ATTRIBUTES/VARIABLE_VALUE"


def compiled_functional() -> Graph:
    """``Checkpoint(model=m, optimizer=adam)`` of a compiled one-Dense Functional model."""
    g = Graph()
    root = g.node()
    kernel = g.node(var=(key("optimizer/_trainable_variables/0"), "d1/kernel"), shape=(4, 2))
    bias = g.node(var=(key("optimizer/_trainable_variables/1"), "d1/bias"))
    layer = g.node({"_kernel": kernel, "bias": bias})
    model = g.node({"_operations": g.node({"1": layer})})
    m0 = g.node(var=(key("optimizer/_variables/2"), "adam/d1_kernel_momentum"), shape=(4, 2))
    m1 = g.node(var=(key("optimizer/_variables/3"), "adam/d1_bias_momentum"))
    iterations = g.node(var=(key("optimizer/_iterations"), "adam/iteration"), shape=(), dtype="int64")
    optimizer = g.node({
        "_iterations": iterations,
        "_trainable_variables": g.node({"0": kernel, "1": bias}),
        "_momentums": g.node({"0": m0, "1": m1}),
        "_variables": g.node({"0": iterations, "1": m0, "2": m1}),
    })
    counter = g.node(var=(key("save_counter"), "save_counter"), shape=(), dtype="int64")
    g.link(root, model=model, optimizer=optimizer, save_counter=counter)
    return g


def test_keras_variables_are_named_by_full_name_and_found_by_every_path():
    parsed = compiled_functional().parse()
    variables = {e.name: e for e in parsed.entries if e.kind is EntryKind.VARIABLE}
    assert set(variables) == {"d1/kernel", "d1/bias"}
    kernel = variables["d1/kernel"]
    assert kernel.key == key("optimizer/_trainable_variables/0") and kernel.shape == (4, 2)
    assert kernel.name_source is NameSource.FULL_NAME
    assert kernel.paths == ("_operations/1/_kernel",)  # from the model node, optimizer paths left out
    assert parsed.keras and parsed.model_path == "model"


def test_slots_are_paired_with_their_variable_by_list_index():
    slots = [e for e in compiled_functional().parse().entries if e.kind is EntryKind.SLOT]
    assert {(e.slot_owner, e.slot_name) for e in slots} == {("d1/kernel", "momentums"), ("d1/bias", "momentums")}
    kernel_slot = next(e for e in slots if e.slot_owner == "d1/kernel")
    assert kernel_slot.shape == (4, 2)


def test_optimizer_counters_and_save_counter_are_other():
    others = {e.name for e in compiled_functional().parse().entries if e.kind is EntryKind.OTHER}
    assert others == {"optimizer/_iterations", "save_counter"}


def test_tf_module_is_named_by_attribute_path():
    g = Graph()
    root = g.node()
    w = g.node(var=(key("module/w"), "Variable"))
    v = g.node(var=(key("module/sub/v"), "blk/b"))
    listed = g.node(var=(key("module/lst/0"), "Variable"))
    module = g.node({"w": w, "sub": g.node({"v": v}), "lst": g.node({"0": listed})})
    step = g.node(var=(key("step"), "step"), shape=(), dtype="int64")
    g.link(root, module=module, step=step)
    parsed = g.parse()
    variables = {e.name: e for e in parsed.entries if e.kind is EntryKind.VARIABLE}
    # beside the model, a Checkpoint kwarg (step=tf.Variable(0)) is a variable named by its path
    assert set(variables) == {"w", "sub/v", "lst/0", "step"}
    assert {e.name_source for e in variables.values()} == {NameSource.STRUCTURE}
    assert variables["sub/v"].paths == ("sub/v",) and variables["step"].paths == ("step",)
    assert not parsed.keras and parsed.model_path == "module"


def test_duplicate_full_names_of_a_lazily_built_model_fall_back_to_structure():
    g = Graph()
    root = g.node()
    k1 = g.node(var=(key("model/a/_kernel"), "rec/kernel"))
    k2 = g.node(var=(key("model/b/_kernel"), "rec/kernel"))
    model = g.node({"a": g.node({"_kernel": k1}), "b": g.node({"_kernel": k2})})
    g.link(root, model=model)
    names = {e.name: e for e in g.parse().entries if e.kind is EntryKind.VARIABLE}
    assert set(names) == {"a/kernel", "b/kernel"}
    assert {e.name_source for e in names.values()} == {NameSource.STRUCTURE}


def test_sharded_variable_full_name_is_not_trusted():
    g = Graph()
    root = g.node()
    table = g.node(var=(key("model/emb/_embeddings"), "ShardedVariable"), shape=(10, 3))
    model = g.node({"emb": g.node({"_embeddings": table})})
    g.link(root, model=model)
    (entry,) = [e for e in g.parse().entries if e.kind is EntryKind.VARIABLE]
    assert entry.name == "emb/embeddings" and entry.name_source is NameSource.STRUCTURE


def test_legacy_slot_variables_hang_off_their_variable():
    g = Graph()
    root = g.node()
    kernel = g.node(var=(key("model/layer_with_weights-0/kernel"), "d1/kernel"))
    slot = g.node(var=(key("model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m"), "Adam/d1/kernel/m"))
    layer = g.node({"kernel": kernel})
    model = g.node({"layer_with_weights-0": layer, "layer-0": layer})
    iterations = g.node(var=(key("optimizer/iter"), "Adam/iter"), shape=(), dtype="int64")
    optimizer = g.node({"iter": iterations})
    g.nodes[optimizer].slot_variables.append(NS(original_variable_node_id=kernel, slot_name="m",
                                                slot_variable_node_id=slot))
    g.link(root, model=model, optimizer=optimizer)
    entries = {e.name: e for e in g.parse().entries}
    assert entries["d1/kernel"].kind is EntryKind.VARIABLE
    assert set(entries["d1/kernel"].paths) == {"layer_with_weights-0/kernel", "layer-0/kernel"}
    (slot_entry,) = [e for e in entries.values() if e.kind is EntryKind.SLOT]
    assert (slot_entry.slot_owner, slot_entry.slot_name) == ("d1/kernel", "momentums")
    assert slot_entry.name == "optimizer/slots/d1/kernel/momentums"


def test_a_tf_keras_slot_is_paired_only_when_its_name_leaves_one_variable():
    from warmstart.sources.object_graph import _owner_by_name

    names = {"head/bias": 1, "d/kernel": 2}
    assert _owner_by_name("m/head/bias", names) == 1  # built by opt.build
    assert _owner_by_name("Adam/m/head/bias", names) == 1  # built in fit, under the optimizer's scope
    # a variable named like the slot's tail beside the owner: either could be meant, so neither
    assert _owner_by_name("Adam/m/head/bias", {**names, "m/head/bias": 3}) is None
    assert _owner_by_name("Adam/v/x/head/bias", names) is None  # a variable outside the model
    assert _owner_by_name("Adam/m/dense/kernel", {"kernel": 4}) is None  # never more than scope and slot cut off
