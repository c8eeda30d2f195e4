"""Demo data: the tutorial's car owners and cars, and a seeded generator of larger tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "tutorial_owners",
    "tutorial_cars",
    "GeneratedTables",
    "generate_tables",
    "GENERATED_FIELDS",
]

#: The fields the generated owner and car tables share (names, address, date).
GENERATED_FIELDS = ("given_name", "surname", "street", "city", "postcode", "birth_date")


def tutorial_owners() -> pd.DataFrame:
    """The tutorial's five car owners, as text."""
    return pd.DataFrame(
        {
            "OwnerID": ["1", "2", "3", "4", "5"],
            "OwnerName": ["Alice", "Bob", "Charlie", "David", "Eve"],
            "OwnerSurname": ["Smith", "Johnson", "Brown", "Davis", "Wilson"],
            "OwnerEmail": [
                "alice.smith@example.com",
                "bob.johnson@example.com",
                "charlie.brown@example.com",
                "david.davis@example.com",
                "eve.wilson@example.com",
            ],
        },
        dtype=object,
    )


def tutorial_cars() -> pd.DataFrame:
    """The tutorial's cars 101-105, whose owner names carry case and typo noise."""
    return pd.DataFrame(
        {
            "CarID": ["101", "102", "103", "104", "105"],
            "CarName": [
                "Toyota Corolla",
                "Honda Civic",
                "Ford Focus",
                "BMW 3 Series",
                "Audi A4",
            ],
            "OwnerName": ["alice", "BOB", "Charlie", "Dave", "eve"],
            "OwnerSurname": ["smith", "Jonson", "BROWN", "Davies", "Wilsen"],
        },
        dtype=object,
    )


_GIVEN = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy "
    "Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew "
    "Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy "
    "Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob "
    "Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela "
    "Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine "
    "Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria "
    "Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam Olivia Nathan Joyce Henry Virginia "
    "Zoe Ingrid Mateo Sofia Lucas Chloe Hugo Lea Noah Mila Ethan Ava Leo Nora Oscar Ines"
).split()

_SURNAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
    "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
    "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
    "Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell "
    "Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson "
    "Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera "
    "Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez "
    "McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns "
    "Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt "
    "Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer "
    "Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant "
    "Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight "
    "Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado "
    "Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence "
    "Sandoval Guerrero George Chapman Rios Estrada Ortega Watkins Greene Nunez Wheeler Valdez"
).split()

_STREETS = (
    "Oak Maple Pine Cedar Elm Willow Birch Chestnut Walnut Ash Poplar Spruce Hawthorn Laurel "
    "Church Mill School Station Park High Bridge Castle Market Victoria Albert King Queen "
    "Garden Meadow Orchard River Lake Hill Forest Spring Sunset Harbor Valley Ridge Highland "
    "Green Chapel Manor Abbey Kingsway Princes Regent Grove Brook Fairview Lincoln Franklin "
    "Jefferson Madison Washington Hamilton Clinton Monroe Jackson Wilson Adams Taylor"
).split()
_STREET_KINDS = ["Street", "Road", "Avenue", "Lane", "Drive", "Close", "Way", "Place"]
_CITIES = (
    "Springfield Riverside Franklin Greenville Bristol Clinton Fairview Salem Madison Georgetown "
    "Arlington Ashland Burlington Manchester Milton Oxford Newport Dover Jackson Lexington "
    "Auburn Dayton Hudson Kingston Marion Oakland Winchester Clayton Lancaster Chester Camden "
    "Durham Exeter Hampton Lincoln Vernon Plymouth Richmond Shelby Troy Windsor Berlin "
    "Cleveland Florence Glendale Hanover Lebanon Medford Norwood Portland Sheffield Waverly"
).split()
_CARS = [
    "Toyota Corolla",
    "Honda Civic",
    "Ford Focus",
    "BMW 3 Series",
    "Audi A4",
    "VW Golf",
    "Tesla Model 3",
    "Kia Rio",
    "Renault Clio",
    "Peugeot 208",
    "Skoda Octavia",
    "Mazda 3",
]
_KEYBOARD = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class GeneratedTables:
    """Generated owners (left), cars (right) and the true links between them.

    ``links`` has columns ``left_id, right_id``: each owner has exactly one car;
    some cars (about 10%) belong to no listed owner.
    """

    owners: pd.DataFrame
    cars: pd.DataFrame
    links: pd.DataFrame


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 2:
        return word + _KEYBOARD[rng.integers(26)]
    i = int(rng.integers(len(word)))
    kind = rng.integers(4)
    letter = _KEYBOARD[rng.integers(26)]
    if kind == 0:
        return word[:i] + letter + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + letter + word[i:]
    j = min(i + 1, len(word) - 1)
    chars = list(word)
    chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def _noisy(
    values: np.ndarray,
    rng: np.random.Generator,
    *,
    typo: float,
    case: float,
    missing: float,
    swap: float = 0.0,
) -> np.ndarray:
    out = values.astype(object).copy()
    n = len(out)
    for i in np.flatnonzero(rng.random(n) < typo):
        out[i] = _typo(out[i], rng)
    for i in np.flatnonzero(rng.random(n) < case):
        out[i] = out[i].upper() if rng.random() < 0.5 else out[i].lower()
    for i in np.flatnonzero(rng.random(n) < swap):
        tokens = out[i].split(" ")
        if len(tokens) > 1:
            out[i] = " ".join(tokens[1:] + tokens[:1])
    out[rng.random(n) < missing] = None
    return out


def _people(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    given = np.array(_GIVEN, dtype=object)[rng.integers(len(_GIVEN), size=n)]
    surname = np.array(_SURNAMES, dtype=object)[rng.integers(len(_SURNAMES), size=n)]
    number = rng.integers(1, 400, size=n).astype(str)
    sname = np.array(_STREETS, dtype=object)[rng.integers(len(_STREETS), size=n)]
    skind = np.array(_STREET_KINDS, dtype=object)[rng.integers(len(_STREET_KINDS), size=n)]
    street = np.char.add(
        np.char.add(np.char.add(number, " "), sname.astype(str)),
        np.char.add(" ", skind.astype(str)),
    ).astype(object)
    city = np.array(_CITIES, dtype=object)[rng.integers(len(_CITIES), size=n)]
    # str.zfill per value: np.char.zfill fails on an empty array (no unlinked cars).
    codes = rng.integers(0, 100_000, size=n)
    postcode = np.array([f"{c:05d}" for c in codes.tolist()], dtype=object)
    days = rng.integers(0, 365 * 70, size=n)
    birth = (np.datetime64("1940-01-01") + days.astype("timedelta64[D]")).astype(str).astype(object)
    return {
        "given_name": given,
        "surname": surname,
        "street": street,
        "city": city,
        "postcode": postcode,
        "birth_date": birth,
    }


def generate_tables(
    n: int, *, seed: int = 0, noise: float = 1.0, unlinked: float = 0.1
) -> GeneratedTables:
    """Owners and their cars with realistic noise, and the true links.

    Parameters
    ----------
    n : int
        Number of owners (left records), from 1 to 1,000,000.
    seed : int
        The same seed gives the same tables.
    noise : float
        Scales every noise rate (typos, case, swapped tokens, missing values);
        0 gives clean copies.
    unlinked : float
        Extra cars with no listed owner, as a fraction of ``n``.

    Returns
    -------
    GeneratedTables
        ``owners``: owner_id, given_name, surname, email, street, city,
        postcode, birth_date. ``cars``: car_id, car_name and the same name,
        address and date columns, shuffled. ``links``: left_id, right_id.
    """
    if not 1 <= n <= 1_000_000:
        raise ValueError(f"n must be between 1 and 1,000,000, got {n}")
    rng = np.random.default_rng(seed)
    owners = _people(n, rng)
    extra = int(round(n * unlinked))
    strangers = _people(extra, rng)
    owner_ids = np.char.add("O", np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object)
    email = np.char.add(
        np.char.add(np.char.lower(owners["given_name"].astype(str)), "."),
        np.char.add(np.char.lower(owners["surname"].astype(str)), "@example.com"),
    ).astype(object)
    left = pd.DataFrame(
        {
            "owner_id": owner_ids,
            "given_name": owners["given_name"],
            "surname": owners["surname"],
            "email": email,
        },
        dtype=object,
    )
    for col in ("street", "city", "postcode", "birth_date"):
        left[col] = owners[col]

    rates = {
        "given_name": dict(typo=0.10, case=0.15, missing=0.02),
        "surname": dict(typo=0.12, case=0.15, missing=0.01),
        "street": dict(typo=0.10, case=0.10, missing=0.03, swap=0.05),
        "city": dict(typo=0.05, case=0.10, missing=0.03),
        "postcode": dict(typo=0.03, case=0.0, missing=0.05),
        "birth_date": dict(typo=0.03, case=0.0, missing=0.05),
    }
    total = n + extra
    order = rng.permutation(total)
    right = pd.DataFrame(
        {
            "car_id": np.char.add(
                "C", np.char.zfill(np.arange(1, total + 1).astype(str), 7)
            ).astype(object),
            "car_name": np.array(_CARS, dtype=object)[rng.integers(len(_CARS), size=total)],
        },
        dtype=object,
    )
    for col, rate in rates.items():
        values = np.concatenate([owners[col], strangers[col]])[order]
        scaled = {k: min(1.0, v * noise) for k, v in rate.items()}
        right[col] = _noisy(values, rng, **scaled)
    # The owner's given name and surname swapped between columns, a common entry slip.
    swapped = rng.random(total) < 0.01 * noise
    right.loc[swapped, ["given_name", "surname"]] = right.loc[
        swapped, ["surname", "given_name"]
    ].to_numpy()
    position = np.empty(total, dtype=np.int64)
    position[order] = np.arange(total)
    links = pd.DataFrame(
        {"left_id": owner_ids, "right_id": right["car_id"].to_numpy()[position[:n]]}
    )
    return GeneratedTables(left, right, links)
