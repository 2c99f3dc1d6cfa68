"""The bakery vocabulary in Spanish, English and Catalan, and the phrase rewriting that uses it.

:data:`DEFAULT_SYNONYMS` maps a *canonical phrase* (Spanish, already in normalised form: no
accents, no stop words, singular) to the ways tills write it in the three languages. Names on both
sides (POS and catalog) are rewritten to canonical phrases, so ``Latte``, ``Cafè amb llet`` and
``Café con leche`` all become ``cafe leche``, and ``Butter croissant`` / ``Croissant de mantega``
become ``croissant mantequilla`` word by word. Rewriting is longest phrase first, so ``pain au
chocolat`` wins over ``chocolat`` and ``cola cao`` over ``cola``.

A tenant extends the table with its own entries (``{"canonical": ["variant", ...]}``; a variant
already known moves to the tenant's canonical phrase). Words that are related but are *not* the
same product (a baguette is not a barra de pan when the catalog sells both) are in
:data:`RELATED`: they count as a partial match, never as an exact one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from transforms.mapping.text import basic_tokens, fold

SynonymGroups = Mapping[str, Iterable[str]]

DEFAULT_SYNONYMS: dict[str, tuple[str, ...]] = {
    # ------------------------------------------------------------------ bread
    "pan": ("bread", "pa", "pain", "panes"),
    "barra pan": ("barra", "barra de pan", "pan de barra", "pa de barra", "barra de pa", "bread loaf", "loaf",
                  "loaf of bread", "french loaf", "barra de cuarto", "pistola"),
    "baguette": ("baguete", "french stick", "baguetina"),
    "integral": ("wholemeal", "wholewheat", "whole wheat", "whole grain", "wholegrain", "integral"),
    "centeno": ("rye", "segol", "seigle"),
    "masa madre": ("sourdough", "massa mare", "levain", "levadura madre"),
    "hogaza": ("country loaf", "rustic loaf", "boule", "fogassa", "hogaza", "pagnotta"),
    "chapata": ("ciabatta", "xapata", "chapatta"),
    "molde": ("motlle", "bimbo"),
    "pan molde": ("sandwich bread", "sliced bread", "sandwich loaf", "pan bimbo", "pa de motlle", "pan de sandwich"),
    "pan payes": ("pa de pages", "pan de pages", "pages bread", "catalan country bread", "pa pages"),
    "payes": ("pages",),
    "semilla": ("seed", "seeded", "llavor", "multigrain", "multicereal", "cereales", "multigrano"),
    "pico pan": ("pico", "picos de pan", "breadstick", "bread stick", "grissini", "colin", "rosquilleta", "regana"),
    # ------------------------------------------------------------------ pastries
    "croissant": ("cruasan", "cruassan", "cruassant", "croisan", "croissan", "cruasant", "curasan"),
    "mantequilla": ("butter", "mantega", "beurre", "manteca"),
    "napolitana chocolate": ("pain au chocolat", "chocolate croissant", "chocolatine", "napolitana de xocolata"),
    "chocolate": ("xocolata", "chocolat", "xoco", "cacao", "cocoa"),
    "crema": ("custard", "cream", "crema pastelera", "creme"),
    "nata": ("whipped cream", "chantilly", "nata montada", "fresh cream"),
    "ensaimada": ("ensaimada mallorquina", "ensaimada de mallorca", "ensaimadas"),
    "magdalena": ("madalena", "muffin", "magdalenas", "madalenas", "magdalenes", "madalenes", "magdalene"),
    "caracola": ("snail", "cargol", "espiral", "caragol", "caracol"),
    "palmera": ("palmier", "elephant ear", "palmera de hojaldre", "orella"),
    "palmerita": ("mini palmier", "palmeret", "palmereta", "palmeritas"),
    "donut": ("doughnut", "dount", "dunut", "donuts"),
    "glaseado": ("glazed", "glasejat", "glaseada", "glace", "iced"),
    "torrija": ("french toast", "torrada de santa teresa", "torrijas"),
    "roscon reyes": ("king cake", "kings cake", "king s cake", "three kings cake", "tortell de reis", "tortell reis",
                     "rosco de reyes", "roscon de reyes", "three kings bread", "kings bread"),
    "reyes": ("reis", "kings", "rei"),
    "tarta": ("cake", "pastis", "torta", "tart", "gateau"),
    "tarta queso": ("cheesecake", "cheese cake", "pastis de formatge", "tarta de formatge"),
    "queso": ("cheese", "formatge", "fromage"),
    "tarta santiago": ("santiago cake", "pastis de santiago", "torta de santiago", "almond cake from santiago",
                       "galician almond cake", "st james cake", "saint james cake"),
    "milhojas": ("mille feuille", "millefeuille", "mil fulls", "milfulls", "milfull", "mil hojas", "napoleon"),
    "churro": ("xurro", "churros", "xurros"),
    "brazo gitano": ("swiss roll", "bras de gitano", "brac de gitano", "brazo de gitano", "jelly roll",
                     "brac gitano"),
    "empanada gallega": ("galician empanada", "galician pie", "empanada galega"),
    "porcion": ("portion", "slice", "porcio", "racion", "trozo", "porc", "tros", "piece", "porcion"),
    "caja regalo": ("gift box", "caixa regal", "caixa de regal", "caja de regalo", "giftbox", "regalo caja"),
    "surtido": ("assorted", "assortit", "assortida", "variado", "variada", "variat", "variada", "mixed", "surt",
                "selection", "seleccion"),
    "entera": ("whole", "sencera", "sencer", "entero", "completa"),
    "galleta": ("cookie", "biscuit", "galeta", "galetes"),
    # ------------------------------------------------------------------ fillings and flavours
    "almendra": ("almond", "ametlla"),
    "manzana": ("apple", "poma"),
    "fresa": ("strawberry", "maduixa"),
    "limon": ("lemon", "llimona"),
    "frambuesa": ("raspberry", "gerd"),
    "arandano": ("blueberry", "nabiu"),
    "canela": ("cinnamon",),
    "jamon": ("ham", "pernil"),
    "espelta": ("spelt",),
    "maiz": ("corn", "blat de moro"),
    "vainilla": ("vanilla",),
    "sin gluten": ("gluten free", "sense gluten", "glutenfree"),
    # ------------------------------------------------------------------ coffee and tea
    "cafe": ("coffee", "caffe", "cafe"),
    "leche": ("milk", "llet", "lait", "lch"),
    "cafe leche": ("latte", "cafe latte", "caffe latte", "white coffee", "cafe au lait", "cafe amb llet",
                   "cafe con leche", "coffee with milk", "cafe llet"),
    "cafe solo": ("espresso", "expresso", "black coffee", "cafe sol", "cafe expres", "cafe expresso", "short black",
                  "cafe negro", "cafe solo corto"),
    "cortado": ("tallat", "cafe cortado", "cafe tallat", "cortadito", "noisette"),
    "capuchino": ("cappuccino", "caputxino", "capuccino", "cappucino", "capucino"),
    "colacao": ("cola cao", "cola-cao", "colacao"),
    "te": ("tea",),
    "verde": ("green", "verd"),
    "chocolate taza": ("hot chocolate", "xocolata desfeta", "xocolata calenta", "chocolate caliente", "hot cocoa",
                       "chocolate a la taza", "xocolata a la tassa", "drinking chocolate"),
    "taza": ("tassa",),
    "tostada": ("toast", "torrada", "tostadita"),
    "tomate": ("tomato", "tomaquet"),
    "tostada tomate": ("pan con tomate", "pa amb tomaquet", "tomato toast", "pan tumaca", "pa amb tomata"),
    # ------------------------------------------------------------------ drinks
    "zumo": ("juice", "suc", "jugo"),
    "naranja": ("orange", "taronja", "nar"),
    "natural": ("fresh squeezed", "freshly squeezed", "recien exprimido", "natural", "nat"),
    "zumo naranja natural": ("fresh orange juice", "orange juice fresh", "suc de taronja natural",
                             "zumo de naranja natural", "freshly squeezed orange juice", "fresh squeezed orange juice"),
    "agua": ("water", "aigua", "eau"),
    "agua mineral": ("still water", "mineral water", "aigua mineral", "agua sin gas", "water still"),
    "gas": ("sparkling", "fizzy", "carbonated"),
    "refresco": ("soda", "soft drink", "refresc", "pop"),
    "refresco cola": ("cola", "coke", "coca cola", "cola drink", "refresc de cola", "pepsi", "cocacola"),
    "batido": ("milkshake", "shake", "batut", "batuda"),
}

# bakery words that are no synonym of anything: known words are never read as typos of each other
# (``fresa`` is not a typo of ``fresca``)
DICTIONARY = frozenset(["fresa", "limon", "manzana", "almendra", "canela", "frambuesa", "arandano", "nuez", "avellana", "coco", "vainilla", "fruta", "fruto", "pistacho", "higo", "pera", "platano", "melocoton", "albaricoque", "cereza", "mora", "calabaza", "zanahoria", "pasa", "datil", "miel", "azucar", "glas", "sal", "aceite", "oliva", "jamon", "york", "serrano", "atun", "pollo", "vegetal", "mixto", "bocadillo", "sandwich", "galleta", "bizcocho", "brownie", "cookie", "pastel", "mini", "relleno", "rellena", "hojaldre", "bollo", "brioche", "berlina", "cupcake", "macchiato", "pepita", "sesamo", "amapola", "girasol", "espelta", "avena", "maiz", "trigo", "kamut", "gluten", "lactosa", "vegano", "vegana", "bolsa", "tarjeta", "regalo", "vino", "cerveza", "propina", "envio", "domicilio", "servicio", "cubierto", "suplemento", "extra", "doble", "triple", "descafeinado", "avena", "soja", "periodico", "revista", "tabaco", "hielo", "taza", "vaso", "botella", "lata", "zumo", "limonada", "horchata", "granizado", "helado", "yogur", "flan", "natilla", "arroz", "coca", "llardon", "crujiente", "salado", "dulce", "blanco", "negro", "rojo", "tostado", "fresco", "fresca", "frio", "fria", "caliente", "templado", "relleno", "integral", "rustico", "payes", "chapata", "focaccia", "pizza", "quiche", "empanadilla", "croqueta", "tortilla", "patata", "huevo", "queso", "crema", "trufa", "moka", "caramelo", "dulce", "leche", "condensada", "sobao", "quesada", "carquinyoli", "panellet", "bunyol", "tortell", "coca", "pastisset", "rosquilla", "mantecado", "polvoron", "turron", "card", "gift", "bag", "paper", "plastic", "delivery", "fee", "tip", "service", "charge", "bottle", "can", "beer", "wine", "ice", "cream", "lemonade"])

# word pairs that are near but not the same product: a partial match (score RELATED_SCORE)
RELATED: tuple[tuple[str, str], ...] = (
    ("baguette", "barra"), ("palmera", "palmerita"), ("magdalena", "cupcake"), ("donut", "berlina"),
    ("cortado", "macchiato"),
)
RELATED_SCORE = 0.75

# category names of the three tills and of catalogs, in the three languages → one concept
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "panaderia": ("panaderia", "pan", "panes", "bread", "breads", "bakery", "pa", "fleca", "forn", "flequer"),
    "bolleria": ("bolleria", "pastries", "pastry", "brioixeria", "viennoiserie", "bolleria dulce", "dulces",
                 "sweet pastries", "pastisseria salada"),
    "pasteleria": ("pasteleria", "cakes", "cake", "pastisseria", "tartas", "postres", "desserts", "dessert",
                   "reposteria", "pasteles"),
    "cafeteria": ("cafeteria", "coffee", "cafe", "cafes", "hot drinks", "bebidas calientes", "begudes calentes",
                  "cafeteria y te", "coffee tea", "cafe te"),
    "bebidas": ("bebidas", "drinks", "beverages", "begudes", "refrescos", "cold drinks", "bebidas frias",
                "begudes fredes", "soft drinks"),
}
RELATED_CATEGORIES = frozenset({frozenset({"bolleria", "pasteleria"}), frozenset({"cafeteria", "bebidas"}),
                                frozenset({"panaderia", "bolleria"})})


@dataclass(frozen=True)
class SynonymTable:
    """Phrase → canonical phrase, for token lists already folded, de-stopped and singular."""

    phrases: Mapping[tuple[str, ...], tuple[str, ...]]
    longest: Mapping[str, int]  # first word of a variant → the longest variant starting with it
    words: frozenset[str]  # every word of every canonical phrase and variant (known words)

    def rewrite(self, tokens: list[str]) -> list[str]:
        """Replace every variant by its canonical phrase, longest match first, left to right."""
        return self.rewrite_phrased(tokens)[0]

    def rewrite_phrased(self, tokens: list[str]) -> tuple[list[str], bool]:
        """:meth:`rewrite`, and whether a variant of several words was rewritten."""
        phrased = False
        out: list[str] = []
        i, n = 0, len(tokens)
        phrases, longest = self.phrases, self.longest
        while i < n:
            top = longest.get(tokens[i])
            if top is None:
                out.append(tokens[i])
                i += 1
                continue
            for length in range(min(top, n - i), 0, -1):
                found = phrases.get(tuple(tokens[i:i + length]))
                if found is not None:
                    out.extend(found)
                    i += length
                    phrased = phrased or length > 1
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out, phrased

    def literal(self, tokens: list[str]) -> list[str] | None:
        """The word-by-word reading of ``tokens`` (one-word variants only) when a phrase of several
        words rewrote them to other words, else ``None``: ``chocolate croissant`` reads as
        ``napolitana chocolate`` by its phrase, and literally as ``chocolate croissant``."""
        out: list[str] = []
        phrased = False
        phrases, longest = self.phrases, self.longest
        i, n = 0, len(tokens)
        while i < n:
            top = longest.get(tokens[i])
            if top is not None and top > 1:
                for length in range(min(top, n - i), 1, -1):
                    found = phrases.get(tuple(tokens[i:i + length]))
                    if found is not None:
                        phrased = True
                        break
            found = phrases.get((tokens[i],)) if top is not None else None
            out.extend(found if found is not None else (tokens[i],))
            i += 1
        return out if phrased else None


def build_synonyms(extra: SynonymGroups | None = None, *, defaults: bool = True) -> SynonymTable:
    """The default table (unless ``defaults=False``) extended by a tenant's ``{canonical: variants}``.

    Canonical phrases and variants may be written naturally (``"Café con leche"``); they are
    normalised like names. A tenant's entry overrides a default one for the same variant.
    """
    groups: list[tuple[str, Iterable[str]]] = []
    if defaults:
        groups.extend(DEFAULT_SYNONYMS.items())
    if extra:
        groups.extend(extra.items())
    canon_words: set[str] = set()
    for canonical, _ in groups:
        canon_words.update(basic_tokens(fold(canonical)))
    known = frozenset(canon_words)
    phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
    words: set[str] = set(canon_words)
    for canonical, variants in groups:
        target = tuple(basic_tokens(fold(canonical), known))
        if not target:
            continue
        for variant in (canonical, *variants):
            key = tuple(basic_tokens(fold(variant), known))
            if not key or key == target and len(key) == 1:
                continue
            words.update(key)
            phrases[key] = target
    longest: dict[str, int] = {}
    for key in phrases:
        longest[key[0]] = max(longest.get(key[0], 0), len(key))
    return SynonymTable(phrases, longest, frozenset(words))


def category_concept(name: str | None, table: Mapping[str, str]) -> str | None:
    """A category name → its concept (``Pastries`` → ``bolleria``); unknown names stay themselves."""
    if not name:
        return None
    folded = " ".join(basic_tokens(fold(name)))
    return table.get(folded, folded or None)


def category_table() -> dict[str, str]:
    out: dict[str, str] = {}
    for concept, names in CATEGORY_SYNONYMS.items():
        for name in (concept, *names):
            out[" ".join(basic_tokens(fold(name)))] = concept
    return out
