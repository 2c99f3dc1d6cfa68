"""transforms.mapping: the general rules added for issue #13 — first for hard_es recall, then
against the synthetic speed set's wrong auto-maps — each with the cases it must not break."""

from __future__ import annotations

from transforms.mapping import BakeryProduct, Matcher, PosProduct, suggest
from transforms.mapping.normalize import Normalizer
from transforms.mapping.synonyms import build_synonyms

FILLER = [
    BakeryProduct("barra", "Barra de pan", None, "Panadería", 1.10),
    BakeryProduct("ensaimada", "Ensaimada", None, "Bollería", 1.90),
    BakeryProduct("cortado", "Cortado", None, "Cafetería", 1.40),
    BakeryProduct("zumo", "Zumo de naranja natural", None, "Bebidas", 2.90),
    BakeryProduct("milhojas", "Milhojas", None, "Pastelería", 2.90),
]
ROSCONES = [BakeryProduct("roscon", "Roscón de Reyes", None, "Pastelería", 22.0),
            BakeryProduct("roscon-nata", "Roscón de Reyes con nata", None, "Pastelería", 26.0)]
CAFES = [BakeryProduct("solo", "Café solo", None, "Cafetería", 1.30),
         BakeryProduct("leche", "Café con leche", None, "Cafetería", 1.60)]
MAGDALENAS = [BakeryProduct("pack", "Magdalenas (6 uds)", None, "Bollería", 3.50),
              BakeryProduct("single", "Magdalena", None, "Bollería", 0.65)]


def pos(*names: str, price: float | None = None) -> list[PosProduct]:
    return [PosProduct("square", f"p{i}", name, None, None, price) for i, name in enumerate(names)]


def decided(names: list[str], catalog: list[BakeryProduct], price: float | None = None) -> dict[str, tuple]:
    return {n: (s.decision, s.bakery_product_id) for n, s in zip(names, suggest(pos(*names, price=price), catalog),
                                                                  strict=True)}


# ---------------------------------------------------------------------------- "relleno de" = "con"
def test_filled_with_reads_as_with() -> None:
    normalise = Normalizer(build_synonyms())
    assert normalise("Roscón relleno de nata").tokens == normalise("Roscón con nata").tokens
    assert normalise("Napolitana rellena de crema").tokens == ("napolitana", "crema")
    assert normalise("Croissant farcit de xocolata").tokens == ("croissant", "chocolate")
    assert normalise("Croissant relleno").tokens == ("croissant", "relleno")  # alone it is a word of its own
    got = decided(["Roscón relleno de nata"], [*FILLER, *ROSCONES])
    assert got["Roscón relleno de nata"] == ("auto", "roscon-nata")


def test_a_filled_product_is_not_the_plain_one() -> None:
    got = decided(["Croissant relleno"], [*FILLER, BakeryProduct("croissant", "Croissant")])
    assert got["Croissant relleno"][0] != "auto"


# ---------------------------------------------------------------------------- doble: a serving size
def test_double_is_a_size_not_a_word() -> None:
    normalise = Normalizer(build_synonyms())
    assert normalise("Cafe solo doble").tokens == ("cafe", "solo") and normalise("Cafe solo doble").grade == "L"
    got = decided(["Cafe solo doble", "Café con leche doble", "Café doble"], [*FILLER, *CAFES])
    assert got["Cafe solo doble"] == ("auto", "solo")
    assert got["Café con leche doble"] == ("auto", "leche")
    assert got["Café doble"][0] == "review"  # still says neither twin


def test_double_before_a_word_is_part_of_the_product() -> None:
    normalise = Normalizer(build_synonyms())
    assert normalise("Magdalena doble chocolate").tokens == ("magdalena", "doble", "chocolate")
    assert normalise("Magdalena doble chocolate").grade is None
    assert normalise("Triple chocolate muffin").tokens == ("triple", "chocolate", "magdalena")
    catalog = [*FILLER, BakeryProduct("magd-choc", "Magdalena de chocolate")]
    assert decided(["Triple chocolate muffin"], catalog) == {"Triple chocolate muffin": ("review", None)}


def test_a_double_twin_in_the_catalog_needs_the_size_said() -> None:
    catalog = [*FILLER, BakeryProduct("solo", "Café solo"), BakeryProduct("doble", "Café solo doble")]
    got = decided(["Café solo", "Café solo doble"], catalog)
    assert got["Café solo doble"] == ("auto", "doble")
    assert got["Café solo"] != ("auto", "doble")


# ---------------------------------------------------------------------------- implied words
def test_the_head_word_of_the_only_product_implies_the_rest() -> None:
    got = decided(["Hogaza"], [*FILLER, BakeryProduct("hogaza", "Hogaza de masa madre")])
    assert got["Hogaza"] == ("auto", "hogaza")


def test_the_plain_one_of_a_family_is_implied_but_not_across_twins() -> None:
    got = decided(["Roscón", "Roscón nata", "Café", "Napolitana"],
                  [*FILLER, *ROSCONES, *CAFES, BakeryProduct("napo-choc", "Napolitana de chocolate"),
                   BakeryProduct("napo-crema", "Napolitana de crema")])
    assert got["Roscón"] == ("auto", "roscon")  # every roscón is "de Reyes": "Roscón" is the plain one
    assert got["Roscón nata"] == ("auto", "roscon-nata")  # completes the compound "roscón de reyes"
    assert got["Café"][0] == "review"  # solo and con leche share only "café"
    assert got["Napolitana"][0] == "review"  # chocolate or crema: nothing implied


def coverage(name: str, catalog: list[BakeryProduct]) -> tuple[float, float]:
    """(the confidence feature, the raw share of the best product's name the POS name says)."""
    [a] = Matcher(catalog).assess(pos(name))
    return a.features.cat_coverage, a.ranked[0].match.cat_coverage


def test_a_modifier_said_does_not_imply_another_modifier() -> None:
    """A name that says a modifier may be a product of its own when the catalog only sells it with a
    second one (``Brioche integral`` is not ``Brioche integral y jamón``), and a word that is not
    the product's head implies nothing: no implied words for either."""
    catalog = [*FILLER, BakeryProduct("brioche", "Brioche integral y jamón"),
               BakeryProduct("hogaza", "Hogaza de masa madre")]
    for name in ("Brioche integral", "Madre"):
        feature, raw = coverage(name, catalog)
        assert feature == raw < 1.0, name
    assert decided(["Madre"], catalog)["Madre"][0] != "auto"
    feature, raw = coverage("Hogaza", catalog)
    assert feature > raw  # the head word: the rest is implied


def test_a_compound_is_completed_only_when_the_catalog_always_writes_it_whole() -> None:
    catalog = [*FILLER, BakeryProduct("queso-fresa", "Tarta de queso con fresa"),
               BakeryProduct("santiago", "Tarta de Santiago")]
    feature, raw = coverage("Tarta fresa", catalog)  # "tarta" is not always "tarta de queso" here
    assert feature == raw < 1.0
    feature, raw = coverage("Roscón nata", [*FILLER, *ROSCONES])  # every roscón is "de Reyes"
    assert feature > raw


# ---------------------------------------------------------------------------- price tells quantity twins
def test_price_tells_a_pack_from_a_single_when_the_name_says_no_count() -> None:
    catalog = [*FILLER, *MAGDALENAS]
    assert decided(["MAGDALENAS"], catalog, price=3.50)["MAGDALENAS"] == ("auto", "pack")
    assert decided(["Magdalenas"], catalog, price=0.65)["Magdalenas"] == ("auto", "single")
    assert decided(["MAGDALENAS"], catalog)["MAGDALENAS"][0] == "review"  # no price: still ambiguous
    assert decided(["MAGDALENAS"], catalog, price=1.60)["MAGDALENAS"][0] == "review"  # near neither
    # a name that states the other quantity is never overruled by its price
    assert decided(["Magdalena unidad"], catalog, price=3.50)["Magdalena unidad"] != ("auto", "pack")
    assert decided(["Magdalenas 6 uds"], catalog, price=0.65)["Magdalenas 6 uds"] != ("auto", "single")


def test_price_never_tells_flavour_twins_apart() -> None:
    catalog = [*FILLER, *CAFES]
    got = decided(["Café"], catalog, price=1.30)
    assert got["Café"][0] == "review"
    catalog = [*FILLER, BakeryProduct("queso", "Tarta de queso", None, None, 21.0),
               BakeryProduct("santiago", "Tarta de Santiago", None, None, 6.0)]
    assert decided(["Tarta"], catalog, price=21.0)["Tarta"][0] == "review"


# ---------------------------------------------------------------------------- issue #13: the synthetic set's wrong auto-maps
def sku_decided(name: str, sku: str, catalog: list[BakeryProduct]) -> tuple:
    [s] = suggest([PosProduct("square", "p0", name, sku)], catalog)
    return s.decision, s.bakery_product_id, s.reason


def test_only_the_dotted_occurrence_of_a_word_is_an_abbreviation() -> None:
    """``Lemon and milk Milk.``: the first ``milk`` is milk, only the dotted one cuts ``milkshake``."""
    normalise = Normalizer(build_synonyms())
    assert set(normalise("Lemon and milk Milk.").tokens) == {"limon", "leche", "batido"}
    catalog = [*FILLER, BakeryProduct("batido-limon", "Batido de limón"),
               BakeryProduct("batido-limon-leche", "Batido de limón y leche")]
    assert decided(["Lemon and milk Milk."], catalog) == {"Lemon and milk Milk.": ("auto", "batido-limon-leche")}


def test_a_phrase_that_read_word_by_word_is_another_product_is_not_auto_mapped() -> None:
    """``Chocolate croissant`` is a napolitana by the synonym table, and word by word the catalog's
    ``Croissant de chocolate``: when both are sold it is ambiguous."""
    both = [*FILLER, BakeryProduct("napo", "Napolitana de chocolate"),
            BakeryProduct("croissant-choc", "Croissant de chocolate")]
    got = decided(["Chocolate croissant", "Pain au chocolat", "Croissant de chocolate"], both)
    assert got["Chocolate croissant"] == ("review", None)
    assert got["Pain au chocolat"] == ("auto", "napo")  # word by word it is "pan chocolate": no product
    assert got["Croissant de chocolate"] == ("auto", "croissant-choc")
    only_napolitana = [*FILLER, BakeryProduct("napo", "Napolitana de chocolate")]
    assert decided(["Chocolate croissant"], only_napolitana) == {"Chocolate croissant": ("auto", "napo")}


def test_a_sku_does_not_overrule_a_name_that_says_none_of_its_words() -> None:
    catalog = [*FILLER, BakeryProduct("tarta-manzana", "Tarta de manzana")]
    ensaimada = next(p for p in FILLER if p.bakery_product_id == "ensaimada")
    catalog[FILLER.index(ensaimada)] = BakeryProduct("ensaimada", "Ensaimada", "BOL-ENSAIMADA", "Bollería", 1.90)
    assert sku_decided("Cerveza fría", "BOL-ENSAIMADA", catalog) == ("review", None, "sku-name")
    assert sku_decided("Ensaïmada mallorquina", "BOL-ENSAIMADA", catalog)[:2] == ("auto", "ensaimada")
    # words nobody reads (a till in another language) contradict nothing: the SKU decides
    assert sku_decided("Xyzzy plugh", "BOL-ENSAIMADA", catalog)[:2] == ("auto", "ensaimada")


def test_an_unread_word_may_name_the_more_specific_product() -> None:
    """``Fig napolitana de crema``: ``fig`` is a word nobody reads, and the catalog sells that
    napolitana with one word more; a misspelt size word (``grnde``) names no product."""
    catalog = [*FILLER, BakeryProduct("napo", "Napolitana de crema"),
               BakeryProduct("napo-higo", "Napolitana de crema e higo")]
    got = decided(["Fig napolitana de crema", "Napolitana de crema grnde"], catalog)
    assert got["Fig napolitana de crema"] == ("review", None)
    assert got["Napolitana de crema grnde"] == ("auto", "napo")


def test_a_product_word_the_name_neither_says_nor_implies_blocks_auto_mapping() -> None:
    """``Caracola de mantequilla`` against ``Caracola de mantequilla y queso`` (and a plain
    ``Caracola``): a product the catalog may lack. A generic name (the product's head) and a
    misspelt word are not missing words."""
    catalog = [*FILLER, BakeryProduct("caracola", "Caracola"),
               BakeryProduct("caracola-mq", "Caracola de mantequilla y queso"),
               BakeryProduct("cafe-nueces", "Café de nueces")]
    got = decided(["Caracola de mantequilla", "Caracola de mantequilla y queso", "Café de nuece."], catalog)
    assert got["Caracola de mantequilla"] == ("review", None)
    assert got["Caracola de mantequilla y queso"] == ("auto", "caracola-mq")
    assert got["Café de nuece."] == ("auto", "cafe-nueces")
    only = [*FILLER, BakeryProduct("roscon-nata", "Roscón de Reyes con nata")]
    assert decided(["Roscón de Reyes"], only) == {"Roscón de Reyes": ("auto", "roscon-nata")}


BASES = ["Pan", "Tarta", "Bizcocho", "Galleta", "Donut", "Palmera", "Trenza", "Hojaldre"]
FLAVOURS = ["chocolate", "fresa", "limón", "naranja", "canela", "coco", "miel", "nata", "queso", "manzana", "almendra",
            "vainilla", "frambuesa", "avena", "espelta", "yogur", "higo", "atún", "jamón", "maíz", "trufa", "pistacho",
            "calabaza", "zanahoria", "caramelo"]
LARGE = [BakeryProduct(f"{b}-{f}", f"{b} de {f}") for b in BASES for f in FLAVOURS]  # 200: retrieval, not all scored


def retrieved(names: list[str], catalog: list[BakeryProduct]) -> list[set[str]]:
    matcher = Matcher(catalog)
    index = matcher.index
    return [{index.ids[i] for i in found} for found in index.retrieve([index.normalizer(n) for n in names])]


def test_retrieval_brings_the_twins_with_the_same_words_and_every_word_a_cut_may_be() -> None:
    """A twin with the same words as a retrieved product (``Napolitana de vainilla 500g``), and every
    product with a word an ambiguous cut may stand for (``man.``: manzana, mantequilla), are scored."""
    napolitanas = [BakeryProduct(f"napo-{k}", f"Napolitana de vainilla {size}".strip())
                   for k, size in enumerate(("", "familiar", "(docena)", "grande", "500g"))]
    catalog = [*LARGE, *(BakeryProduct(f"boc-{f}", f"Bocadillo de {f}") for f in FLAVOURS),
               BakeryProduct("boc-mantequilla", "Bocadillo de mantequilla"), *napolitanas]
    assert len(catalog) > 150  # above SMALL_CATALOG: candidates are retrieved
    napo, boc = retrieved(["Napol. de vainilla 500g", "Bocadillo de man."], catalog)
    assert {p.bakery_product_id for p in napolitanas} <= napo
    assert {"boc-manzana", "boc-mantequilla"} <= boc
    napo_500, bocadillo = suggest(pos("Napol. de vainilla 500g", "Bocadillo de man."), catalog)
    assert napo_500.candidates[0][0] == "napo-4" and napo_500.bakery_product_id in (None, "napo-4")
    assert (bocadillo.decision, bocadillo.bakery_product_id) == ("review", None)


def test_a_three_letter_cut_is_never_enough_to_auto_map() -> None:
    """``Bri.`` starts only ``brioche`` among the words we know, but a till may cut a word we do not
    know (Catalan *brioix* is a bollo too): three letters go to review; longer cuts resolve."""
    catalog = [*FILLER, BakeryProduct("brioche", "Brioche"), BakeryProduct("bollo", "Bollo"),
               BakeryProduct("brioche-v", "Brioche de vainilla"), BakeryProduct("bollo-v", "Bollo de vainilla")]
    got = decided(["Bri.", "Bri. de vainilla", "Brioc. de vainilla"], catalog)
    assert got["Bri."] == ("review", None)
    assert got["Bri. de vainilla"] == ("review", None)
    assert got["Brioc. de vainilla"] == ("auto", "brioche-v")
    normalise = Normalizer(build_synonyms())
    assert normalise("Zumo nar.").tokens == ("zumo", "naranja")  # a cut that is a known word still reads


def test_a_misspelling_near_two_catalog_words_tells_neither_apart() -> None:
    """``Tareta amb llavors``: *tarta* (nearest) or *tartaleta* con semillas, both sold."""
    catalog = [*FILLER, BakeryProduct("tarta-s", "Tarta con semillas"), BakeryProduct("tartaleta-f", "Tartaleta de fresa")]
    assert decided(["Tareta amb llavors"], catalog) == {"Tareta amb llavors": ("auto", "tarta-s")}
    catalog.append(BakeryProduct("tartaleta-s", "Tartaleta con semillas"))
    got = decided(["Tareta amb llavors", "Tarta con semillas", "Tartaleta con semillas"], catalog)
    assert got["Tareta amb llavors"] == ("review", None)
    assert got["Tarta con semillas"] == ("auto", "tarta-s")
    assert got["Tartaleta con semillas"] == ("auto", "tartaleta-s")
