"""Attributing a Keras file's flat optimizer variables to the variables they belong to."""

from __future__ import annotations

from warmstart.layout import OptimizerLayout, class_key_base, snake_case
from warmstart.sources.keras_slots import Slot, SolveNode, attribute_slots

ADAM = OptimizerLayout("Adam", ("iterations", "learning_rate"), (("momentums", "velocities"),))


def layer(*variables, options=None, chains=()):
    own = tuple((name, shape) for name, shape in variables)
    return SolveNode(own, options if options is not None else (len(own),), [list(c) for c in chains])


def adam_shapes(*owners):
    return [(), ()] + [s for shape in owners for s in (shape, shape)]


def test_positions_interleave_each_segment_over_the_variables():
    amsgrad = OptimizerLayout("Adam", ("iterations", "learning_rate"),
                              (("momentums", "velocities"), ("velocity_hats",)))
    assert amsgrad.positions(2) == [("iterations", None), ("learning_rate", None), ("momentums", 0),
                                    ("velocities", 0), ("momentums", 1), ("velocities", 1),
                                    ("velocity_hats", 0), ("velocity_hats", 1)]
    assert amsgrad.per_variable == 3


def test_layers_of_different_classes_interleave_as_the_shapes_say():
    dense = [layer(("a/kernel", (4, 8)), ("a/bias", (8,))), layer(("c/kernel", (8, 1)), ("c/bias", (1,)))]
    emb = [layer(("emb/embeddings", (10, 4)))]
    root = layer(chains=[dense, emb])
    got = attribute_slots(adam_shapes((10, 4), (4, 8), (8,), (8, 1), (1,)), ADAM, root)
    assert got[:4] == [Slot("iterations", None), Slot("learning_rate", None), Slot("momentums", "emb/embeddings"),
                       Slot("velocities", "emb/embeddings")]
    assert [s.owner for s in got[2::2]] == ["emb/embeddings", "a/kernel", "a/bias", "c/kernel", "c/bias"]


def test_a_chain_keeps_its_order_and_frozen_variables_are_skipped():
    bn = layer(("bn/gamma", (4,)), ("bn/beta", (4,)), ("bn/moving_mean", (4,)), ("bn/moving_variance", (4,)),
               options=(2, 0))
    d = [layer(("d/kernel", (4, 4)), ("d/bias", (4,))), layer(("e/kernel", (4, 4)), ("e/bias", (4,)))]
    got = attribute_slots(adam_shapes((4, 4), (4,), (4,), (4,), (4, 4), (4,)), ADAM, layer(chains=[d, [bn]]))
    assert [s.owner for s in got[2::2]] == ["d/kernel", "d/bias", "bn/gamma", "bn/beta", "e/kernel", "e/bias"]


def test_two_orders_that_fit_are_refused_not_guessed():
    ln = [layer(("ln/gamma", (4,)), ("ln/beta", (4,)))]
    bn = [layer(("bn/gamma", (4,)), ("bn/beta", (4,)), ("bn/mm", (4,)), ("bn/mv", (4,)), options=(2,))]
    got = attribute_slots(adam_shapes((4,), (4,), (4,), (4,)), ADAM, layer(chains=[ln, bn]))
    assert isinstance(got, str) and "more than one order" in got
    # a known order (one chain) decides
    got = attribute_slots(adam_shapes((4,), (4,), (4,), (4,)), ADAM, layer(chains=[ln + bn]))
    assert [s.owner for s in got[2::2]] == ["ln/gamma", "ln/beta", "bn/gamma", "bn/beta"]


def test_slots_that_fit_no_order_or_no_layout_say_why():
    root = layer(chains=[[layer(("d/kernel", (4, 4)))]])
    assert "no order" in attribute_slots(adam_shapes((3, 3)), ADAM, root)
    assert "holds" in attribute_slots([(), (), (4, 4)], ADAM, root)  # 3 is not 2 + 2k
    factored = OptimizerLayout("Adafactor", ("iterations", "learning_rate"), (("r", "c", "v"),), same_shape=False)
    assert "shapes" in attribute_slots(adam_shapes((4, 4)), factored, root)


def test_many_interchangeable_layers_stay_fast():
    # 12 classes of 12 layers each, all (2,)-shaped: many orders, refused quickly, not enumerated
    chains = [[layer((f"c{c}/l{i}/w", (2,))) for i in range(12)] for c in range(12)]
    got = attribute_slots(adam_shapes(*[(2,)] * 144), ADAM, layer(chains=chains))
    assert isinstance(got, str)


def test_class_keys():
    assert snake_case("BatchNormalization") == "batch_normalization"
    assert snake_case("Conv2DTranspose") == "conv2d_transpose"
    assert class_key_base("dense_12", "Dense") and class_key_base("dense", "Dense")
    assert not class_key_base("dense_1", "EinsumDense") and not class_key_base("densex", "Dense")


def test_a_thousand_layers_in_one_chain():
    chain = [layer((f"d{i}/kernel", (16, 16)), (f"d{i}/bias", (16,))) for i in range(1000)]
    got = attribute_slots(adam_shapes(*[(16, 16), (16,)] * 1000), ADAM, layer(chains=[chain]))
    assert [s.owner for s in got[2:6]] == ["d0/kernel", "d0/kernel", "d0/bias", "d0/bias"]
    assert got[-1] == Slot("velocities", "d999/bias")
