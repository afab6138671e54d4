"""``warmstart.keras.WarmStart``: a warm start inside ``model.fit``."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
from support import (
    assert_untouched,
    check_day2,
    check_day2_slots,
    day2_rules,
    keras_slots,
    named,
    rec,
    snapshot,
    values,
)

import warmstart as ws
from warmstart.keras import WarmStart

X = np.random.default_rng(0).integers(0, 8, size=(16, 2)).astype("int32")
Y = np.random.default_rng(1).normal(size=(16, 1)).astype("float32")


def _day2(seed=3):
    model = rec(day=2, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    return model


def test_fit_warm_starts_the_model_and_its_optimizer_once(day1, caplog):
    model1, source, files = day1
    day2 = _day2()
    before = values(day2)
    callback = WarmStart(files["keras"], optimizer=True, **day2_rules())
    with caplog.at_level(logging.INFO, logger="warmstart"):
        day2.fit(X, Y, epochs=0, callbacks=[callback], verbose=0)  # no step: the values are the warm start's
    check_day2(callback.report, day2, before, source)
    zeros = {k: np.zeros_like(v) for k, v in keras_slots(day2, day2.optimizer).items()}
    check_day2_slots(callback.report, day2, day2.optimizer, zeros, keras_slots(model1, model1.optimizer))
    assert callback.report.summary() in caplog.text

    report = callback.report
    named(day2)["d1/kernel"].assign(np.zeros((8, 8), "float32"))
    day2.fit(X, Y, epochs=0, callbacks=[callback], verbose=0)
    assert callback.report is report  # not run again
    np.testing.assert_array_equal(named(day2)["d1/kernel"].numpy(), np.zeros((8, 8)))


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("warm_first", [True, False], ids=["warm-start-listed-first", "backup-listed-first"])
def test_a_run_that_backup_and_restore_resumes_is_not_warm_started(day1, tmp_path, warm_first):
    _, _, files = day1
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    first = _day2(seed=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(X, Y, epochs=3, callbacks=[WarmStart(files["keras"], **day2_rules()), backup, _Interrupt()],
                  verbose=0)
    expected = values(first)  # what the backup after epoch 0 holds

    resumed = _day2(seed=4)
    callback = WarmStart(files["keras"], **day2_rules())
    listed = [callback, backup] if warm_first else [backup, callback]
    resumed.fit(X, Y, epochs=1, callbacks=listed, verbose=0)  # resumes at epoch 1 of 1: no step
    assert callback.report.resumed and not callback.report.loaded
    for name, value in expected.items():
        np.testing.assert_array_equal(values(resumed)[name], value, err_msg=name)


def test_an_error_stops_fit_before_any_step_and_changes_nothing(tmp_path):
    day2 = _day2()
    before = snapshot(day2)
    with pytest.raises(ws.CheckpointNotFoundError):
        day2.fit(X, Y, epochs=1, callbacks=[WarmStart(str(tmp_path / "none.keras"))], verbose=0)
    assert_untouched(before, day2)
