"""AppTest flows of both reader-study pages: create, join, read, resume, own, refuse."""

from __future__ import annotations

import re

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from ankle_core.stats import mrmc_or
from ankle_core.teaching import invite_reader, long_table
from tests.app.apptest import APP
from tests.app.apptest import open_page as _open
from tests.app.teaching.studies import KEY, four_case_study, read_everything, store_for


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [s.value for s in at.subheader] + [s.value for s in at.success]
    parts += [e.value for e in at.error] + [i.value for i in at.info]
    return "\n".join(parts)


def test_owner_creates_a_study_from_bundled_cases_with_a_hashed_key(
    app_env: dict[str, str],
) -> None:
    at = _open("pages/study_owner.py")
    at.text_input(key="own_key").set_value("my-study-key")
    at.button(key="own_create").click().run()
    assert not at.exception, at.exception
    match = re.search(r"code \*\*([A-Z0-9]+)\*\*", _text(at))
    assert match, _text(at)
    store = store_for(app_env["ANKLE_DATABASE_URL"])
    study = store.get_study(match.group(1))
    assert study is not None and len(study.case_ids) == 6
    with store._engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM studies")).scalar_one()
    assert "my-study-key" not in stored


def _join(link: str) -> AppTest:
    at = _open("pages/reader_study.py")
    at.text_input(key="rs_invite").set_value(link)
    at.button(key="rs_join_btn").click().run()
    assert not at.exception, at.exception
    return at


def _rate(at: AppTest, position: int, choice: int) -> None:
    radio = at.radio(key=f"rs_rating_{position}")
    radio.set_value(radio.options[choice - 1])
    at.button(key=f"rs_submit_{position}").click().run()
    assert not at.exception, at.exception


def test_reader_reads_unaided_then_aided_and_resumes_without_duplicates(
    app_env: dict[str, str],
) -> None:
    store = store_for(app_env["ANKLE_DATABASE_URL"])
    study = four_case_study(store)
    one = invite_reader(store, study, "Reader One")
    at = _join(f"http://127.0.0.1:8501/reader_study?invite={one.token}")
    assert at.query_params["invite"] in (one.token, [one.token])
    assert "Reader One" not in str(dict(at.query_params))
    text0 = _text(at)
    assert "Unaided" in text0 and "AI case call" not in text0
    _rate(at, 0, 4)
    text1 = _text(at)
    assert "Aided" in text1 and "AI case call" in text1  # as on the radiograph page
    _rate(at, 1, 5)
    again = _join(one.token)  # a new browser session with the same link: resume
    assert "2 of 8 readings stored" in "\n".join(p.proto.text for p in again.get("progress"))
    _rate(again, 2, 2)
    ratings = store.study_ratings(study.code)
    assert len(ratings) == 3 and len({(r.case_id, r.condition) for _, r in ratings}) == 3
    other = _join(invite_reader(store, study, "Reader Two").token)
    own = [df.value for df in other.dataframe if "Case" in df.value.columns]
    assert all(len(df) == 0 for df in own)  # sees none of Reader One's answers


def test_owner_page_refuses_a_wrong_key_and_shows_the_mrmc_of_the_export(
    app_env: dict[str, str],
) -> None:
    store = store_for(app_env["ANKLE_DATABASE_URL"])
    study = four_case_study(store)
    for name, skill in (("A", 0.2), ("B", 0.6), ("C", 1.0)):
        read_everything(store, study.code, name, skill)
    at = _open("pages/study_owner.py")
    at.text_input(key="own_code").set_value(study.code)
    at.text_input(key="own_typed_key").set_value("wrong-key-000")
    at.button(key="own_open_btn").click().run()
    assert "do not match" in _text(at) and "MRMC" not in _text(at)
    at.text_input(key="own_typed_key").set_value(KEY)
    at.button(key="own_open_btn").click().run()
    assert not at.exception, at.exception
    shown = _text(at)
    assert "Obuchowski–Rockette" in shown
    table = long_table(study, store.study_ratings(study.code))
    res = mrmc_or(table, "jackknife")
    d = res.difference
    assert f"**{d.difference:+.4f}**" in shown and f"{d.ci_low:.4f} to {d.ci_high:.4f}" in shown
    assert f"p = {res.rrrc.p_value:.4f}" in shown
    per_reader = next(df.value for df in at.dataframe if "Sensitivity" in df.value.columns)
    assert len(per_reader) == 6  # 3 readers x 2 conditions
    assert any("Mean difference" in c for df in at.dataframe for c in df.value.columns)


def test_owner_html_report(app_env: dict[str, str]) -> None:
    store = store_for(app_env["ANKLE_DATABASE_URL"])
    study = four_case_study(store)
    for name, skill in (("A", 0.2), ("B", 0.6)):
        read_everything(store, study.code, name, skill)
    at = _open("pages/study_owner.py")
    at.text_input(key="own_code").set_value(study.code)
    at.text_input(key="own_typed_key").set_value(KEY)
    at.button(key="own_open_btn").click().run()
    at.button(key="own_html_make").click().run()
    assert not at.exception, at.exception
    assert any(b.proto.label == "⬇️ HTML report" for b in at.get("download_button"))


def test_a_name_in_the_url_or_a_typed_name_no_longer_acts_as_a_reader(
    app_env: dict[str, str],
) -> None:
    store = store_for(app_env["ANKLE_DATABASE_URL"])
    study = four_case_study(store)
    read_everything(store, study.code, "Alice", 0.5)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["study"] = study.code
    at.query_params["reader"] = "Alice"  # the old attack: Alice's answers, as Alice
    at.run()
    at.switch_page("pages/reader_study.py").run()
    assert not at.exception, at.exception
    assert "readings stored" not in _text(at) and not at.dataframe
    at.text_input(key="rs_invite").set_value("Alice")  # a typed name is no invite
    at.button(key="rs_join_btn").click().run()
    assert "not valid" in _text(at) and "readings stored" not in _text(at)
    assert len(store.study_ratings(study.code)) == 8  # Alice's only, untouched


def test_owner_issues_invites_and_key_attempts_are_limited(app_env: dict[str, str]) -> None:
    store = store_for(app_env["ANKLE_DATABASE_URL"])
    study = four_case_study(store)
    at = _open("pages/study_owner.py")
    at.text_input(key="own_code").set_value(study.code)
    at.text_input(key="own_typed_key").set_value(KEY)
    at.button(key="own_open_btn").click().run()
    at.text_input(key="own_invite_label").set_value("R7")
    at.button(key="own_invite").click().run()
    assert not at.exception, at.exception
    link = at.code[0].value
    token = link.split("invite=", 1)[1]
    assert link.startswith("/reader_study?invite=") or "/reader_study?invite=" in link
    reader = _join(link)
    assert "reader **R7**" in _text(reader)
    with store._engine.connect() as conn:
        assert token not in str(conn.execute(text("SELECT * FROM study_readers")).all())
    for _ in range(5):  # 5 attempts per user and minute; the first one above counts
        at.text_input(key="own_typed_key").set_value("wrong-key-000")
        at.button(key="own_open_btn").click().run()
    assert "Too many attempts" in _text(at)
