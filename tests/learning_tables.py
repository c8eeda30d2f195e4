"""Two small tables on which the weighted mean pre-selects the wrong candidate: each
person's true record often lives in another city, and a decoy of another name lives in
theirs. Reviewers' decisions teach that the name matters more than the city."""

from __future__ import annotations

import pandas as pd

from matching.engine.spec import Field, Spec

FIRST = [
    "Anna",
    "Boris",
    "Clara",
    "Dmitri",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Irene",
    "Jonas",
    "Karla",
    "Lukas",
    "Mira",
    "Nils",
    "Olga",
    "Pavel",
    "Rosa",
    "Sven",
    "Tara",
    "Umberto",
]
LAST = [
    "Albrecht",
    "Brandt",
    "Castell",
    "Dorn",
    "Eckert",
    "Falk",
    "Gruber",
    "Hahn",
    "Iser",
    "Jansen",
    "Kessler",
    "Lorenz",
    "Moser",
    "Nagel",
    "Ostrow",
    "Prinz",
    "Quast",
    "Ritter",
    "Stein",
    "Thal",
]
DECOY = ["Wilhelmina Zabrowski", "Xaver Yilmaz", "Yvonne Wachowiak", "Zeno Varga"]
CITIES = ["Bern", "Graz", "Linz", "Basel", "Chur", "Wels", "Thun", "Biel", "Zug", "Steyr"]

SPEC = Spec(
    fields=(Field("name", scorer="ratio"), Field("city", scorer="exact")),
    left_id="id",
    right_id="id",
)
KEEP, SELECT = 0.3, 0.55


def tables(people: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``left`` (one row a person) and ``right`` (each person's true record ``T<i>``, whose
    city differs for three people in four, and a decoy ``D<i>`` of another name in the
    person's city)."""
    left, right = [], []
    for i in range(people):
        name = f"{FIRST[i % len(FIRST)]} {LAST[(3 * i) % len(LAST)]}"
        city = CITIES[i % len(CITIES)]
        moved = CITIES[(i + 1) % len(CITIES)] if i % 4 else city
        left.append({"id": f"P{i:02d}", "name": name, "city": city})
        right.append({"id": f"T{i:02d}", "name": name, "city": moved})
        right.append({"id": f"D{i:02d}", "name": DECOY[i % len(DECOY)], "city": city})
    return pd.DataFrame(left), pd.DataFrame(right)
