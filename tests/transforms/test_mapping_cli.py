"""``pos-sync mappings suggest`` on small CSV files: the JSON shape and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pos_sync.cli import main

CATALOG = """bakery_product_id,name,sku,category,price
b1,Barra de pan,PAN-BARRA-250,Panadería,1.10
b2,Croissant,,Bollería,1.40
b3,Croissant de mantequilla,,Bollería,1.75
b4,Café con leche,,Cafetería,1.60
"""
POS = """provider,pos_product_id,name,sku,category,extra
square,1,BARRA DE PAN,,Panadería,x
toast,2,Butter croissant,,Pastries,y
lightspeed,3,Cafè amb llet,,Cafeteria,
square,4,Bolsa de papel,,,
square,4,Croissant,,Bollería,
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["mappings", "suggest", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--catalog", write(tmp_path, "c.csv", CATALOG), "--pos", write(tmp_path, "p.csv", POS),
                         "--json")
    assert code == 0
    document = json.loads(out)
    assert list(document) == ["suggestions"]
    suggestions = document["suggestions"]
    assert len(suggestions) == 5  # one per row, duplicate ids included
    for s in suggestions:
        assert list(s) == ["provider", "pos_product_id", "decision", "bakery_product_id", "confidence", "candidates"]
        assert s["decision"] in {"auto", "review", "none"}
        assert (s["bakery_product_id"] is not None) == (s["decision"] == "auto")
        assert 0.0 <= s["confidence"] <= 1.0 and isinstance(s["pos_product_id"], str)
        assert len(s["candidates"]) == 3  # top 3 whatever the decision
        assert all(list(c) == ["bakery_product_id", "score"] for c in s["candidates"])
    assert [(s["provider"], s["pos_product_id"], s["decision"], s["bakery_product_id"]) for s in suggestions] == [
        ("square", "1", "auto", "b1"), ("toast", "2", "auto", "b3"), ("lightspeed", "3", "auto", "b4"),
        ("square", "4", "none", None), ("square", "4", "auto", "b2")]


def test_threshold_and_suggestions_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = ("--catalog", write(tmp_path, "c.csv", CATALOG), "--pos", write(tmp_path, "p.csv", POS), "--json")
    for extra in (("--threshold", "1.5"), ("--no-auto",)):
        code, out, _ = run(capsys, *files, *extra)
        assert code == 0
        assert {s["decision"] for s in json.loads(out)["suggestions"]} == {"review", "none"}


def test_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--catalog", write(tmp_path, "c.csv", CATALOG), "--pos", write(tmp_path, "p.csv", POS))
    assert code == 0
    assert "'Butter croissant' → 'Croissant de mantequilla'" in out
    assert out.strip().splitlines()[-1] == "5 POS products: 4 auto, 0 to review, 1 with no counterpart"


def test_semicolons_bom_and_synonyms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write(tmp_path, "c.csv", CATALOG.replace(",", ";"), encoding="utf-8-sig")
    pos = write(tmp_path, "p.csv", "provider;pos_product_id;name;sku;category\ntoast;9;Yogurt sponge;;Cakes\n")
    synonyms = write(tmp_path, "s.csv", "canonical,variant\nBarra de pan,Yogurt sponge\n")
    code, out, _ = run(capsys, "--catalog", catalog, "--pos", pos, "--json")
    assert code == 0 and json.loads(out)["suggestions"][0]["decision"] == "none"
    code, out, _ = run(capsys, "--catalog", catalog, "--pos", pos, "--synonyms", synonyms, "--json")
    assert code == 0 and json.loads(out)["suggestions"][0]["bakery_product_id"] == "b1"


@pytest.mark.parametrize(("catalog", "pos", "message"), [
    (None, POS, "catalog file {c} does not exist"),
    ("", POS, "catalog file {c} is empty: it needs a header line with bakery_product_id, name, sku, category"),
    ("bakery_product_id,name,category\nb1,Barra,Pan\n", POS,
     "catalog file {c} has no column sku (needs bakery_product_id, name, sku, category; found bakery_product_id, name, "
     "category)"),
    ("bakery_product_id,name,sku,category\n", POS, "catalog file {c} has a header but no rows"),
    (CATALOG, "provider,pos_product_id,name\n1,2,3\n",
     "POS file {p} has no column sku, category (needs provider, pos_product_id, name, sku, category; found provider, "
     "pos_product_id, name)"),
    (CATALOG, "\n\n", "POS file {p} is empty: it needs a header line with provider, pos_product_id, name, sku, category"),
    (CATALOG + "b1,Otra,,,\n", POS, "catalog file {c} line 6: bakery_product_id 'b1' already on line 2"),
    (CATALOG + ",Sin id,,,\n", POS, "catalog file {c} line 6: empty bakery_product_id"),
    (CATALOG + "b9,Torrija,,,abc\n", POS, "catalog file {c} line 6: price 'abc' is not a number"),
    (CATALOG, "provider,pos_product_id,name,sku,category\nsquare,,Pan,,\n", "POS file {p} line 2: empty pos_product_id"),
])
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str], catalog: str | None,
                                          pos: str, message: str) -> None:
    c = write(tmp_path, "c.csv", catalog) if catalog is not None else str(tmp_path / "missing.csv")
    p = write(tmp_path, "p.csv", pos)
    code, out, err = run(capsys, "--catalog", c, "--pos", p, "--json")
    assert (code, out) == (1, "")
    assert err == f"error: {message.format(c=c, p=p)}\n"


def test_not_utf8_and_bad_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latin = tmp_path / "c.csv"
    latin.write_bytes(CATALOG.encode("latin-1"))
    p = write(tmp_path, "p.csv", POS)
    code, _, err = run(capsys, "--catalog", str(latin), "--pos", p)
    assert code == 1 and err == f"error: catalog file {latin} is not UTF-8 text (save it as CSV UTF-8)\n"
    code, _, err = run(capsys, "--catalog", write(tmp_path, "ok.csv", CATALOG), "--pos", p, "--threshold", "-0.5")
    assert code == 1 and err.startswith("error: --threshold must be a number from 0 to 1") and err.count("\n") == 1
