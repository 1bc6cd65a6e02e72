"""Active ISO 4217 alphabetic currency codes (List One, published 2025-05-12), for purchases.

Includes fund codes (e.g. `BOV`, `USN`) and the `X` codes of List One (precious metals, `XDR`,
`XTS`, `XXX`, ...); excludes withdrawn codes such as `ANG`, `HRK`, `SLL`, `ZWL` and `CUC`.
Update this set when the ISO 4217 maintenance agency publishes an amendment.
"""

from __future__ import annotations

__all__ = ["ISO_4217_CODES", "normalize_currency"]

_CODE_TABLE = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN
    BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK
    DJF DKK DOP DZD
    EGP ERN ETB EUR
    FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF
    IDR ILS INR IQD IRR ISK
    JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
    NAD NGN NIO NOK NPR NZD
    OMR
    PAB PEN PGK PHP PKR PLN PYG
    QAR
    RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV
    WST
    XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX
    YER
    ZAR ZMW ZWG
"""

ISO_4217_CODES: frozenset[str] = frozenset(_CODE_TABLE.split())


def normalize_currency(value: str) -> str | None:
    """Return the upper-case ISO 4217 code for `value` in any letter case, or None if unknown."""
    if len(value) != 3 or not value.isascii():  # non-ASCII letters may upper-case to ASCII
        return None
    code = value.upper()
    return code if code in ISO_4217_CODES else None
