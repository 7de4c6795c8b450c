"""`Variant`: which pair a scoring call reads and which columns it writes; `check_variants`."""

from __future__ import annotations

import pytest

from recycle import columns as C
from recycle.errors import ConfigError
from recycle.student.variants import Variant, check_variants, columns_read

INS = Variant(prefix=C.INS, instruction=C.NEW_INSTRUCTION, input=C.NEW_INPUT, output=C.NEW_OUTPUT)


def test_a_variant_writes_only_the_statistics_it_asks_for_under_its_prefix():
    assert INS.writes == ("ins_loss_y_given_x", "ins_loss_y", "ins_ifd", "ins_y_tokens",
                          "ins_score_error", "ins_score_truncated")  # fmt: skip
    both = Variant(prefix="", ifd=True, rifd=True)
    assert set(both.writes) == {C.LOSS_Y_GIVEN_X, C.LOSS_Y, C.IFD, C.Y_TOKENS, C.LOSS_X_GIVEN_Y,
                                C.LOSS_X, C.RIFD, C.X_TOKENS, C.SCORE_ERROR, C.SCORE_TRUNCATED}  # fmt: skip
    rifd = Variant(prefix=C.PAIR1, ifd=False, rifd=True)
    assert C.scored(C.PAIR1, C.IFD) not in rifd.writes and rifd.column(C.RIFD) == "pair1_rifd"


def test_a_variant_reads_its_text_columns_and_none_for_a_pair_without_input():
    assert INS.reads == (C.NEW_INSTRUCTION, C.NEW_INPUT, C.NEW_OUTPUT)
    assert Variant(prefix="r_", input=None, output=C.BETTER_OUTPUT).reads == (
        C.INSTRUCTION,
        C.BETTER_OUTPUT,
    )
    assert columns_read([Variant(prefix="o_"), INS, Variant(prefix="x_")]) == (
        C.INSTRUCTION, C.INPUT, C.OUTPUT, C.NEW_INSTRUCTION, C.NEW_INPUT, C.NEW_OUTPUT)  # fmt: skip


def test_a_variant_asking_for_nothing_or_a_gate_without_both_statistics_is_refused():
    with pytest.raises(ConfigError, match="neither ifd nor rifd"):
        Variant(prefix="x_", ifd=False, rifd=False)
    with pytest.raises(ConfigError, match="ifd_only_if_rifd_below needs ifd=True and rifd=True"):
        Variant(prefix="x_", ifd=True, rifd=False, ifd_only_if_rifd_below=C.PAIR1)


def test_check_variants_refuses_none_clashing_columns_and_a_gate_on_no_rifd_variant():
    with pytest.raises(ConfigError, match="no variant"):
        check_variants([])
    with pytest.raises(ConfigError, match="both write 'ins_loss_y_given_x'"):
        check_variants([INS, Variant(prefix=C.INS)])
    gated = Variant(prefix=C.RES, rifd=True, ifd_only_if_rifd_below=C.PAIR1)
    with pytest.raises(ConfigError, match="gates its IFD on 'pair1_'"):
        check_variants([Variant(prefix=C.PAIR1), gated])  # pair1_ computes no r-IFD
    with pytest.raises(ConfigError, match="gates its IFD on 'res_'"):
        check_variants([Variant(prefix=C.RES, rifd=True, ifd_only_if_rifd_below=C.RES)])
    pair1 = Variant(prefix=C.PAIR1, ifd=False, rifd=True)
    assert check_variants([pair1, gated]) == (pair1, gated)
