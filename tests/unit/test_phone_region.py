"""The start's warning about an unset PHONE_REGION, judged from a sample of stored numbers."""
from __future__ import annotations

from queries.phone_region import phone_region_warning


def test_numbers_all_from_one_country_name_it():
    warning = phone_region_warning(["+493085891234", "+49 89 6663634", "004915112345678"])
    assert warning and "all from DE" in warning and "PHONE_REGION=DE" in warning


def test_numbers_written_the_national_way_ask_for_their_country():
    warning = phone_region_warning(["+493085891234", "030 8589 1234", "0151 12345678"])
    assert warning and "2 of the stored numbers sampled are written the national way" in warning


def test_numbers_of_several_countries_or_none_need_no_region():
    assert phone_region_warning(["+493085891234", "+43 1 5880", "+12025550123"]) is None
    assert phone_region_warning([]) is None
    assert phone_region_warning(["+999 unknown"]) is None
