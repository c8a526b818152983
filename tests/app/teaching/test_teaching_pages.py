"""AppTest flows of the teaching library and the quiz (tiny random-weight models)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.apptest import open_page as _open


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [h.value for h in at.subheader] + [h.value for h in at.header]
    return "\n".join(parts)


def test_library_shows_signs_marks_synthetic_and_opens_the_ai_on_request(
    app_env: dict[str, str],
) -> None:
    at = _open("pages/library.py")
    at.sidebar.radio(key="lib_collection").set_value("phantom").run()
    text = _text(at)
    assert "6 of 6 cases" in text
    assert text.count("synthetic phantom") >= 6
    assert "Donor-site defect" in text and "Corticated" in text
    assert "AI case call" not in text  # the model is shown only on request
    first = at.toggle[0]
    first.set_value(True).run()
    assert not at.exception, at.exception
    assert "AI case call" in _text(at)
    at.multiselect(key="lib_classes").set_value(["sfo"]).run()
    assert "2 of 6 cases" in _text(at)
    at.multiselect(key="lib_difficulty").set_value(["easy", "moderate", "hard"]).run()
    assert not at.exception, at.exception
    assert "2 of 6 cases" in _text(at)  # every case gets a difficulty bin


def test_quiz_commits_before_reveal_scores_and_exports(app_env: dict[str, str]) -> None:
    at = _open("pages/quiz.py")
    at.sidebar.radio(key="quiz_kind").set_value("phantom").run()
    at.number_input(key="quiz_n").set_value(2)
    at.button(key="quiz_start").click().run()
    assert not at.exception, at.exception
    for i in range(2):
        text = _text(at)
        assert f"Case {i + 1} of 2" in text
        assert "The AI said" not in text and "AI case call" not in text  # nothing revealed
        at.radio(key=f"quiz_call_{i}").set_value("lmaf")
        at.slider(key=f"quiz_conf_{i}").set_value(80)
        at.button(key=f"quiz_commit_{i}").click().run()
        assert not at.exception, at.exception
        text = _text(at)
        assert "this is **" in text and "The AI said" in text and "AI case call" in text
        assert at.metric[0].value.endswith(f"/ {i + 1}")
        at.button(key=f"quiz_next_{i}").click().run()
        assert not at.exception, at.exception
    assert "Your results" in _text(at)
    measures = next(df.value for df in at.dataframe if "Measure" in df.value.columns)
    assert "Cohen's kappa vs the model" in set(measures["Measure"])
    downloads = at.get("download_button")
    assert len(downloads) == 2
