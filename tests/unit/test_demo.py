"""Demo data: the tutorial's tables and the seeded generator with true links."""

from __future__ import annotations

import pandas as pd
import pytest

from matching.engine.demo import GENERATED_FIELDS, generate_tables, tutorial_cars, tutorial_owners


def test_tutorial_tables_have_the_tutorial_columns_and_rows():
    owners, cars = tutorial_owners(), tutorial_cars()
    assert list(owners.columns) == ["OwnerID", "OwnerName", "OwnerSurname", "OwnerEmail"]
    assert owners["OwnerName"].tolist() == ["Alice", "Bob", "Charlie", "David", "Eve"]
    assert list(cars.columns) == ["CarID", "CarName", "OwnerName", "OwnerSurname"]
    assert cars["CarID"].tolist() == ["101", "102", "103", "104", "105"]


def test_generator_is_seeded_and_links_each_owner_once():
    a, b = generate_tables(200, seed=3), generate_tables(200, seed=3)
    pd.testing.assert_frame_equal(a.owners, b.owners)
    pd.testing.assert_frame_equal(a.cars, b.cars)
    assert not generate_tables(200, seed=4).cars.equals(a.cars)
    assert len(a.owners) == 200 and len(a.cars) == 220
    assert set(GENERATED_FIELDS) <= set(a.owners.columns) & set(a.cars.columns)
    assert a.links["left_id"].is_unique and a.links["right_id"].is_unique
    assert set(a.links["left_id"]) == set(a.owners["owner_id"])
    assert set(a.links["right_id"]) <= set(a.cars["car_id"])


def test_generated_links_point_at_noisy_copies_of_the_owner():
    tables = generate_tables(500, seed=1)
    cars = tables.cars.set_index("car_id")
    owners = tables.owners.set_index("owner_id")
    linked = cars.loc[tables.links["right_id"], ["postcode", "birth_date"]].to_numpy()
    truth = owners.loc[tables.links["left_id"], ["postcode", "birth_date"]].to_numpy()
    same = (linked == truth).mean()
    assert 0.85 < same < 1.0
    assert cars["surname"].isna().any()


def test_zero_noise_gives_clean_copies():
    tables = generate_tables(50, seed=2, noise=0.0, unlinked=0.0)
    cars = tables.cars.set_index("car_id").loc[tables.links["right_id"], list(GENERATED_FIELDS)]
    owners = tables.owners.set_index("owner_id").loc[
        tables.links["left_id"], list(GENERATED_FIELDS)
    ]
    assert (cars.to_numpy() == owners.to_numpy()).all()


@pytest.mark.parametrize("n", [0, 1_000_001])
def test_generator_refuses_sizes_out_of_range(n):
    with pytest.raises(ValueError, match="n must be between"):
        generate_tables(n)


@pytest.mark.parametrize("n", [1, 3])
def test_tiny_tables_with_no_unlinked_cars_are_generated(n):
    tables = generate_tables(n, seed=0)
    assert len(tables.owners) == n == len(tables.links)
    assert tables.owners["postcode"].str.fullmatch(r"\d{5}").all()
