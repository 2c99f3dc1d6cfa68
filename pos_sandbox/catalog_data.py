"""Static reference data of the bakery world: the internal product catalog, names, places."""

from __future__ import annotations

# (sku, name, category, vat %, price EUR cents tax included, by_weight, popularity weight)
# VAT: bread 4 % (superreducido), pastries and coffee served 10 %, soft drinks/packaged 10 %,
# alcohol-free "especial" items at 21 % (e.g. gift boxes) so all three rates occur.
PRODUCTS: tuple[tuple[str, str, str, int, int, bool, int], ...] = (
    ("PAN-BARRA-250", "Barra de pan", "Panadería", 4, 110, False, 40),
    ("PAN-BAGUETTE", "Baguette", "Panadería", 4, 130, False, 18),
    ("PAN-INTEGRAL", "Pan integral", "Panadería", 4, 210, False, 10),
    ("PAN-CENTENO", "Pan de centeno", "Panadería", 4, 260, False, 5),
    ("PAN-HOGAZA-KG", "Hogaza de masa madre", "Panadería", 4, 520, True, 8),
    ("PAN-CHAPATA", "Chapata", "Panadería", 4, 140, False, 8),
    ("PAN-MOLDE", "Pan de molde", "Panadería", 4, 290, False, 5),
    ("PAN-PAYES-KG", "Pan payés", "Panadería", 4, 480, True, 5),
    ("PAN-SEMILLAS", "Pan de semillas", "Panadería", 4, 240, False, 6),
    ("PAN-PICOS", "Picos de pan", "Panadería", 4, 180, False, 3),
    ("BOL-CROISSANT", "Croissant", "Bollería", 10, 140, False, 25),
    ("BOL-NAPO-CHOC", "Napolitana de chocolate", "Bollería", 10, 160, False, 18),
    ("BOL-ENSAIMADA", "Ensaimada", "Bollería", 10, 190, False, 8),
    ("BOL-MAGDALENAS", "Magdalenas (6 uds)", "Bollería", 10, 350, False, 7),
    ("BOL-CARACOLA", "Caracola de crema", "Bollería", 10, 170, False, 5),
    ("BOL-PALMERA", "Palmera de chocolate", "Bollería", 10, 180, False, 6),
    ("BOL-DONUT", "Donut glaseado", "Bollería", 10, 150, False, 7),
    ("BOL-CRUASAN-MANT", "Croissant de mantequilla", "Bollería", 10, 175, False, 9),
    ("BOL-TORRIJA", "Torrija", "Bollería", 10, 220, False, 3),
    ("BOL-ROSCON", "Roscón de Reyes", "Pastelería", 10, 2200, False, 1),
    ("PAS-TARTA-SANTIAGO", "Tarta de Santiago", "Pastelería", 10, 1850, False, 2),
    ("PAS-TARTA-QUESO", "Tarta de queso", "Pastelería", 10, 2100, False, 2),
    ("PAS-MILHOJAS", "Milhojas", "Pastelería", 10, 290, False, 4),
    ("PAS-PALMERITAS-KG", "Palmeritas al peso", "Pastelería", 10, 1890, True, 3),
    ("PAS-CHURROS", "Churros (docena)", "Pastelería", 10, 300, False, 5),
    ("PAS-BRAZO", "Brazo de gitano", "Pastelería", 10, 1250, False, 1),
    ("PAS-EMPANADA", "Empanada gallega (porción)", "Pastelería", 10, 320, False, 6),
    ("PAS-CAJA-REGALO", "Caja regalo surtido", "Pastelería", 21, 2490, False, 1),
    ("CAF-CON-LECHE", "Café con leche", "Cafetería", 10, 160, False, 30),
    ("CAF-SOLO", "Café solo", "Cafetería", 10, 130, False, 15),
    ("CAF-CORTADO", "Cortado", "Cafetería", 10, 140, False, 12),
    ("CAF-CAPUCHINO", "Capuchino", "Cafetería", 10, 210, False, 8),
    ("CAF-COLACAO", "Cola Cao", "Cafetería", 10, 190, False, 5),
    ("CAF-TE", "Té verde", "Cafetería", 10, 170, False, 4),
    ("CAF-CHOCOLATE", "Chocolate a la taza", "Cafetería", 10, 240, False, 5),
    ("CAF-TOSTADA", "Tostada con tomate", "Cafetería", 10, 250, False, 9),
    ("BEB-ZUMO-NARANJA", "Zumo de naranja natural", "Bebidas", 10, 290, False, 7),
    ("BEB-AGUA", "Agua mineral 50cl", "Bebidas", 10, 120, False, 6),
    ("BEB-REFRESCO", "Refresco de cola", "Bebidas", 10, 200, False, 4),
    ("BEB-BATIDO", "Batido de chocolate", "Bebidas", 21, 230, False, 2),
)

# Products added to POS catalogs during a window (seasonal / new lines)
LATE_ADDITIONS = ("BOL-ROSCON", "BOL-TORRIJA", "PAS-CAJA-REGALO")

# Modifier options for coffee drinks: (name, price cents)
COFFEE_MODIFIERS: tuple[tuple[str, int], ...] = (
    ("Leche de avena", 30),
    ("Leche sin lactosa", 20),
    ("Doble", 50),
    ("Descafeinado", 0),
    ("Para llevar", 10),
)

ABBREVIATIONS = {
    "de": "",
    "chocolate": "choc",
    "integral": "integ.",
    "napolitana": "napo",
    "croissant": "croiss.",
    "mantequilla": "mant.",
    "magdalenas": "magd.",
    "centeno": "cent.",
    "semillas": "semill.",
    "tarta": "trta",
    "naranja": "nar.",
    "porción": "porc.",
    "surtido": "surt.",
    "natural": "nat.",
    "leche": "lch",
}

GIVEN_NAMES = (
    "Lucía", "María", "Carmen", "Ana", "Laura", "Sofía", "Martina", "Paula", "Elena", "Julia",
    "Hugo", "Martín", "Pablo", "Daniel", "Alejandro", "Javier", "Carlos", "Diego", "Mario", "Álvaro",
    "Emily", "Michael", "Sarah", "David", "Jessica", "James",
)
FAMILY_NAMES = (
    "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Álvarez", "Romero",
    "Navarro", "Torres", "Domínguez", "Smith", "Johnson", "Brown", "Miller",
)

# (city, time zone, country, currency, prices include tax, sales tax %, postal code, street)
PLACES = {
    "madrid-centro": ("Madrid", "Europe/Madrid", "ES", "EUR", True, "0", "28013", "Calle Mayor 12"),
    "madrid-chamberi": ("Madrid", "Europe/Madrid", "ES", "EUR", True, "0", "28010", "Calle Fuencarral 140"),
    "madrid-retiro": ("Madrid", "Europe/Madrid", "ES", "EUR", True, "0", "28009", "Calle Ibiza 22"),
    "las-palmas": ("Las Palmas de Gran Canaria", "Atlantic/Canary", "ES", "EUR", True, "0", "35002", "Calle Triana 60"),
    "santa-cruz": ("Santa Cruz de Tenerife", "Atlantic/Canary", "ES", "EUR", True, "0", "38002", "Calle del Castillo 31"),
    "new-york": ("New York", "America/New_York", "US", "USD", False, "8.875", "10014", "212 Bleecker St"),
    "brooklyn": ("Brooklyn", "America/New_York", "US", "USD", False, "8.875", "11211", "95 Wythe Ave"),
    "barcelona": ("Barcelona", "Europe/Madrid", "ES", "EUR", True, "0", "08002", "Carrer de Ferran 25"),
    "valencia": ("Valencia", "Europe/Madrid", "ES", "EUR", True, "0", "46002", "Carrer de la Pau 7"),
    "sevilla": ("Sevilla", "Europe/Madrid", "ES", "EUR", True, "0", "41004", "Calle Sierpes 48"),
    "zaragoza": ("Zaragoza", "Europe/Madrid", "ES", "EUR", True, "0", "50001", "Calle Alfonso I 15"),
    "bilbao": ("Bilbao", "Europe/Madrid", "ES", "EUR", True, "0", "48005", "Calle Somera 9"),
}

# Holidays (month, day) with a sales factor; 0 = closed
HOLIDAYS = {
    (1, 1): 0.0,
    (1, 5): 1.6,  # víspera de Reyes: roscón
    (1, 6): 1.3,
    (12, 24): 1.5,
    (12, 25): 0.0,
    (12, 31): 1.4,
    (5, 1): 0.6,
    (8, 15): 0.7,
    (10, 12): 0.8,
    (11, 1): 0.8,
    (12, 6): 0.9,
    (12, 8): 0.9,
}

WEEKDAY_FACTOR = (0.92, 0.9, 0.93, 0.97, 1.08, 1.32, 1.15)  # Monday .. Sunday

# Share of a day's sales per local opening hour, from 07:00 (padded/truncated to opening hours)
HOURLY_WEIGHTS = (7, 11, 12, 10, 8, 7, 8, 6, 5, 6, 8, 7, 4, 2, 1, 1, 1)
