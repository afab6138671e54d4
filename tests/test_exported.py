"""SavedModels: ``model.export`` (variables by name and shape) and ``tf.saved_model.save``."""

from __future__ import annotations

import keras
import numpy as np
from support import check_format

import warmstart as ws


def test_every_change_loads_from_model_export(day1):
    _, source, files = day1
    check_format(files["export"], "saved-model-export", source)


def test_an_export_names_each_variable_once_by_its_own_name(day1):
    _, source, files = day1
    entries = [e for e in ws.inspect_checkpoint(files["export"]) if e.kind is ws.EntryKind.VARIABLE]
    assert sorted(e.name for e in entries) == sorted(source)  # stored twice, listed once
    for e in entries:  # one entry per variable, found through both of the export's lists
        assert {p.split("/")[0] for p in e.paths} >= {"variables", "_all_variables"}


def test_every_change_loads_from_tf_saved_model_save(day1):
    _, source, files = day1
    check_format(files["saved_model"], "saved-model", source)


def test_a_name_two_variables_share_is_reported_ambiguous(tmp_path):
    class Two(keras.Model):  # two sub-models both called 'enc': variable paths are not unique
        def __init__(self):
            super().__init__(name="two")
            self.a = keras.Sequential([keras.layers.Dense(2, name="proj")], name="enc")
            self.b = keras.Sequential([keras.layers.Dense(2, name="proj")], name="enc")

        def build(self, input_shape):  # built in their own scopes: full names are the paths
            self.a.build(input_shape)
            self.b.build(input_shape)

        def call(self, x):
            return self.a(x) + self.b(x)

    def model(seed):
        keras.utils.set_random_seed(seed)
        m = Two()
        m(np.ones((1, 3), "float32"))
        return m

    model(1).export(str(tmp_path / "export"), verbose=False)
    report = ws.warm_start(model(2), str(tmp_path / "export"), dry_run=True)
    assert any("2 different variables named 'enc/proj/kernel'" in n and "ambiguous" in n for n in report.notes)
    assert not report.loaded and not report.ok  # nothing is loaded from a name that means two variables
