"""transforms.mapping: folding, measures, plurals, SKUs and whole-name normalisation (es/en/ca)."""

from __future__ import annotations

import pytest

from transforms.mapping import Normalizer, build_synonyms, normalise_sku
from transforms.mapping.normalize import catalog_vocabulary
from transforms.mapping.text import extract_measures, fold, plural_forms

CATALOG_NAMES = ["Barra de pan", "Baguette", "Croissant", "Croissant de mantequilla", "Napolitana de chocolate",
                 "Magdalenas (6 uds)", "Tarta de Santiago", "Tarta de queso", "Café con leche", "Café solo",
                 "Pan de semillas", "Zumo de naranja natural", "Caja regalo surtido", "Empanada gallega (porción)"]


@pytest.fixture(scope="module")
def normalise() -> Normalizer:
    synonyms = build_synonyms()
    return Normalizer(synonyms, catalog_vocabulary(synonyms, CATALOG_NAMES))


@pytest.mark.parametrize(("text", "folded"), [
    ("Cafè amb llet", "cafe amb llet"), ("ENSAÏMADA", "ensaimada"), ("Pa de pagès", "pa de pages"),
    ("Col·lecció", "colleccio"), ("Piña & Coco", "pina  y  coco"), ("Crème brûlée", "creme brulee"),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(("name", "count", "size", "words"), [
    ("Magdalenas (6 uds)", 6, None, ["magdalenas"]),
    ("Croissant x6", 6, None, ["croissant"]),
    ("6 uds croissant", 6, None, ["croissant"]),
    ("Pack 4 croissants", 4, None, ["croissants"]),
    ("pack de 4 croissants", 4, None, ["croissants"]),
    ("Muffins 6-pack", 6, None, ["muffins"]),
    ("Churros (docena)", 12, None, ["churros"]),
    ("Media docena de churros", 6, None, ["de", "churros"]),
    ("Half a dozen donuts", 6, None, ["donuts"]),
    ("Magdalenas (6 uds) unidad", 6, None, ["magdalenas"]),  # the pack is sold by the unit
    ("Torrija (ud)", 1, None, ["torrija"]),
    ("Pan de barra 250g", None, "250g", ["pan", "de", "barra"]),
    ("Hogaza 1kg", None, "1000g", ["hogaza"]),
    ("Agua 1,5L", None, "1500ml", ["agua"]),
    ("Agua mineral 50cl", None, "500ml", ["agua", "mineral"]),
    ("Palmeritas al peso", None, "kg", ["palmeritas"]),
    ("Caja regalo surtido", None, None, ["caja", "regalo", "surtido"]),
    ("Tarjeta regalo 20", None, None, ["tarjeta", "regalo"]),  # a bare number is no count
])
def test_measures(name: str, count: int | None, size: str | None, words: list[str]) -> None:
    measures = extract_measures(fold(name))
    assert (measures.count, measures.size, measures.words) == (count, size, words)


@pytest.mark.parametrize(("word", "first"), [
    ("croissants", "croissant"), ("magdalenas", "magdalena"), ("panes", "pan"), ("tostadas", "tostada"),
    ("nueces", "nuez"), ("cafes", "cafe"), ("muffins", "muffin"), ("magdalenes", "magdalen"),
])
def test_plural_forms(word: str, first: str) -> None:
    assert plural_forms(word)[0] == first


@pytest.mark.parametrize("word", ["milhojas", "reyes", "pan", "gas", "payes", "mas"])
def test_words_that_are_not_plurals(word: str) -> None:
    assert plural_forms(word) == ()


@pytest.mark.parametrize(("sku", "normalised"), [
    ("PAN-BARRA-250", "panbarra250"), ("pan barra 250", "panbarra250"), ("pan_barra.0250", "panbarra250"),
    ("000123", "123"), ("123.0", "123"), ("X-1001", "x1001"), (" bol/croissant ", "bolcroissant"),
    ("", None), ("  ", None), (None, None), ("---", None),
])
def test_normalise_sku(sku: str | None, normalised: str | None) -> None:
    assert normalise_sku(sku) == normalised


@pytest.mark.parametrize(("name", "key"), [
    # case, accents, punctuation, stop words
    ("BARRA DE PAN", "barra pan"), ("Barra pan", "barra pan"), ("barra-pan!", "barra pan"),
    # till abbreviations (dotted, prefixes of the catalog's words, consonant skeletons)
    ("Croiss. mantequilla", "croissant mantequilla"), ("Croissant mant.", "croissant mantequilla"),
    ("Napolitana choc.", "chocolate napolitana"), ("trta Santiago", "santiago tarta"), ("Café con lch", "cafe leche"),
    ("CAFE C/LECHE", "cafe leche"), ("Zumo nar. nat.", "naranja natural zumo"), ("semill.", "semilla"),
    ("Caja regalo surt.", "caja regalo surtido"),
    # typos of known words
    ("Capuchno", "capuchino"), ("Bagutete", "baguette"),
    # plurals and measures do not change the words
    ("Croissants de mantequilla x6", "croissant mantequilla"), ("Magdalenas 6 uds", "magdalena"),
    # noise and sizes are not words
    ("ENSAIMADA NUEVO", "ensaimada"), ("Tostada con tomate grande", "tomate tostada"),
    # negations stay bound to their word
    ("Pan sin gluten", "pan sin_gluten"), ("Pa sense gluten", "pan sin_gluten"), ("Gluten-free bread", "pan sin_gluten"),
])
def test_normalised_words(normalise: Normalizer, name: str, key: str) -> None:
    assert normalise(name).key == key


@pytest.mark.parametrize(("names", "key"), [
    (["Barra de pan", "Bread loaf", "Bread Loaf (Barra)", "Pa de barra", "Barra de pa"], "barra pan"),
    (["Croissant", "Cruasán", "Cruassant"], "croissant"),
    (["Croissant de mantequilla", "Butter croissant", "Croissant de mantega"], "croissant mantequilla"),
    (["Napolitana de chocolate", "Pain au chocolat", "Chocolate croissant", "Napolitana de xocolata"],
     "chocolate napolitana"),
    (["Magdalena", "Muffin", "Madalena"], "magdalena"),
    (["Café con leche", "Latte", "Cafè amb llet", "Coffee with milk"], "cafe leche"),
    (["Café solo", "Espresso", "Cafè sol", "Black coffee"], "cafe solo"),
    (["Tarta de queso", "Cheesecake", "Pastís de formatge"], "queso tarta"),
    (["Roscón de Reyes", "King cake", "Tortell de Reis"], "reyes roscon"),
    (["Ensaimada", "Ensaïmada"], "ensaimada"),
    (["Zumo de naranja natural", "Fresh orange juice", "Suc de taronja natural"], "naranja natural zumo"),
])
def test_synonyms_in_three_languages(normalise: Normalizer, names: list[str], key: str) -> None:
    assert {normalise(name).key for name in names} == {key}


def test_tenant_synonyms_extend_the_defaults() -> None:
    names = ["Bizcocho de yogur"]
    plain = build_synonyms()
    extended = build_synonyms({"bizcocho yogur": ["pastel de iogurt", "yogurt sponge"]})
    default = Normalizer(plain, catalog_vocabulary(plain, names))
    tenant = Normalizer(extended, catalog_vocabulary(extended, names))
    assert default("Yogurt sponge").key != default("Bizcocho de yogur").key
    assert tenant("Yogurt sponge").key == tenant("Pastel de iogurt").key == tenant("Bizcocho de yogur").key
    assert tenant("Latte").key == "cafe leche"  # the defaults are still there


def test_counts_and_plurals(normalise: Normalizer) -> None:
    pack, single, plural = normalise("Magdalenas (6 uds)"), normalise("Magdalena"), normalise("MAGDALENAS")
    assert (pack.count, pack.implied_count) == (6, 6)
    assert (single.count, single.implied_count) == (None, 1)
    assert (plural.count, plural.implied_count) == (None, None)  # more than one, how many unknown
