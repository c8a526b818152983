"""Bad input raises InvalidInputError with a clear message; reader study numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.stats import auc_ci, delong_test, metrics_at, reader_study, roc_curve


@pytest.mark.parametrize(
    "y,score,match",
    [
        ([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], "single class"),
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4], "NaN"),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3], "lengths must match"),
        ([0, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], "at least 2"),
        ([0, 2, 0, 1], [0.1, 0.2, 0.3, 0.4], "only 0"),
    ],
)
def test_bad_input(y, score, match):
    with pytest.raises(InvalidInputError, match=match):
        auc_ci(y, score)


def test_other_entry_points_validate():
    with pytest.raises(InvalidInputError, match="single class"):
        roc_curve([0, 0], [0.1, 0.2])
    with pytest.raises(InvalidInputError, match="NaN"):
        delong_test([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, np.nan, 0.3, 0.4])
    with pytest.raises(InvalidInputError, match="lengths"):
        metrics_at([0, 1], [0.1, 0.2, 0.3], 0.5)


def _tiny_study() -> pd.DataFrame:
    truth = np.array([1, 1, 1, 0, 0, 0])
    rows = []
    calls = {
        ("A", "unaided"): [1, 0, 0, 0, 0, 1],
        ("A", "aided"): [1, 1, 1, 0, 0, 0],
        ("B", "unaided"): [1, 1, 0, 0, 1, 0],
        ("B", "aided"): [1, 1, 1, 0, 1, 0],
    }
    for (reader, cond), c in calls.items():
        for case, (t, v) in enumerate(zip(truth, c, strict=True)):
            rows.append({"case": case, "reader": reader, "condition": cond, "truth": t, "call": v})
    return pd.DataFrame(rows)


def test_reader_study_by_hand():
    res = reader_study(_tiny_study())
    a_unaided = next(m for m in res.per_reader if m.reader == "A" and m.condition == "unaided")
    assert a_unaided.accuracy.value == pytest.approx(3 / 6)
    assert a_unaided.sensitivity.value == pytest.approx(1 / 3)
    # reader A: aided correct on cases 1, 2, 5 where unaided was wrong; never the reverse
    assert (res.mcnemar["A"].b, res.mcnemar["A"].c) == (3, 0)
    acc = next(t for t in res.paired_t if t.metric == "accuracy")
    assert acc.mean_difference == pytest.approx(((6 - 3) + (5 - 4)) / 6 / 2)
    assert res.mrmc["accuracy"].difference.difference == pytest.approx(acc.mean_difference)


def test_reader_study_errors():
    df = _tiny_study()
    with pytest.raises(InvalidInputError, match="duplicated"):
        reader_study(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(InvalidInputError, match="lack one condition"):
        reader_study(df[~((df.reader == "B") & (df.condition == "aided"))])
    with pytest.raises(InvalidInputError, match="unknown condition"):
        reader_study(df.assign(condition=df.condition.replace("aided", "with_ai")))
    with pytest.raises(InvalidInputError, match="lacks the column"):
        reader_study(df.drop(columns="truth"))
